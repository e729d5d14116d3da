"""Tests for backtestkit._stats: the stats Series.

backtesting.py is the oracle, run as a black box: its ``_trades`` and equity go into our
``compute_stats`` and every key must come out as its stats say. Then hand-worked tiny cases with the
arithmetic in comments, property tests, the documented difference for a non-datetime index, the error
messages, and a check that ``doc/stats.md`` documents every key. The metric functions themselves are
tested in ``test_metrics.py``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import compute_stats as oracle_compute_stats
from backtesting.lib import crossover
from backtesting.test import BTCUSD, EURUSD, GOOG, SMA
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit._stats import STATS_KEYS, compute_stats, recompute_stats
from tests._oracle import record, same_value

ADDED_KEYS = ["Omega Ratio", "Ulcer Index"]
ANNUALISED = ["Return (Ann.) [%]", "Volatility (Ann.) [%]", "CAGR [%]", "Sharpe Ratio", "Sortino Ratio",
              "Calmar Ratio"]  # fmt: skip
DOC = Path(__file__).resolve().parents[1] / "doc" / "stats.md"


# --- oracle runs -------------------------------------------------------------------------------------


class SmaCross(Strategy):
    n1, n2 = 10, 20

    def init(self) -> None:
        self.fast = self.I(SMA, self.data.Close, self.n1)
        self.slow = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


class LongsWithStops(SmaCross):
    def next(self) -> None:
        price = self.data.Close[-1]
        if crossover(self.fast, self.slow):
            self.buy(sl=price * 0.92, tp=price * 1.15, tag="long")
        elif crossover(self.slow, self.fast):
            self.position.close()


class HalfShorts(SmaCross):
    def next(self) -> None:
        if crossover(self.slow, self.fast):
            self.sell(size=0.5)
        elif crossover(self.fast, self.slow):
            self.position.close()


class Idle(Strategy):
    def init(self) -> None:
        pass

    def next(self) -> None:
        pass


class BuyAndHold(Idle):
    def next(self) -> None:
        if not self.position:
            self.buy()


class AllInOnBar5(Idle):
    def next(self) -> None:
        if len(self.data) == 5:
            self.buy()


def _weekly(data: pd.DataFrame) -> pd.DataFrame:
    rules = {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    return data.resample("W-FRI").agg(rules).dropna()


def _crash() -> pd.DataFrame:
    data = GOOG.iloc[:40].copy()
    data.iloc[10:, :4] *= 0.01  # prices fall 99% on bar 10
    return data


def _every_day() -> pd.DataFrame:
    return GOOG.iloc[:700].set_axis(pd.date_range("2020-01-01", periods=700, freq="D"))


def _new_york_hours() -> pd.DataFrame:
    return EURUSD.iloc[:1500].tz_localize("UTC").tz_convert("America/New_York")


MARGIN = {"cash": 1e5, "margin": 0.02, "commission": 2e-4}
# name: (data, strategy, Backtest kwargs, run kwargs)
RUNS: dict[str, tuple[Any, type, dict, dict]] = {
    "GOOG SmaCross, commission, last trade left open": (GOOG, SmaCross, {"commission": 0.002}, {}),
    "GOOG SmaCross, all trades closed": (GOOG, SmaCross, {"commission": 0.002, "finalize_trades": True}, {}),
    "GOOG longs with SL/TP and tags": (GOOG, LongsWithStops, {"commission": (1, 0.001)}, {}),
    "GOOG shorts with a spread": (GOOG, HalfShorts, {"spread": 0.001}, {}),
    "GOOG no trades": (GOOG, Idle, {}, {}),
    "GOOG buy & hold left open": (GOOG, BuyAndHold, {}, {}),
    "EURUSD hourly on margin, wiped out": (EURUSD, SmaCross, MARGIN, {}),
    "EURUSD in New York time": (_new_york_hours(), SmaCross, {"cash": 1e5}, {}),
    "BTCUSD monthly": (BTCUSD, SmaCross, {"cash": 1e6, "commission": 0.001}, {"n1": 2, "n2": 4}),
    "BTCUSD monthly shorts": (BTCUSD, HalfShorts, {"cash": 1e6}, {"n1": 2, "n2": 4}),
    "GOOG weekly": (_weekly(GOOG), SmaCross, {}, {"n1": 3, "n2": 8}),
    "GOOG prices on a 7-day calendar": (_every_day(), SmaCross, {}, {}),
    "equity down to 0": (_crash(), AllInOnBar5, {"margin": 0.1, "finalize_trades": True}, {}),
}  # fmt: skip


@pytest.fixture(scope="module")
def oracle_runs() -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """Every run of RUNS through backtesting.py: its data and stats (warnings swallowed)."""
    runs = {}
    for name, (data, strategy, options, params) in RUNS.items():
        stats, _ = record(lambda: Backtest(data, strategy, **options).run(**params))  # noqa: B023
        runs[name] = (data, stats)
    return runs


def ours_from(stats: pd.Series, data: pd.DataFrame) -> pd.Series:
    """Our compute_stats on the oracle's own trades, equity and strategy."""
    equity = stats["_equity_curve"]["Equity"].to_numpy()
    return compute_stats(stats["_trades"], equity, data, stats["_strategy"])


