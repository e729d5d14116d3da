"""Backtest: argument validation, the warm-up, repeatable runs, leaving the user's objects alone, and
errors raised by the user's strategy."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily

DATA = load_daily().iloc[:300]


def SMA(values: np.ndarray, n: int) -> pd.Series:  # noqa: N802 - the name shows in indicator names
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.fast = self.I(SMA, self.data.Close, self.n1)
        self.slow = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if self.fast[-2] < self.slow[-2] and self.fast[-1] > self.slow[-1]:
            self.position.close()
            self.buy(size=0.5)
        elif self.fast[-2] > self.slow[-2] and self.fast[-1] < self.slow[-1]:
            self.position.close()
            self.sell(size=0.5)


def assert_same_results(a: pd.Series, b: pd.Series) -> None:
    public = [k for k in a.index if not k.startswith("_")]
    pd.testing.assert_series_equal(a[public], b[public])
    pd.testing.assert_frame_equal(a["_trades"], b["_trades"])
    pd.testing.assert_frame_equal(a["_equity_curve"], b["_equity_curve"])
    assert str(a["_strategy"]) == str(b["_strategy"])


# --- validation ----------------------------------------------------------------------------------

COMMISSION = ("The 'commission' parameter of Backtest must be a relative fee in (-0.1, 0.1), a (fixed, "
              "relative) tuple or a callable (size, price) -> fee. Got {} instead.")
FLAG = "The '{}' parameter of Backtest must be True or False. Got {} instead."
STRATEGY = ("The 'strategy' parameter of Backtest must be a Strategy subclass (the class, not an instance). "
            "Got {} instead.")
CASH = "The 'cash' parameter of Backtest must be a number > 0. Got {} instead."
MARGIN = "The 'margin' parameter of Backtest must be a number in (0, 1]. Got {} instead."
SPREAD = "The 'spread' parameter of Backtest must be a number in [0, 0.1). Got {} instead."


@pytest.mark.parametrize(
    "kwargs, exception, message",
    [
        ({"cash": 0}, ValueError, CASH.format(0)),
        ({"cash": -100}, ValueError, CASH.format(-100)),
        ({"cash": np.nan}, ValueError, CASH.format("nan")),
        ({"cash": np.inf}, ValueError, CASH.format("inf")),
        ({"cash": "100"}, TypeError, CASH.format("'100'")),
        ({"cash": True}, TypeError, CASH.format(True)),
        ({"margin": 0}, ValueError, MARGIN.format(0)),
        ({"margin": 1.5}, ValueError, MARGIN.format(1.5)),
        ({"spread": -0.01}, ValueError, SPREAD.format(-0.01)),
        ({"spread": 0.2}, ValueError, SPREAD.format(0.2)),
        ({"commission": 0.1}, ValueError, COMMISSION.format("0.1")),
        ({"commission": -0.2}, ValueError, COMMISSION.format("-0.2")),
        ({"commission": "0.01"}, TypeError, COMMISSION.format("'0.01'")),
        ({"commission": [1, 0.01]}, TypeError, COMMISSION.format("[1, 0.01]")),
        ({"commission": (1, 0.01, 2)}, ValueError, COMMISSION.format("(1, 0.01, 2)")),
        ({"commission": (1, 0.5)}, ValueError, COMMISSION.format("0.5")),
        ({"commission": (-1, 0.01)}, ValueError,
         "The 'commission' parameter of Backtest must be a (fixed >= 0, relative) tuple. Got -1 instead."),
        ({"trade_on_close": 1}, TypeError, FLAG.format("trade_on_close", 1)),
        ({"hedging": "yes"}, TypeError, FLAG.format("hedging", "'yes'")),
        ({"exclusive_orders": None}, TypeError, FLAG.format("exclusive_orders", None)),
        ({"finalize_trades": 0}, TypeError, FLAG.format("finalize_trades", 0)),
        ({"strategy": "SmaCross"}, TypeError, STRATEGY.format("'SmaCross'")),
        ({"strategy": int}, TypeError, STRATEGY.format("<class 'int'>")),
        ({"data": DATA["Close"]}, TypeError,
         "The 'data' parameter of Backtest must be a pandas DataFrame with columns 'Open', 'High', 'Low', "
         "'Close' and optionally 'Volume'. Got Series instead."),
        ({"data": DATA.iloc[:5].assign(Close=[1.0, np.nan, 1.0, np.nan, 1.0])}, ValueError,
         "The 'data' parameter of Backtest must be OHLC data without NaN in 'Open', 'High', 'Low', 'Close'. "
         "Got NaN in 'Close' at rows 2015-01-05, 2015-01-07 instead. Drop them with df.dropna() or fill "
         "them with df.ffill()."),
    ],
)
def test_backtest_errors(kwargs, exception, message):
    arguments = {"data": DATA, "strategy": SmaCross, **kwargs}
    with pytest.raises(exception) as raised:
        Backtest(arguments.pop("data"), arguments.pop("strategy"), **arguments)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_1": 5}, "Unknown parameter 'n_1' for SmaCross. Known: 'n1', 'n2'. Did you mean 'n1'?"),
        ({"cash": 5}, "Unknown parameter 'cash' for SmaCross. Known: 'n1', 'n2'."),
        ({"n1": 5, "next": 1}, "Unknown parameter 'next' for SmaCross. Known: 'n1', 'n2'."),
    ],
)
def test_unknown_run_parameter(params, message):
    with pytest.raises(ValueError) as raised:
        Backtest(DATA, SmaCross).run(**params)
    assert str(raised.value) == message


@pytest.mark.parametrize("commission", [0.0, -0.05, 0.099, (0, 0), (2.5, -0.01), lambda size, price: 1.0])
def test_valid_commissions_are_accepted(commission):
    Backtest(DATA, SmaCross, commission=commission)


# --- the warm-up ---------------------------------------------------------------------------------


def _first_bar(declare) -> int:
    bars = []

    class Warmup(Strategy):
        def init(self):
            for name, indicator in declare(self).items():
                setattr(self, name, indicator)

        def next(self):
            bars.append(len(self.data) - 1)

    Backtest(DATA.iloc[:30], Warmup).run()
    return bars[0]


def _nan_until(bar: int, rows: int = 1) -> np.ndarray:
    values = np.ones((rows, 30))
    values[:, :bar] = np.nan
    return values[0] if rows == 1 else values


@pytest.mark.parametrize(
    "declare, first",
    [
        (lambda s: {}, 1),  # no indicators: bar 0 only seeds the first order's fill
        (lambda s: {"a": s.I(lambda: np.ones(30))}, 1),
        (lambda s: {"a": s.I(lambda: _nan_until(5))}, 6),  # the first value on bar 5: next() from bar 6
        (lambda s: {"a": s.I(lambda: _nan_until(5)), "b": s.I(lambda: _nan_until(8))}, 9),  # the later one
        (lambda s: {"a": s.I(lambda: np.vstack([_nan_until(3), _nan_until(7)]))}, 8),  # the slower line
        (lambda s: {"a": s.I(SMA, s.data.Close, 10)}, 10),  # SMA(10) first on bar 9
        (lambda s: {"_a": s.I(lambda: _nan_until(5))}, 6),  # private attributes count too
        (lambda s: {"a": s.I(lambda: np.full(30, np.nan))}, 1),  # all NaN: ready at once (as backtesting.py)
        # as in backtesting.py, only indicators kept as attributes count
        (lambda s: {"a": [s.I(lambda: _nan_until(5))]}, 1),
        (lambda s: {"a": s.I(lambda: _nan_until(5)).copy().view(np.ndarray)}, 1),  # a plain array
        (lambda s: (s.I(lambda: _nan_until(5)), {})[1], 1),  # not kept at all
    ],
    ids=["none", "no-nan", "nan-until-5", "two-indicators", "2-d", "sma-10", "private", "all-nan",
         "in-a-list", "plain-array", "not-kept"],
)
def test_next_starts_after_every_indicator_has_a_value(declare, first):
    assert _first_bar(declare) == first


def test_scatter_indicators_do_not_delay_the_start():
    assert _first_bar(lambda s: {"marks": s.I(lambda: _nan_until(5), scatter=True)}) == 1


# --- runs are repeatable and independent ---------------------------------------------------------


def test_running_twice_gives_identical_results():
    backtest = Backtest(DATA, SmaCross, commission=0.002, finalize_trades=True)
    first = backtest.run()
    assert first["# Trades"] > 5  # the case really trades
    assert_same_results(first, backtest.run())


def test_results_do_not_depend_on_a_previous_run():
    backtest = Backtest(DATA, SmaCross, finalize_trades=True)
    backtest.run(n1=5, n2=12)
    after = backtest.run(n1=8, n2=30)
    fresh = Backtest(DATA, SmaCross, finalize_trades=True).run(n1=8, n2=30)
    assert_same_results(after, fresh)
    assert str(after["_strategy"]) == "SmaCross(n1=8,n2=30)"


def test_the_users_data_and_parameters_are_left_alone():
    data = DATA.iloc[:100].astype({"Volume": "int64"})[::-1]  # integer volumes, newest first
    data["Extra"] = np.arange(100)
    before = data.copy(deep=True)
    params = {"n1": 4, "n2": 9}
    with pytest.warns(UserWarning, match=r"is not in ascending order; using a sorted copy"):
        backtest = Backtest(data, SmaCross, finalize_trades=True)
    stats = backtest.run(**params)
    assert stats["# Trades"] > 0
    pd.testing.assert_frame_equal(data, before)  # same values, order, dtypes and index
    assert params == {"n1": 4, "n2": 9}
    assert (SmaCross.n1, SmaCross.n2) == (10, 20)


def test_results_hold_the_users_strategy_class_and_full_indicators():
    stats = Backtest(DATA, SmaCross, finalize_trades=True).run()
    strategy = stats["_strategy"]
    assert type(strategy) is SmaCross
    np.testing.assert_array_equal(strategy.fast, SMA(DATA["Close"].to_numpy(), 10))


@pytest.mark.parametrize("commission", [0.0, (1.0, 0.001)])
def test_results_can_be_pickled(commission):
    stats = Backtest(DATA, SmaCross, commission=commission, finalize_trades=True).run()
    restored = pickle.loads(pickle.dumps(stats))
    assert_same_results(stats, restored)


# --- errors in the user's code -------------------------------------------------------------------


class Boom(Exception):
    pass


def test_error_in_next_propagates_with_the_bar_in_a_note():
    class Failing(Strategy):
        def next(self):
            if len(self.data) == 8:
                raise Boom("my bug")

    with pytest.raises(Boom) as raised:
        Backtest(DATA, Failing).run()
    assert raised.value.args == ("my bug",)  # the same exception, unchanged
    if sys.version_info >= (3, 11):
        assert raised.value.__notes__ == [f"(raised on bar 7, {DATA.index[7]})"]


def test_error_in_init_propagates_unchanged():
    class Failing(Strategy):
        def init(self):
            raise KeyError("missing column")

    with pytest.raises(KeyError) as raised:
        Backtest(DATA, Failing).run()
    assert raised.value.args == ("missing column",)


def test_backtest_can_run_again_after_an_error():
    calls = []

    class Flaky(Strategy):
        def next(self):
            calls.append(len(self.data))
            if len(calls) == 3:
                raise Boom("once")

    backtest = Backtest(DATA.iloc[:20], Flaky)
    with pytest.raises(Boom):
        backtest.run()
    assert backtest.run()["# Trades"] == 0
    assert calls[3:] == list(range(2, 21))  # the second run saw every bar from 1 again


def test_repr():
    assert repr(Backtest(DATA, SmaCross)) == "<Backtest SmaCross on 300 bars>"


def test_engine_warnings_point_at_the_users_line():
    class Greedy(Strategy):
        def next(self):
            if len(self.data) == 3:
                self.buy(size=10**9)  # more than the cash allows: cancelled with a warning
            if len(self.data) == 4:
                self.buy()  # left open at the end: a warning too

    data = pd.DataFrame({"Open": [10.0] * 6, "High": [11.0] * 6, "Low": [9.0] * 6, "Close": [10.0] * 6})
    with pytest.warns(UserWarning) as caught:
        Backtest(data, Greedy).run()
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name] * 2
