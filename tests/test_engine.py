"""Tests for backtestkit._engine: the stats without frames equal the full stats Series, to the bit."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit._objective import NUMERIC_KEYS, metric_values
from backtestkit.lib import FractionalBacktest


class Random(Strategy):
    """Seeded random market, limit and bracket orders, partial closes and reversals."""

    seed = 0

    def init(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def next(self) -> None:
        rng, price = self.rng, self.data.Close[-1]
        action = rng.integers(0, 8)
        size = float(rng.choice([0.2, 0.5, 0.9])) if rng.random() < 0.7 else float(rng.integers(1, 5))
        if action == 0:
            self.buy(size=size)
        elif action == 1:
            self.sell(size=size)
        elif action == 2:
            self.buy(size=size, sl=price * 0.95, tp=price * 1.07)
        elif action == 3:
            self.sell(size=size, limit=price * 1.01)
        elif action == 4 and self.trades:
            self.trades[0].close(portion=0.5)
        elif action == 5:
            self.position.close()


def bars(n: int, index: pd.Index, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.append(100.0, close[:-1]) * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close,
                         "Volume": rng.integers(100, 1000, n).astype(float)}, index=index)


INDEXES = {
    "daily": lambda n: pd.date_range("2021-01-01", periods=n, freq="B"),
    "minutes": lambda n: pd.date_range("2021-01-01 09:30", periods=n, freq="min", tz="America/New_York"),
    "weekly": lambda n: pd.date_range("2015-01-04", periods=n, freq="W"),
    "monthly, seconds": lambda n: pd.DatetimeIndex(pd.date_range("2000-01-31", periods=n, freq="ME"),
                                                   dtype="datetime64[s]"),
    "every day": lambda n: pd.date_range("2021-01-01", periods=n, freq="D"),
    "numbers": lambda n: pd.RangeIndex(n),
    "floats": lambda n: pd.Index(np.arange(n) * 0.5 + 3),
}


def same(a: Any, b: Any) -> bool:
    """Equal to the bit: same type and value, NaN equal to NaN (and NaT to NaT)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if a is pd.NaT:
        return b is pd.NaT
    return bool(a == b)


@pytest.mark.parametrize("kind", list(INDEXES))
@pytest.mark.parametrize("seed", range(6))
def test_stats_without_frames_equal_the_stats_series(kind: str, seed: int) -> None:
    n = int(np.random.default_rng(seed).integers(3, 150))
    data = bars(n, INDEXES[kind](n), seed)
    settings = [{}, {"commission": 0.002, "spread": 0.001}, {"margin": 0.2, "hedging": True},
                {"exclusive_orders": True, "trade_on_close": True, "finalize_trades": True}][seed % 4]
    backtest = (FractionalBacktest(data, Random, fractional_unit=0.01, **settings) if seed == 5
                else Backtest(data, Random, cash=[10_000, 500][seed % 2], **settings))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = backtest._engine.stats({"seed": seed})
        fast = backtest._engine.numbers({"seed": seed})
    assert list(fast) == [key for key in full.index if key not in ("_equity_curve", "_trades")]
    different = {key: (fast[key], full[key]) for key in fast
                 if key != "_strategy" and not same(fast[key], full[key])}
    assert not different
    assert np.array_equal(metric_values(fast), metric_values(full), equal_nan=True)
    assert metric_values(fast).shape == (len(NUMERIC_KEYS),)


class Idle(Strategy):
    """Never trades: the stats of a flat account (zero trades, equity the cash on every bar)."""

    def next(self) -> None:
        pass


@pytest.mark.parametrize("kind", list(INDEXES))
@pytest.mark.parametrize("n", [3, 10, 40])
def test_stats_without_frames_equal_the_stats_series_without_trades(kind: str, n: int) -> None:
    backtest = Backtest(bars(n, INDEXES[kind](n), n), Idle)
    full, fast = backtest._engine.stats({}), backtest._engine.numbers({})
    assert full["# Trades"] == fast["# Trades"] == 0
    assert list(fast) == [key for key in full.index if key not in ("_equity_curve", "_trades")]
    assert not {key: (fast[key], full[key]) for key in fast
                if key != "_strategy" and not same(fast[key], full[key])}