def assert_same_stats(actual: pd.Series, expected: pd.Series) -> None:
    """The oracle's keys in its order then ours, every value equal (rel 1e-9), identical frames."""
    public = [key for key in expected.index if not key.startswith("_")]
    assert list(actual.index) == [*public, *ADDED_KEYS, "_strategy", "_equity_curve", "_trades"]
    differing = [
        f"{key}: ours {actual[key]!r}, oracle {expected[key]!r}"
        for key in public
        if not same_value(actual[key], expected[key])
    ]
    assert not differing, "\n".join(differing)
    assert actual["_strategy"] is expected["_strategy"]
    assert actual["_trades"] is expected["_trades"]
    pd.testing.assert_frame_equal(actual["_equity_curve"], expected["_equity_curve"], rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", RUNS)
def test_stats_equal_the_oracles(name: str, oracle_runs: dict) -> None:
    data, expected = oracle_runs[name]
    assert_same_stats(ours_from(expected, data), expected)


def test_the_runs_exercise_what_they_claim(oracle_runs: dict) -> None:
    """Guards against vacuous differential cases (a 'wiped out' run that was not, ...)."""
    stats = {name: stats for name, (_, stats) in oracle_runs.items()}
    assert stats["GOOG SmaCross, commission, last trade left open"]["# Trades"] == 93  # one more is open
    assert stats["GOOG SmaCross, all trades closed"]["# Trades"] == 94
    assert "Commissions [$]" not in stats["GOOG shorts with a spread"]
    assert (stats["GOOG shorts with a spread"]["_trades"]["Size"] < 0).all()
    assert stats["GOOG no trades"]["# Trades"] == 0
    assert stats["GOOG buy & hold left open"]["Exposure Time [%]"] == 0  # the open trade does not count
    assert stats["EURUSD hourly on margin, wiped out"]["Return [%]"] < -99.99
    assert stats["equity down to 0"]["Equity Final [$]"] == 0
    # the calendars: weekly bars compound per week, all-days bars 365 days a year
    assert RUNS["GOOG weekly"][0].index.to_series().diff().median() == pd.Timedelta("7D")
    assert (RUNS["GOOG prices on a 7-day calendar"][0].index.day_of_week >= 5).mean() > 0.6 * 2 / 7
    assert stats["GOOG SmaCross, commission, last trade left open"]["Buy & Hold Return [%]"] == pytest.approx(
        100 * (GOOG.Close.iloc[-1] / GOOG.Close.iloc[19] - 1)  # from bar 19, when SMA(20) has a value
    )


@pytest.mark.parametrize(
    "name", ["GOOG longs with SL/TP and tags", "EURUSD in New York time", "BTCUSD monthly"]
)
@pytest.mark.parametrize(
    "pick", [None, lambda t: t[t.Size > 0], lambda t: t.iloc[1::3], lambda t: t.iloc[:0]],
    ids=["all", "longs", "every third", "none"],
)  # fmt: skip
def test_recompute_stats_equals_oracle_lib_compute_stats(name: str, pick: Any, oracle_runs: dict) -> None:
    data, stats = oracle_runs[name]
    trades = None if pick is None else pick(stats["_trades"])
    expected, _ = record(
        lambda: oracle_compute_stats(stats=stats, data=data, trades=trades, risk_free_rate=0.02)
    )
    actual = recompute_stats(stats=stats, data=data, trades=trades, risk_free_rate=0.02)
    assert "Commissions [$]" not in actual  # as in backtesting.py, even though these trades paid some
    public = [key for key in expected.index if not key.startswith("_")]
    assert list(actual.index) == [*public, *ADDED_KEYS, "_strategy", "_equity_curve", "_trades"]
    assert all(same_value(actual[key], expected[key]) for key in public), (actual, expected)
    pd.testing.assert_frame_equal(actual["_equity_curve"], expected["_equity_curve"], rtol=1e-9, atol=0)


# --- arbitrary equity curves through the oracle's lib.compute_stats ----------------------------------


@pytest.fixture(scope="module")
def idle_stats() -> pd.Series:
    """An oracle result whose strategy has no indicators, to hang made-up curves and trades on."""
    return record(lambda: Backtest(GOOG.iloc[:10], Idle).run())[0]


def oracle_and_ours(
    idle: pd.Series, equity: Any, index: pd.Index, close: Any = None
) -> tuple[pd.Series, ...]:
    """Both libraries' stats of one equity curve (no trades) on bars with ``close`` prices."""
    close = np.linspace(100.0, 120.0, len(index)) if close is None else np.asarray(close, dtype=float)
    data = pd.DataFrame({"Open": close, "High": close, "Low": close, "Close": close}, index=index)
    stats = idle.copy()
    stats["_equity_curve"] = pd.DataFrame({"Equity": np.asarray(equity, dtype=float)}, index=index)
    stats["_trades"] = idle["_trades"].iloc[:0]
    expected, _ = record(lambda: oracle_compute_stats(stats=stats, data=data))
    return expected, recompute_stats(stats=stats, data=data)


CURVES = {
    "a dip on the last bar only": ([100, 101, 102, 103, 102.5], None),
    "only rising": ([100, 101, 102, 103, 104], None),
    "two bars": ([100, 90], None),
    "one bar": ([100], None),
    "goes negative": ([100, 50, -20, 10, 30], None),
    "a flat market": ([100, 101, 99, 103, 104], [5.0] * 5),
}


@pytest.mark.parametrize("name", CURVES)
def test_odd_equity_curves_match_the_oracle(name: str, idle_stats: pd.Series) -> None:
    equity, close = CURVES[name]
    index = pd.date_range("2024-01-01", periods=len(equity), freq="B")
    expected, actual = oracle_and_ours(idle_stats, equity, index, close)
    assert_same_public(actual, expected)


def test_a_dip_on_the_last_bar_keeps_the_oracles_quirk(idle_stats: pd.Series) -> None:
    # no episode (no bar back at a peak after the dip): depth *and* "duration" are the fraction itself
    index = pd.date_range("2024-01-01", periods=3, freq="B")
    _, stats = oracle_and_ours(idle_stats, [100.0, 110.0, 99.0], index)
    assert stats["Max. Drawdown Duration"] == pytest.approx(0.1)  # 1 - 99 / 110
    assert stats["Avg. Drawdown [%]"] == pytest.approx(-10.0)


@settings(max_examples=25, deadline=None)
@given(
    returns=st.lists(
        st.sampled_from([0.0, 0.0, 0.01, -0.02, 0.05, -0.3, 0.5, -1.0]), min_size=1, max_size=40
    ),
    freq=st.sampled_from(["D", "B", "h", "7D"]),
)
def test_random_equity_curves_match_the_oracle(
    returns: list[float], freq: str, idle_stats: pd.Series
) -> None:
    equity = 1000 * np.cumprod(1 + np.array([0.0, *returns]))
    index = pd.date_range("2023-12-29 15:00", periods=len(equity), freq=freq)
    expected, actual = oracle_and_ours(idle_stats, equity, index)
    assert_same_public(actual, expected)


def assert_same_public(actual: pd.Series, expected: pd.Series) -> None:
    public = [key for key in expected.index if not key.startswith("_")]
    differing = [key for key in public if not same_value(actual[key], expected[key])]
    assert not differing, [(key, actual[key], expected[key]) for key in differing]
    pd.testing.assert_frame_equal(actual["_equity_curve"], expected["_equity_curve"], rtol=1e-9, atol=0)


# --- the documented difference: no DatetimeIndex, no annualised figures ------------------------------


def test_without_a_datetime_index_annualised_figures_are_nan() -> None:
    data = GOOG.reset_index(drop=True)
    expected, _ = record(lambda: Backtest(data, SmaCross, commission=0.002).run())
    actual = ours_from(expected, data)
    # backtesting.py: a 0.0 annual return (and Calmar) over 2147 bars that made +462%, no CAGR key
    assert expected["Return [%]"] == pytest.approx(462.635193, rel=1e-6)
    assert expected["Return (Ann.) [%]"] == 0.0 and expected["Calmar Ratio"] == 0.0
    assert "CAGR [%]" not in expected
    # ours: every annualised figure NaN, CAGR present; the rest as the oracle's (durations in bars)
    assert all(math.isnan(actual[key]) for key in ANNUALISED)
    assert [key for key in actual.index if key not in ("CAGR [%]", *ADDED_KEYS)] == list(expected.index)
    assert_same_public(actual, expected.drop(["Return (Ann.) [%]", "Calmar Ratio"]))
    assert actual["Duration"] == 2147 and actual["Max. Trade Duration"] == 85


# --- hand-worked tiny cases --------------------------------------------------------------------------

MON_TO_THU = pd.date_range("2024-01-01", periods=4, freq="B")  # 2024-01-01 is a Monday


def trades_frame(rows: list[tuple[int, int, float, float, float]]) -> pd.DataFrame:
    """Closed trades from (entry bar, exit bar, P&L, return, commission) on MON_TO_THU."""
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 5
    entries, exits, pnl, returns, fees = columns
    return pd.DataFrame({
        "EntryBar": pd.array(entries, dtype="int64"), "ExitBar": pd.array(exits, dtype="int64"),
        "PnL": pd.array(pnl, dtype="float64"), "Commission": pd.array(fees, dtype="float64"),
        "ReturnPct": pd.array(returns, dtype="float64"),
        "Duration": MON_TO_THU.values[exits] - MON_TO_THU.values[entries],
    })  # fmt: skip


def bars(close: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"Close": close}, index=MON_TO_THU)


