"""backtestkit.lib: signal helpers on edge cases, resample_apply and TrailingStrategy without look-ahead,
SignalStrategy, FractionalBacktest and MultiBacktest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit._data import make_array
from backtestkit.datasets import load_daily, load_hourly
from backtestkit.lib import (
    OHLCV_AGG,
    TRADES_AGG,
    FractionalBacktest,
    MultiBacktest,
    SignalStrategy,
    TrailingStrategy,
    barssince,
    cross,
    crossover,
    quantile,
    resample_apply,
)

DATA = load_daily().iloc[:80]
HOURLY = load_hourly().iloc[:60]
DAYS = pd.date_range("2024-01-01", periods=3)


def SMA(values: pd.Series, n: int) -> pd.Series:  # noqa: N802 - the name shows in indicator names
    return pd.Series(values).rolling(n).mean()


def bars(*rows: tuple[float, float, float, float]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(rows), freq="D")
    return pd.DataFrame(rows, index=index, columns=["Open", "High", "Low", "Close"], dtype=float)


# --- crossover, cross, barssince, quantile -------------------------------------------------------


CROSSINGS = pytest.mark.parametrize(
    "a, b, over, crossed",
    [
        (np.array([1, 3]), np.array([2, 2]), True, True),
        (np.array([3, 1]), np.array([2, 2]), False, True),  # crossed under
        (np.array([0, 1, 3]), 2, True, True),  # against a scalar
        ([1, 3], [2, 2], True, True),  # plain lists
        (pd.Series([1.0, 3.0], DAYS[:2]), pd.Series([2.0, 2.0], DAYS[:2]), True, True),
        (pd.Series([1.0, 3.0], DAYS[:2]), 2.0, True, True),
        (np.array([2, 3]), np.array([2, 2]), False, False),  # from equal is not a cross: strictly below first
        (np.array([1, 2]), np.array([2, 2]), False, False),  # to equal is not a cross
        (np.array([1.0, np.nan, 3.0]), np.array([2.0, 2.0, 2.0]), False, False),  # NaN never crosses
        (np.array([1, 3, 3]), np.array([2, 2, 2]), False, False),  # crossed a bar ago, not now
        (1, 2, False, False),  # two scalars never cross
        (np.array([3]), np.array([2]), False, False),  # too short
        (np.array([]), np.array([]), False, False),
        ([3], 2, False, False),
        (np.array([1.0, 3.0]), 2.0, True, True),  # float level
        (np.array([2.0, 3.0]), 2.0, False, False),  # from the level is not a cross
        (2, np.array([3, 1]), True, True),  # level first
        (np.array([1, 3]), np.float64(2.0), True, True),
    ],
)


@CROSSINGS
def test_crossover_and_cross(a, b, over, crossed):
    assert crossover(a, b) is over
    assert cross(a, b) is crossed
    assert cross(b, a) is crossed


@CROSSINGS
def test_crossover_and_cross_on_a_strategys_arrays(a, b, over, crossed):
    # inside next() data and indicators are _Array views, which take the fast paths
    def as_strategy_array(x):
        return make_array(x, name="x", index=pd.RangeIndex(len(x))) if isinstance(x, np.ndarray) else x

    a, b = as_strategy_array(a), as_strategy_array(b)
    assert bool(crossover(a, b)) is over
    assert bool(cross(a, b)) is crossed
    assert bool(cross(b, a)) is crossed


@pytest.mark.parametrize(
    "condition, default, bars_since",
    [
        ([False, True, False, False], np.inf, 2),
        ([True, True, False], np.inf, 1),
        ([False, False, True], np.inf, 0),
        (np.array([1, 0, 0]), np.inf, 2),  # truthy numbers
        (pd.Series([True, False], DAYS[:2]), np.inf, 1),
        ([False, False], np.inf, np.inf),  # never
        ([], np.inf, np.inf),
        ([False], -1, -1),
    ],
)
def test_barssince(condition, default, bars_since):
    assert barssince(condition, default) == bars_since


@pytest.mark.parametrize(
    "series, q, expected",
    [
        ([1, 2, 3, 4, 5], None, 1.0),  # the last value beats all 4 before it
        ([5, 4, 3, 2, 1], None, 0.0),
        ([1, 3, 2], None, 0.5),  # beats 1 of 2
        ([2, 2, 2], None, 0.0),  # ties do not count
        (pd.Series([1.0, 3.0, 2.0], DAYS), None, 0.5),
        ([1, 2, 3, 4, 5], 0.5, 3.0),
        ([1, 2, 3, 4, 5], 0.0, 1.0),
        ([1, 2, 3, 4, 5], 1.0, 5.0),
        ([1, np.nan, 3], 0.5, 2.0),  # NaN ignored
    ],
)
def test_quantile(series, q, expected):
    assert quantile(np.asarray(series, dtype=float) if isinstance(series, list) else series, q) == expected


def test_quantile_of_nothing_is_nan():
    assert np.isnan(quantile(np.array([])))


def test_quantile_of_a_single_value_is_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(quantile(np.array([5.0])))


@pytest.mark.parametrize("q", [-0.1, 1.5, "half"])
def test_quantile_rejects_bad_quantiles(q):
    with pytest.raises(ValueError) as raised:
        quantile(np.array([1.0, 2.0]), q)
    assert str(raised.value) == (f"The 'quantile' parameter of quantile must be a number in [0, 1] or None. "
                                 f"Got {q!r} instead.")


# --- resample_apply ------------------------------------------------------------------------------


def test_resample_apply_outside_a_strategy():
    close = DATA["Close"]
    weekly = resample_apply("W-FRI", SMA, close, 2)
    assert isinstance(weekly, pd.Series) and weekly.index.equals(close.index)
    # by hand: Friday closes, a 2-week mean, carried forward to the days after each Friday
    fridays = close.resample("W-FRI").last().rolling(2).mean()
    expected = fridays.reindex(close.index.union(fridays.index)).ffill().reindex(close.index)
    np.testing.assert_allclose(weekly.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize(
    "rule, close",
    [("W-FRI", DATA["Close"]), ("3D", DATA["Close"]), ("2W", DATA["Close"]),
     ("4h", HOURLY["Close"]), ("D", HOURLY["Close"]), ("W-FRI", HOURLY["Close"]), ("ME", HOURLY["Close"])],
    ids=["W-FRI", "3D", "2W", "hourly-4h", "hourly-D", "hourly-W-FRI", "hourly-ME"],
)
def test_resample_apply_outside_a_strategy_never_looks_ahead(rule, close):
    full = resample_apply(rule, SMA, close, 2).to_numpy()
    # the value on bar t is the same when the data ends at t
    truncated = [resample_apply(rule, SMA, close.iloc[: t + 1], 2).iloc[-1] for t in range(len(close))]
    np.testing.assert_array_equal(truncated, full)


def test_a_week_of_hourly_bars_shows_from_its_last_bar_not_from_fridays_first():
    # pandas labels the week 'W-FRI' Friday 00:00 but puts all of Friday's bars in it: shown from the
    # label on (as backtesting.py does), Friday morning would see Friday afternoon's close
    close = load_hourly()["Close"].loc["2019-09-09":"2019-09-27"]
    weekly = resample_apply("W-FRI", None, close)
    friday = close.loc["2019-09-20"]
    assert (weekly.loc[friday.index[:-1]] == close.loc[:"2019-09-13"].iloc[-1]).all()  # the week before
    assert weekly.loc[friday.index[-1]] == friday.iloc[-1]  # the week, complete at Friday's last bar
    assert weekly.loc["2019-09-23"].eq(friday.iloc[-1]).all()


def test_resample_apply_in_a_strategy_is_an_indicator_without_look_ahead():
    seen = []

    class Weekly(Strategy):
        def init(self):
            self.weekly = resample_apply("W-FRI", SMA, self.data.Close, 2)

        def next(self):
            seen.append((len(self.data) - 1, self.weekly[-1], len(self.weekly)))

    stats = Backtest(DATA, Weekly).run()
    assert stats["_strategy"].weekly.name == "SMA(C[W-FRI],2)"
    close = DATA["Close"]
    for bar, value, length in seen:
        assert length == bar + 1
        assert value == resample_apply("W-FRI", SMA, close.iloc[: bar + 1], 2).iloc[-1]
    assert seen[0][0] == 6  # the first 2-week mean is on bar 5 (the second Friday): next() from bar 6


def test_resample_apply_with_a_dataframe():
    weekly = resample_apply("W-FRI", lambda df: df["High"] - df["Low"], DATA[["High", "Low"]])
    # High is aggregated with max, Low with min (OHLCV_AGG), per week ending on Friday
    agg = DATA[["High", "Low"]].resample("W-FRI").agg({"High": "max", "Low": "min"})
    expected = (agg["High"] - agg["Low"]).reindex(DATA.index.union(agg.index)).ffill().reindex(DATA.index)
    np.testing.assert_allclose(weekly.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize(
    "series, exception, message",
    [
        (DATA["Close"].to_numpy(), TypeError,
         "The 'series' parameter of resample_apply must be a pandas Series/DataFrame or a strategy's data "
         "column or indicator. Got ndarray instead."),
        (DATA["Close"].reset_index(drop=True), ValueError,
         "The 'series' parameter of resample_apply must be indexed by a DatetimeIndex. "
         "Got RangeIndex instead."),
    ],
)
def test_resample_apply_errors(series, exception, message):
    with pytest.raises(exception) as raised:
        resample_apply("W-FRI", SMA, series, 2)
    assert str(raised.value) == message


def test_aggregation_tables():
    assert list(OHLCV_AGG) == ["Open", "High", "Low", "Close", "Volume"]
    weekly = DATA.resample("W-FRI").agg(OHLCV_AGG)
    assert weekly["High"].iloc[1] == DATA["High"].iloc[1:6].max()  # Mon 5 .. Fri 9 January 2015
    trades = Backtest(DATA, Strategy).run()["_trades"]
    assert set(TRADES_AGG) <= set(trades.columns)


# --- SignalStrategy ------------------------------------------------------------------------------

RAMP = bars(*[(c, c + 1, c - 1, c) for c in range(11, 21)])  # closes 11, 12, ..., 20 on bars 0..9


def test_signal_strategy_enters_and_exits_on_its_signals():
    entries = np.array([1, 0, 5, 0, 0, 0, -3, 0, 0, 0])  # bar 0 is never traded: it only ends the warm-up

    class Signals(SignalStrategy):
        def init(self):
            super().init()
            self.set_signal(entries)

    stats = Backtest(RAMP, Signals, finalize_trades=True).run()
    # buy 5 on bar 2 → bar 3's open 14; sell 3 on bar 6 → closes 3 of them at bar 7's open 18;
    # the other 2 close at the last close 20
    trades = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]]
    assert trades.to_numpy().tolist() == [[3, 3, 7, 14, 18], [2, 3, 9, 14, 20]]


def test_signal_strategy_acts_on_the_first_signals():
    entries = np.zeros(10)
    entries[[2, 6]] = [5, -3]
    exits = np.zeros(10)
    exits[5] = 1

    class Signals(SignalStrategy):
        def init(self):
            super().init()
            self.set_signal(entries, exits)

    stats = Backtest(RAMP, Signals, finalize_trades=True).run()
    # buy 5 on bar 2 → bar 3's open 14; close it on bar 5 → bar 6's open 17; sell 3 on bar 6 → bar 7's
    # open 18, closed at the last close 20 (backtesting.py 0.6 gives these two trades)
    trades = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]]
    assert trades.to_numpy().tolist() == [[5, 3, 6, 14, 17], [-3, 7, 9, 18, 20]]


# --- TrailingStrategy ----------------------------------------------------------------------------


def test_trailing_percentage():
    data = bars((100, 101, 99, 100), (100, 101, 99, 100), (100, 104, 100, 104), (104, 110, 103, 110),
                (110, 110, 106, 107), (107, 108, 104, 105), (105, 106, 104, 105))
    stops = []

    class Trailing(TrailingStrategy):
        def init(self):
            super().init()
            self.set_trailing_pct(0.05)

        def next(self):
            super().next()
            if len(self.data) == 2:
                self.buy(size=10)
            stops.extend(trade.sl for trade in self.trades)

    stats = Backtest(data, Trailing, finalize_trades=True).run()
    # in at bar 2's open 100. Stops: bar 2 close 104 → 98.8; bar 3 close 110 → 104.5; bar 4 close 107 →
    # 101.65 < 104.5, stays; bar 5's low 104 reaches 104.5: out at min(Open 107, 104.5) = 104.5
    assert stops == pytest.approx([98.8, 104.5, 104.5])
    trades = stats["_trades"][["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]]
    assert trades.to_numpy().tolist() == [[10, 2, 5, 100, 104.5]]


class AtrTrailing(TrailingStrategy):
    """Long from bar 1; the stop trails 1.5 ATR(5) behind the close."""

    def init(self):
        super().init()
        self.set_atr_periods(5)
        self.set_trailing_sl(1.5)
        self.stops = {}

    def next(self):
        super().next()
        if not self.position:
            self.buy(size=10)
        self.stops[len(self.data) - 1] = [trade.sl for trade in self.trades]


def test_trailing_atr_never_looks_ahead():
    full = Backtest(DATA, AtrTrailing, finalize_trades=True).run()["_strategy"].stops
    # ATR(5) needs the true ranges of bars 1..5 (bar 0 has no previous close): no stop before bar 5
    assert full[2] == [None] and full[5][0] is not None
    for cut in (12, 30, 55):
        # change every bar after the cut: the stops up to it must not move
        later = DATA.copy()
        later.iloc[cut + 1:, :4] *= np.linspace(0.8, 1.3, len(DATA) - cut - 1)[:, None]
        stops = Backtest(later, AtrTrailing, finalize_trades=True).run()["_strategy"].stops
        assert {bar: stops[bar] for bar in range(1, cut + 1)} == {bar: full[bar] for bar in range(1, cut + 1)}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.set_trailing_pct(0), "The 'pct' parameter of TrailingStrategy.set_trailing_pct must be "
                                          "a number in (0, 1). Got 0 instead."),
        (lambda s: s.set_trailing_sl(-1), "The 'n_atr' parameter of TrailingStrategy.set_trailing_sl must be "
                                          "a number > 0. Got -1 instead."),
        (lambda s: s.set_atr_periods(0), "The 'periods' parameter of TrailingStrategy.set_atr_periods must "
                                         "be an integer >= 1. Got 0 instead."),
    ],
)
def test_trailing_strategy_errors(call, message):
    class Bad(TrailingStrategy):
        def init(self):
            super().init()
            call(self)

    with pytest.raises(ValueError) as raised:
        Backtest(DATA, Bad).run()
    assert str(raised.value) == message


def test_trailing_strategy_without_super_init_says_so():
    class Forgetful(TrailingStrategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3)  # no super().init()

    with pytest.raises(RuntimeError, match=r"^Forgetful.init\(\) must call super\(\).init\(\)"):
        Backtest(DATA, Forgetful).run()


# --- FractionalBacktest and MultiBacktest --------------------------------------------------------

BITCOIN = bars((20_000, 20_100, 19_900, 20_000), (20_000, 20_100, 19_900, 20_000),
               (20_400, 20_500, 20_300, 20_450), (20_450, 20_600, 20_400, 20_500))


def test_fractional_backtest_trades_fractions_of_a_unit():
    class Half(Strategy):
        def next(self):
            if len(self.data) == 2:
                self.buy(size=0.5)

    before = BITCOIN.copy()
    stats = FractionalBacktest(BITCOIN, Half, fractional_unit=1e-4, finalize_trades=True).run()
    # in units of 1e-4: prices 2.0, 2.04, ...; 5_000 buys floor(5_000 / 2.04) = 2_450 of them = 0.245
    trade = stats["_trades"].iloc[0]
    assert trade["Size"] == pytest.approx(0.245)
    assert (trade["EntryPrice"], trade["ExitPrice"]) == pytest.approx((20_400, 20_500))
    assert stats["Equity Final [$]"] == pytest.approx(10_000 + 0.245 * 100)  # 0.245 * (20_500 - 20_400)
    pd.testing.assert_frame_equal(BITCOIN, before)
    again = FractionalBacktest(BITCOIN, Half, fractional_unit=1e-4, finalize_trades=True).run()
    pd.testing.assert_frame_equal(again["_trades"], stats["_trades"])  # scaled back once, not twice


def test_fractional_backtest_whole_units_are_fractions():
    class Three(Strategy):
        def next(self):
            if len(self.data) == 2:
                self.buy(size=3)

    stats = FractionalBacktest(BITCOIN, Three, fractional_unit=1e-3, finalize_trades=True).run()
    assert stats["_trades"]["Size"].tolist() == pytest.approx([0.003])  # 3 units of 0.001


@pytest.mark.parametrize("unit", [0, 2, -1e-8])
def test_fractional_backtest_unit_must_be_in_0_1(unit):
    with pytest.raises(ValueError) as raised:
        FractionalBacktest(BITCOIN, Strategy, fractional_unit=unit)
    assert str(raised.value) == (f"The 'fractional_unit' parameter of FractionalBacktest must be a number in "
                                 f"(0, 1]. Got {unit} instead.")


class Flip(Strategy):
    n = 5

    def init(self):
        self.sma = self.I(SMA, self.data.Close, self.n)

    def next(self):
        if self.data.Close[-1] > self.sma[-1] and not self.position.is_long:
            self.position.close()
            self.buy(size=0.5)
        elif self.data.Close[-1] < self.sma[-1] and not self.position.is_short:
            self.position.close()
            self.sell(size=0.5)


def test_multi_backtest_runs_one_column_per_data_set():
    frames = [DATA.iloc[:40], DATA.iloc[40:]]
    stats = MultiBacktest(frames, Flip, finalize_trades=True).run(n=3)
    assert list(stats.columns) == [0, 1]
    single = [Backtest(frame, Flip, finalize_trades=True).run(n=3) for frame in frames]
    assert list(stats.index) == [key for key in single[0].index if not key.startswith("_")]
    for column, expected in zip(stats, single, strict=True):
        assert stats[column]["# Trades"] == expected["# Trades"] > 0
        assert stats[column]["Equity Final [$]"] == expected["Equity Final [$]"]


def test_multi_backtest_wants_a_list_of_frames():
    with pytest.raises(TypeError) as raised:
        MultiBacktest(DATA, Flip)
    assert str(raised.value).startswith(
        "The 'df_list' parameter of MultiBacktest must be a non-empty list of DataFrames. Got ")