@pytest.mark.parametrize("kind", list(INDEXES))
def test_columns_of_no_trades_are_those_of_empty_lists(kind: str) -> None:
    """The shortcut for no trades gives the dtypes the column-by-column build gives an empty list."""
    from backtestkit._trades import stats_columns, trade_durations

    index = INDEXES[kind](5)
    no_bars = np.array([], dtype=int)
    no_floats = np.array([], dtype=float)
    expected = {"Size": np.array([]), "EntryBar": no_bars, "ExitBar": no_bars, "EntryPrice": no_floats,
                "ExitPrice": no_floats, "PnL": no_floats, "Commission": no_floats, "ReturnPct": no_floats,
                "Duration": trade_durations(index, no_bars, no_bars)}
    found = stats_columns([], index)
    assert list(found) == list(expected)
    assert {key: (value.dtype, value.shape) for key, value in found.items()} == {
        key: (value.dtype, value.shape) for key, value in expected.items()}
    again = stats_columns([], index)  # a fresh mapping each time (a window shifts its bars), the same
    again["EntryBar"] = again["EntryBar"] + 3  # empty arrays in it: nothing changes one in place
    assert stats_columns([], index)["EntryBar"] is found["EntryBar"] is not again["EntryBar"]


@pytest.mark.parametrize("kind", ["daily", "minutes", "numbers"])
@pytest.mark.parametrize("seed", range(3))
def test_a_subset_of_keys_is_computed_alone_and_to_the_same_bit(kind: str, seed: int) -> None:
    n = int(np.random.default_rng(seed).integers(3, 150))
    backtest = Backtest(bars(n, INDEXES[kind](n), seed), Random, commission=0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        full = backtest._engine.numbers({"seed": seed})
        for key in [k for k in full if k != "_strategy"]:
            alone = backtest._engine.numbers({"seed": seed}, keys=[key])
            assert same(alone[key], full[key]), key
            assert len(alone) < len(full)  # only the part the key needs
        lean = backtest._engine.numbers({"seed": seed}, keys=["Equity Final [$]"])
    assert "# Trades" in lean and "Sharpe Ratio" not in lean and "Max. Drawdown [%]" not in lean
    assert list(lean) == [key for key in full if key in lean]  # in the stats' order


def test_the_strategy_source_is_read_once_per_class(monkeypatch):
    import inspect

    class Twice(Random):
        def next(self) -> None:
            super().next()
            super().next()

    read = []
    getsource = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(obj) or getsource(obj))
    data = bars(20, INDEXES["daily"](20), 0)
    first = Backtest(data, Twice)._engine.strategy_hash()
    assert read == [Twice, Random]  # the class and its bases up to Strategy
    assert Backtest(data.iloc[:10], Twice)._engine.strategy_hash() == first and len(read) == 2
    assert Backtest(data, Random)._engine.strategy_hash() not in (first, None)


def test_a_strategy_edited_in_place_is_hashed_again(monkeypatch):
    """IPython's autoreload swaps a method's code in the class it had: the source is read again."""
    import gc
    import inspect
    import weakref

    from backtestkit import _engine

    def make():
        class Edited(Random):
            def next(self) -> None:
                Random.next(self)

        return Edited

    edited, edits = make(), []
    getsource = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: getsource(obj) + "#" * len(edits))
    data = bars(20, INDEXES["daily"](20), 0)
    before = Backtest(data, edited)._engine.strategy_hash()
    assert Backtest(data, edited)._engine.strategy_hash() == before  # nothing changed: kept
    edits.append(1)
    edited.next.__code__ = (lambda self: None).__code__  # as autoreload patches a method
    assert Backtest(data, edited)._engine.strategy_hash() != before
    alive = weakref.ref(edited)
    del edited
    gc.collect()
    assert alive() is None  # the hashes kept hold nothing that keeps a class alive
    assert all(cls is not None for cls in _engine._SOURCE_HASHES.keys())


def test_derived_trade_columns_are_worked_out_when_read_from_the_bars_given() -> None:
    from backtestkit._trades import trade_columns, trade_durations

    index = INDEXES["minutes"](50)
    sizes, entry_bars, exit_bars = np.array([3, -2]), np.array([4, 10]), np.array([9, 30])
    entry, exit_, fee = np.array([100.0, 101.0]), np.array([102.0, 99.5]), np.array([0.6, 0.4])
    columns = trade_columns(sizes, entry_bars, exit_bars, entry, exit_, fee, index)
    assert list(columns) == ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "Commission",
                             "ReturnPct", "Duration"] and "PnL" in columns and len(columns) == 9
    assert "PnL" not in columns._columns and "Duration" not in columns._columns  # not computed yet
    columns["EntryBar"] = columns["EntryBar"] - 4  # as a window counts them from its first bar
    assert np.array_equal(columns["Duration"], trade_durations(index, entry_bars, exit_bars))
    assert columns["PnL"].tolist() == [3 * (102.0 - 100.0) - 0.6, -2 * (99.5 - 101.0) - 0.4]
    assert columns["ReturnPct"].tolist() == [102.0 / 100.0 - 1 - 0.6 / 300.0,
                                             -(99.5 / 101.0 - 1) - 0.4 / 202.0]
    with pytest.raises(KeyError):
        columns["Tag"]
    assert columns.get("Tag") is None and dict(columns)["Duration"] is columns["Duration"]