def test_flat_equity_and_no_trades() -> None:
    stats = compute_stats(trades_frame([]), np.full(4, 100.0), bars([100.0, 101.0, 102.0, 104.0]), None)
    assert stats["Exposure Time [%]"] == 0 and stats["Return [%]"] == 0
    assert stats["Buy & Hold Return [%]"] == pytest.approx(4.0)  # 104 / 100 - 1
    # daily returns all 0: g = 0, (1 + 0)^252 - 1 = 0, volatility sqrt((0 + 1)^252 - 1^504) = 0
    assert stats["Return (Ann.) [%]"] == 0 and stats["Volatility (Ann.) [%]"] == 0 and stats["CAGR [%]"] == 0
    # 0 / 0 volatility, 0 / 0 downside, no drawdown: no ratio
    assert all(math.isnan(stats[key]) for key in ["Sharpe Ratio", "Sortino Ratio", "Calmar Ratio"])
    assert stats["Beta"] == 0 and stats["Alpha [%]"] == 0  # cov(0, m) = 0; 0 - 0 × 4
    assert stats["Max. Drawdown [%]"] == 0 and math.isnan(stats["Avg. Drawdown [%]"])
    assert math.isnan(stats["Max. Drawdown Duration"]) and stats["Ulcer Index"] == 0
    assert stats["# Trades"] == 0 and "Commissions [$]" not in stats
    trade_keys = ["Win Rate [%]", "Best Trade [%]", "Avg. Trade [%]", "Profit Factor", "SQN"]
    trade_keys += ["Kelly Criterion", "Omega Ratio"]
    assert all(math.isnan(stats[key]) for key in trade_keys)
    assert stats["Max. Trade Duration"] is pd.NaT


