"""Tests for window runs (``Backtest.window``, ``Engine.window``): warm-up before the window, orders
and stats inside it, trades closed at its last Close, and nothing after it seen."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover

# Six daily bars; the Open of each bar is the previous Close + 1.
CLOSES = [100.0, 102.0, 104.0, 101.0, 107.0, 110.0]
OPENS = [100.0, 101.0, 103.0, 105.0, 102.0, 108.0]


def six_bars() -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=6, freq="D")
    return pd.DataFrame({"Open": OPENS, "High": [max(o, c) + 1 for o, c in zip(OPENS, CLOSES, strict=True)],
                         "Low": [min(o, c) - 1 for o, c in zip(OPENS, CLOSES, strict=True)], "Close": CLOSES,
                         "Volume": 1000.0}, index=index)


class BuyOnce(Strategy):
    """Buys 10 units on its first next() and records what it saw."""

    def init(self) -> None:
        self.bars_in_init = len(self.data)
        self.seen = []

    def next(self) -> None:
        self.seen.append(len(self.data))
        if not self.position and not self.closed_trades:
            self.buy(size=10)


class Sma(Strategy):
    n = 3

    def init(self) -> None:
        self.sma = self.I(lambda c: pd.Series(c).rolling(self.n).mean(), self.data.Close)
        self.first = None

    def next(self) -> None:
        if self.first is None:
            self.first = (len(self.data), float(self.sma[-1]))


class SmaCross(Strategy):
    n1 = 10
    n2 = 30

    def init(self) -> None:
        close = pd.Series(self.data.Close)
        self.a = self.I(lambda: close.rolling(self.n1).mean())
        self.b = self.I(lambda: close.rolling(self.n2).mean())

    def next(self) -> None:
        if crossover(self.a, self.b):
            self.buy()
        elif crossover(self.b, self.a):
            self.position.close()


def test_window_stats_equal_a_hand_computation():
    bt = Backtest(six_bars(), BuyOnce, cash=10_000)
    stats = bt.window(2, 5).run()  # bars 2, 3, 4
    # next() on bar 2 buys 10; filled at bar 3's Open (105); closed at bar 4's Close (107), the
    # window's last. Equity: 10_000 on bar 2; bar 3 closes at 101: 10_000 + 10 * (101 - 105) = 9_960;
    # bar 4: 10_000 + 10 * (107 - 105) = 10_020
    assert list(stats["_equity_curve"]["Equity"]) == [10_000.0, 9_960.0, 10_020.0]
    assert stats["Equity Final [$]"] == pytest.approx(10_020)
    assert stats["Return [%]"] == pytest.approx(0.2)
    assert stats["Max. Drawdown [%]"] == pytest.approx(-0.4)
    # Buy & Hold from the window's first Close (104) to its last (107)
    assert stats["Buy & Hold Return [%]"] == pytest.approx((107 - 104) / 104 * 100)
    assert stats["Start"] == pd.Timestamp("2024-01-03") and stats["End"] == pd.Timestamp("2024-01-05")
    trades = stats["_trades"]
    assert list(trades[["EntryBar", "ExitBar"]].iloc[0]) == [1, 2]  # counted from the window's first bar
    assert trades["EntryPrice"].iloc[0] == 105 and trades["ExitPrice"].iloc[0] == 107
    assert trades["EntryTime"].iloc[0] == pd.Timestamp("2024-01-04")
    strategy = stats["_strategy"]
    assert strategy.bars_in_init == 5  # init() sees up to the window's end, never after it
    assert strategy.seen == [3, 4, 5]  # next() runs on the window's bars only


def test_indicators_are_warm_on_the_window_first_bar():
    stats = Backtest(six_bars(), Sma).window(3).run()
    # next() first runs on bar 3, seeing 4 bars; SMA(3) there is (104 + 101 + 102) / 3
    assert stats["_strategy"].first == (4, pytest.approx((102 + 104 + 101) / 3))


def test_warm_up_reaching_into_the_window_delays_next_and_buy_and_hold():
    stats = Backtest(six_bars(), Sma, finalize_trades=True).window(1, 6).run(n=4)
    # SMA(4) has its first value on bar 3: next() starts on bar 4 as in a plain run
    assert stats["_strategy"].first[0] == 5
    # Buy & Hold starts where the plain run's does (bar 3), which is the window's bar 2
    assert stats["Buy & Hold Return [%]"] == pytest.approx((110 - 101) / 101 * 100)


@pytest.mark.parametrize("finalize", [True, False])
def test_a_window_from_0_to_the_end_equals_a_plain_run(finalize):
    # a window closes the trade left open at the end, whatever finalize_trades says
    window = Backtest(load_daily(), SmaCross, finalize_trades=finalize).window(0).run()
    plain = Backtest(load_daily(), SmaCross, finalize_trades=True).run()
    pd.testing.assert_series_equal(plain.iloc[:-3], window.iloc[:-3])
    pd.testing.assert_frame_equal(plain["_trades"], window["_trades"])
    pd.testing.assert_frame_equal(plain["_equity_curve"], window["_equity_curve"])


def test_window_numbers_equal_its_stats_series():
    bt = Backtest(load_daily(), SmaCross).window(300, 900)
    series, numbers = bt.run(), bt._engine.numbers({})
    for key, value in numbers.items():
        if key == "_strategy":
            continue
        assert value == series[key] or (value != value and series[key] != series[key]), key


def test_window_by_dates_is_inclusive_like_loc():
    data = load_daily()
    stats = Backtest(data, SmaCross).window("2020-01-01", "2020-12-31").run()
    expected = data.loc["2020-01-01":"2020-12-31"]
    assert stats["Start"] == expected.index[0] and stats["End"] == expected.index[-1]
    assert len(stats["_equity_curve"]) == len(expected)


def test_window_of_a_window_is_taken_within_it():
    bt = Backtest(load_daily(), SmaCross)
    pd.testing.assert_series_equal(bt.window(100, 900).window(200, -100).run().iloc[:-3],
                                   bt.window(300, 800).run().iloc[:-3])


def test_optimize_on_a_window_searches_the_window():
    bt = Backtest(load_daily(), SmaCross).window(200, 1000)
    stats, heatmap = bt.optimize(n1=[5, 10], n2=[20, 40], maximize="Equity Final [$]", return_heatmap=True,
                                 n_jobs=1)
    by_hand = {(n1, n2): bt.run(n1=n1, n2=n2)["Equity Final [$]"] for n1 in (5, 10) for n2 in (20, 40)}
    assert heatmap.to_dict() == pytest.approx(by_hand)
    assert stats["Equity Final [$]"] == max(by_hand.values())
    assert stats["Start"] == load_daily().index[200]


def test_window_leaves_the_backtest_as_it_was():
    bt = Backtest(load_daily(), SmaCross, finalize_trades=True)
    before = bt.run()
    bt.window(10, 20).run()
    pd.testing.assert_series_equal(bt.run().iloc[:-3], before.iloc[:-3])
    assert len(bt._data) == len(load_daily())


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 5), length=st.integers(1, 6))
def test_window_equity_is_cash_until_the_first_fill(start, length):
    stop = min(6, start + length)
    stats = Backtest(six_bars(), BuyOnce, cash=10_000).window(start, stop).run()
    curve = stats["_equity_curve"]["Equity"]
    assert len(curve) == stop - start and curve.iloc[0] == 10_000.0
    # next() first runs on bar max(start, 1); its buy fills on the next bar, if the window has it
    assert stats["# Trades"] == (1 if max(start, 1) + 1 < stop else 0)


@pytest.mark.parametrize("start, end, exc, match", [
    (5, 2, ValueError,
     r"The window of Backtest.window from start=5 to end=2 holds no bar \(bars 5 to 1 of 6\)."),
    (7, None, ValueError, r"The 'start' parameter of Backtest.window must be a position in \[-6, 6\]. Got 7"),
    (0, 2.5, TypeError, r"The 'end' parameter of Backtest.window must be a position, a timestamp or a date "
                        r"string \(or None\). Got 2.5 instead."),
    ("2030-01-01", None, ValueError, r"holds no bar"),
])
def test_bad_windows(start, end, exc, match):
    with pytest.raises(exc, match=match):
        Backtest(six_bars(), BuyOnce).window(start, end)


def test_a_window_run_plots_its_own_bars_and_indicators(tmp_path):
    bt = Backtest(load_daily(), SmaCross).window(500, 700)
    stats = bt.run()
    indicators = bt._plot_indicators(stats)
    assert [len(indicator.values) for indicator in indicators] == [200, 200]
    np_close = load_daily()["Close"].iloc[471:700].rolling(30).mean().to_numpy()[-200:]
    assert indicators[1].values == pytest.approx(np_close)
    bt.plot(filename=str(tmp_path / "window.html"), open_browser=False)
    assert (tmp_path / "window.html").exists()


def test_a_fractional_backtest_window_reports_whole_units(tmp_path):
    from backtestkit.lib import FractionalBacktest

    data = load_daily()
    plain = FractionalBacktest(data, SmaCross, fractional_unit=0.01, finalize_trades=True)
    window = plain.window(300, 900).run()
    expected = FractionalBacktest(data.iloc[:900], SmaCross, fractional_unit=0.01).window(300).run()
    pd.testing.assert_frame_equal(window["_trades"], expected["_trades"])
    assert window["_trades"]["EntryPrice"].iloc[0] == pytest.approx(
        data["Open"].iloc[300 + window["_trades"]["EntryBar"].iloc[0]])
    plain.window(300, 900).plot(results=window, filename=str(tmp_path / "f.html"), open_browser=False)