def test_one_winning_trade() -> None:
    # 10 shares bought at bar 0's close (100), sold at bar 3's (121): equity = 10 × close
    equity, close = np.array([1000.0, 1100.0, 990.0, 1210.0]), [100.0, 110.0, 99.0, 121.0]
    stats = compute_stats(trades_frame([(0, 3, 210.0, 0.21, 0.0)]), equity, bars(close), None)
    assert stats["Exposure Time [%]"] == 100  # bars 0 to 3 inclusive
    assert stats["Return [%]"] == pytest.approx(21.0) == stats["Buy & Hold Return [%]"]
    # daily growths 1.1, 0.9, 1.2222: product 1.21, g = 1.21^(1/3) - 1; weekdays only: 252 a year
    assert stats["Return (Ann.) [%]"] == pytest.approx(100 * (1.21 ** (252 / 3) - 1))
    assert stats["CAGR [%]"] == pytest.approx(100 * (1.21 ** (365.25 / 3) - 1))  # 3 calendar days
    assert stats["Beta"] == pytest.approx(1.0) and stats["Alpha [%]"] == pytest.approx(0.0, abs=1e-9)
    # one drawdown, from the peak on Tuesday (1100) to the new peak on Thursday: 1 - 990 / 1100 = 10%
    assert stats["Max. Drawdown [%]"] == pytest.approx(-10.0) == stats["Avg. Drawdown [%]"]
    assert stats["Max. Drawdown Duration"] == pd.Timedelta("2D") == stats["Avg. Drawdown Duration"]
    durations = stats["_equity_curve"]["DrawdownDuration"].dropna()
    assert durations.to_dict() == {MON_TO_THU[3]: pd.Timedelta("2D")}  # on the bar it ends
    assert stats["Calmar Ratio"] == pytest.approx((1.21 ** (252 / 3) - 1) / 0.1)
    assert stats["# Trades"] == 1 and stats["Win Rate [%]"] == 100
    assert stats["Best Trade [%]"] == stats["Worst Trade [%]"] == pytest.approx(21.0)
    assert stats["Avg. Trade [%]"] == pytest.approx(21.0) and stats["Expectancy [%]"] == pytest.approx(21.0)
    assert stats["Max. Trade Duration"] == pd.Timedelta("3D") == stats["Avg. Trade Duration"]
    # no loser, a single trade: no profit factor, SQN or Kelly
    assert all(math.isnan(stats[key]) for key in ["Profit Factor", "SQN", "Kelly Criterion"])
    assert stats["Omega Ratio"] == pytest.approx((0.1 + 0.2222222) / 0.1)
    assert stats["Ulcer Index"] == pytest.approx(5.0)  # sqrt((0 + 0 + 10² + 0) / 4)


def test_stats_print_compactly_as_in_backtesting_py() -> None:
    equity, close = np.array([1000.0, 1100.0, 990.0, 1210.0]), [100.0, 110.0, 99.0, 121.0]
    stats = compute_stats(trades_frame([(0, 3, 210.0, 0.21, 0.0)]), equity, bars(close), None)
    lines = repr(stats).splitlines()
    assert max(map(len, lines)) <= 45  # the frames cut to 20 characters
    assert any(re.fullmatch(r"Omega Ratio +3\.22222", line) for line in lines)  # 5 decimals
    assert any(re.fullmatch(r"_trades +EntryBar  Exi\.\.\.", line) for line in lines)
    assert type(stats.iloc[:3]) is pd.Series and type(stats.copy()) is pd.Series  # derived: plain


def test_all_trades_losing() -> None:
    # lose 10 on bars 0-1 (-1%), then 30 on bars 2-3 (-3%); each paid 1 in commission
    trades = trades_frame([(0, 1, -10.0, -0.01, 1.0), (2, 3, -30.0, -0.03, 1.0)])
    stats = compute_stats(trades, np.array([1000.0, 990.0, 990.0, 960.0]), bars([100.0] * 4), None)
    assert stats["Commissions [$]"] == 2 and stats["Exposure Time [%]"] == 100
    assert stats["Win Rate [%]"] == 0 and stats["Profit Factor"] == 0  # no gains over 0.04 of losses
    assert stats["Best Trade [%]"] == pytest.approx(-1.0) and stats["Worst Trade [%]"] == pytest.approx(-3.0)
    assert stats["Avg. Trade [%]"] == pytest.approx(100 * (math.sqrt(0.99 * 0.97) - 1))
    assert stats["Expectancy [%]"] == pytest.approx(-2.0)
    assert stats["SQN"] == pytest.approx(-2.0)  # sqrt(2) × -20 / std(-10, -30) = sqrt(2) × -20 / sqrt(200)
    assert math.isnan(stats["Kelly Criterion"])  # no winner
    assert math.isnan(stats["Beta"])  # a flat market has no variance
    assert stats["Avg. Drawdown Duration"] == pd.Timedelta("3D")  # never recovered: Monday to Thursday


def test_trades_open_on_the_same_bars_count_once_for_exposure() -> None:
    # two trades overlapping on bar 1, none on bar 3: 3 of 4 bars exposed
    trades = trades_frame([(0, 1, 1.0, 0.01, 0.0), (1, 2, 1.0, 0.01, 0.0)])
    stats = compute_stats(trades, np.array([100.0, 101.0, 102.0, 102.0]), bars([1.0, 2.0, 3.0, 4.0]), None)
    assert stats["Exposure Time [%]"] == 75


@settings(max_examples=50, deadline=None)
@given(
    percents=st.lists(st.integers(-50, 50), min_size=1, max_size=60, unique=True),
    scale=st.sampled_from([0.01, 3.0, 1e6]),
)
def test_stats_in_percent_do_not_depend_on_the_account_size(percents: list[int], scale: float) -> None:
    # distinct returns: with (nearly) equal ones the volatility formula cancels to rounding noise
    equity = 1000 * np.cumprod(1 + np.array([0, *percents]) / 100)
    close = np.linspace(50.0, 10.0, len(equity))
    data = pd.DataFrame({"Close": close}, index=pd.date_range("2024-01-01", periods=len(equity)))
    small = compute_stats(trades_frame([]), equity, data, None)
    large = compute_stats(trades_frame([]), equity * scale, data, None)
    dd = small["_equity_curve"]["DrawdownPct"].to_numpy()
    assert ((0 <= dd) & (dd < 1)).all() and -small["Max. Drawdown [%]"] == pytest.approx(100 * dd.max())
    assert small["Ulcer Index"] <= -small["Max. Drawdown [%]"] + 1e-9
    for key in STATS_KEYS:
        if "[%]" in key or "Ratio" in key or key in ("Beta", "Ulcer Index"):
            assert same_value(large.get(key), small.get(key)), key


# --- errors, documentation --------------------------------------------------------------------------

SOME_TRADES = trades_frame([(0, 1, 1.0, 0.01, 0.0)])
RUN_STATS, RUN_BARS = "the Series returned by Backtest.run()", "the run's 4 bars, with a 'Close' column"
TRADE_ROWS, RATE = "None or rows of stats['_trades']", "a number such as 0.02"
CALL_ERRORS = [  # (argument, bad value, exception, must be ..., got ..., hint)
    ("stats", "x", TypeError, RUN_STATS, "'x'", ""),
    ("stats", pd.Series({"_trades": 1}), ValueError, RUN_STATS, "a Series without '_equity_curve', "
                                                                 "'_strategy'", ""),
    ("data", [1, 2], TypeError, "a DataFrame of the bars the run was on", "[1, 2]", ""),
    ("data", bars([1.0] * 4).iloc[:3], ValueError, RUN_BARS, "3 rows", ""),
    ("data", bars([1.0] * 4).rename(columns=str.lower), ValueError, RUN_BARS, "4 rows without a 'Close' "
                                                                                "column", ""),
    ("trades", [1], TypeError, TRADE_ROWS, "[1]", ""),
    ("trades", SOME_TRADES.drop(columns=["PnL", "Duration"]), ValueError, TRADE_ROWS,
     "a DataFrame without 'PnL', 'Duration'", ""),
    ("trades", SOME_TRADES.assign(EntryBar=7), ValueError, TRADE_ROWS, "entry bars from 7 to 7",
     " This run has bars 0 to 3."),
    ("trades", SOME_TRADES.assign(ExitBar=9), ValueError, TRADE_ROWS, "exit bars from 9 to 9",
     " This run has bars 0 to 3, and a trade exits on or after the bar it entered on."),
    ("trades", SOME_TRADES.assign(EntryBar=2, ExitBar=1), ValueError, TRADE_ROWS, "exit bars from 1 to 1",
     " This run has bars 0 to 3, and a trade exits on or after the bar it entered on."),
    ("trades", SOME_TRADES.assign(EntryBar=0.5), ValueError, TRADE_ROWS, "bars that are not whole numbers",
     ""),
    ("trades", SOME_TRADES.assign(ExitBar=np.nan), ValueError, TRADE_ROWS, "bars that are not whole numbers",
     ""),
    ("risk_free_rate", "2%", TypeError, RATE, "'2%'", ""),
    ("risk_free_rate", True, TypeError, RATE, "True", ""),
    ("risk_free_rate", math.inf, ValueError, f"a finite {RATE[2:]}", "inf", ""),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "exception", "expected", "got", "hint"), CALL_ERRORS)
def test_recompute_stats_rejects_bad_arguments(
    name: str, value: Any, exception: type, expected: str, got: str, hint: str
) -> None:
    stats = compute_stats(SOME_TRADES, np.array([100.0, 101.0, 101.0, 101.0]), bars([1.0] * 4), None)
    arguments = {"stats": stats, "data": bars([1.0] * 4), name: value}
    with pytest.raises(exception) as raised:
        recompute_stats(**arguments)
    message = f"The {name!r} parameter of compute_stats must be {expected}. Got {got} instead.{hint}"
    assert str(raised.value) == message


def test_compute_stats_rejects_an_equity_of_another_length() -> None:
    with pytest.raises(ValueError) as raised:
        compute_stats(SOME_TRADES, np.ones(3), bars([1.0] * 4), None)
    assert str(raised.value) == (
        "The 'equity' parameter of compute_stats must be an array of one value per bar of ohlc_data (4). "
        "Got 3 values instead."
    )


def test_the_inputs_are_left_alone() -> None:
    equity, trades = np.array([100.0, 101.0, 99.0, 101.0]), SOME_TRADES.copy()
    data = bars([1.0, 2.0, 1.0, 2.0])
    stats = compute_stats(trades, equity, data, None)
    stats["_equity_curve"].loc[:, "Equity"] = 0.0
    recompute_stats(stats=stats, data=data, trades=trades)
    assert equity.tolist() == [100.0, 101.0, 99.0, 101.0]
    pd.testing.assert_frame_equal(trades, SOME_TRADES)


def test_every_key_is_documented_once() -> None:
    documented = re.findall(r"^### `(.+)`$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert documented == list(STATS_KEYS)


@pytest.mark.parametrize("count, unit", [
    (3 * 86_400, "s"), (3 * 86_400 + 1, "s"), (3 * 86_400 - 1, "s"), (0, "s"), (1, "ns"), (5, "ms"),
    (400 * 365 * 86_400, "s"),  # over 292 years: no nanosecond value
    ((400 * 365 * 24 + 1) * 3_600, "s"),  # and an hour
])
@pytest.mark.parametrize("resolution", ["D", "h", "min", "s", "ms", "us", "ns"])
def test_round_up_equals_timedelta_ceil(count: int, unit: str, resolution: str) -> None:
    from pandas.tseries.frequencies import to_offset

    from backtestkit._stats import _round_up

    offset = to_offset(resolution)
    rounded = _round_up(count, unit, pd.Timedelta(offset).value)
    value = pd.Timedelta(np.timedelta64(count, unit))
    assert pd.Timedelta(np.timedelta64(rounded, unit)) == _ceil(value, offset)


def _ceil(value: pd.Timedelta, offset: Any) -> pd.Timedelta:
    """``value.ceil(offset)``, where pandas can: pandas 2 divides by zero rounding to a resolution finer
    than the value's unit, which leaves a value as it is."""
    if (value // np.timedelta64(1, value.unit)) * pd.Timedelta(1, unit=value.unit).value \
            % pd.Timedelta(offset).value == 0:
        return value
    return value.ceil(offset)


_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@given(st.sampled_from(list(_PER_UNIT)).flatmap(lambda unit: st.tuples(  # up to 146 years: pandas 2 holds
    st.just(unit), st.lists(st.integers(0, 2**62 // _PER_UNIT[unit]), min_size=1, max_size=40))),  # it in ns
       st.sampled_from(["D", "h", "min", "s", "ms"]))
def test_durations_are_rounded_up_as_timedelta_ceil_rounds_them(drawn: tuple[str, list[int]],
                                                                 resolution: str) -> None:
    from pandas.tseries.frequencies import to_offset

    from backtestkit._stats import _longest_and_mean

    unit, counts = drawn
    durations = np.array(counts, dtype=f"m8[{unit}]")
    offset = to_offset(resolution)
    longest, average = _longest_and_mean(durations, pd.Timedelta(offset).value, pd.NaT)
    expected_mean = _ceil(pd.Timedelta(int(durations.view(np.int64).mean()), unit=unit), offset)
    expected_longest = _ceil(pd.Timedelta(durations.max()), offset)
    assert (longest, longest.unit) == (expected_longest, expected_longest.unit)
    assert (average, average.unit) == (expected_mean, expected_mean.unit)


def test_the_mean_duration_of_many_trades_is_numpys_mean():
    from backtestkit._stats import _longest_and_mean

    counts = np.random.default_rng(3).integers(0, 10**15, 20_000)  # more than numpy's 8,192-value buffer
    durations = counts.astype("m8[us]")
    _, average = _longest_and_mean(durations, None, pd.NaT)
    assert average == pd.Timedelta(int(counts.mean()), unit="us")


def test_missing_trade_durations_are_left_out_as_pandas_leaves_them_out():
    bars = pd.DataFrame({"Close": [100.0, 101.0, 102.0, 103.0, 104.0]},
                        index=pd.date_range("2024-01-01", periods=5))
    durations = pd.to_timedelta(["3D", None, "1D 12h"])
    trades = pd.DataFrame({"EntryBar": [0, 1, 2], "ExitBar": [3, 2, 3], "PnL": [1.0, -1.0, 2.0],
                           "Commission": [0.0] * 3, "ReturnPct": [0.01, -0.01, 0.02], "Duration": durations})
    stats = compute_stats(trades, np.linspace(100.0, 102.0, 5), bars, None)
    assert stats["Max. Trade Duration"] == durations.max()  # 3 days
    assert stats["Avg. Trade Duration"] == durations.mean().ceil("D")  # 2 days 6 hours, rounded up
    trades["Duration"] = pd.to_timedelta([None] * 3)
    stats = compute_stats(trades, np.linspace(100.0, 102.0, 5), bars, None)
    assert stats["Max. Trade Duration"] is pd.NaT and stats["Avg. Trade Duration"] is pd.NaT


def test_a_market_whose_log_returns_overflow_gives_a_nan_beta_without_a_warning():
    from backtestkit import Backtest, Strategy

    class Idle(Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            pass

    close = [1e-300, 1e10, 1e10, 1e10, 1e10]
    bars = pd.DataFrame({"Open": close, "High": close, "Low": close, "Close": close},
                        index=pd.date_range("2024-01-01", periods=5))
    stats = Backtest(bars, Idle).run()  # the engine's clock, made outside the stats: warnings are errors here
    assert math.isnan(stats["Beta"])


def test_no_trades_give_what_each_trade_figure_gives_without_data() -> None:
    """Without trades the stats skip the trade metrics; each one, on no data, gives the same."""
    from backtestkit import _metrics

    empty = np.empty(0)
    stats = compute_stats(trades_frame([]), np.full(4, 100.0), bars([100.0, 101.0, 102.0, 104.0]), None)
    expected = {"Win Rate [%]": _metrics.win_rate(empty) * 100,
                "Avg. Trade [%]": _metrics.geometric_mean_return(empty) * 100,
                "Profit Factor": _metrics.profit_factor(empty), "SQN": _metrics.sqn(empty),
                "Kelly Criterion": _metrics.kelly_criterion(empty)}
    assert all(math.isnan(value) for value in expected.values())
    for key, value in expected.items():
        assert type(stats[key]) is type(value) and math.isnan(stats[key])
    assert all(math.isnan(stats[key]) for key in ["Best Trade [%]", "Worst Trade [%]", "Expectancy [%]"])
    assert stats["Max. Trade Duration"] is pd.NaT and stats["Avg. Trade Duration"] is pd.NaT
    assert list(stats.index) == list(compute_stats(trades_frame([(0, 3, 1.0, 0.01, 0.0)]), np.full(4, 100.0),
                                                   bars([100.0, 101.0, 102.0, 104.0]), None).index)
