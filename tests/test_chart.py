"""Tests for backtestkit.plotting._chart, _downsample and _output: the chart behind Backtest.plot().

Runs come from backtestkit itself. The returned Bokeh layout is inspected: panels present or absent
per flag, one glyph row per trade, indicators on price or in panels of their own, a RangeIndex run,
a run without trades, a hand-worked equity panel, downsampling of 200k bars checked against pandas'
own resampling, the standalone HTML file, notebook output, and the bad-argument messages.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bokeh.models import GlyphRenderer, HoverTool, Legend

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily, load_hourly
from backtestkit.lib import crossover
from backtestkit.plotting import _output
from backtestkit.plotting._chart import Indicator, plot_backtest
from backtestkit.plotting._downsample import Grouping, auto_downsample, by_count, by_rule


def sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).mean().to_numpy()


def rsi(values: np.ndarray, n: int = 14) -> np.ndarray:
    change = pd.Series(values).diff()
    gain, loss = change.clip(lower=0).rolling(n).mean(), (-change.clip(upper=0)).rolling(n).mean()
    return (100 - 100 / (1 + gain / loss)).to_numpy()


class SmaCross(Strategy):
    n1, n2 = 10, 30

    def init(self) -> None:
        self.fast = self.I(sma, self.data.Close, self.n1)
        self.slow = self.I(sma, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=0.5)


class Indicators(SmaCross):
    """SmaCross plus indicators of every kind: in a panel, two-line, hidden, scatter."""

    def init(self) -> None:
        super().init()
        self.I(rsi, self.data.Close, name="RSI")
        self.I(lambda c: (sma(c, 20) * 1.05, sma(c, 20) * 0.95), self.data.Close, name=["upper", "lower"])
        self.I(sma, self.data.Close, 50, plot=False)
        self.I(
            lambda c: np.where(np.arange(len(c)) % 50 == 0, c, np.nan),
            self.data.Close,
            name="Dots",
            scatter=True,
            color="purple",
        )


def indicators_of(stats: pd.Series) -> list[Indicator]:
    """The conversion Backtest.plot() makes from the engine's indicator arrays."""
    return [Indicator(a.name, np.asarray(a), **a._opts) for a in stats["_strategy"]._indicators]


def panel_names(layout: Any) -> list[str]:
    return [panel.name for panel, *_ in layout.children]


def panel(layout: Any, name: str) -> Any:
    return next(fig for fig, *_ in layout.children if fig.name == name)


def renderer(fig: Any, name: str) -> GlyphRenderer:
    return next(r for r in fig.renderers if r.name == name)


def legend_labels(fig: Any) -> list[str]:
    return [item.label.value for legend in fig.select(type=Legend) for item in legend.items]


@pytest.fixture(scope="module")
def daily() -> tuple[pd.DataFrame, pd.Series]:
    data = load_daily()
    return data, Backtest(data, Indicators, finalize_trades=True).run()


@pytest.fixture
def no_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip Bokeh's serialisation (half a second a chart) in tests of the layout, not of the page.

    The page itself is checked by the tests that do not use this fixture.
    """
    monkeypatch.setattr(_output, "file_html", lambda layout, resources, title: f"<title>{title}</title>")


@pytest.fixture
def plot(daily: tuple[pd.DataFrame, pd.Series], tmp_path: Path, no_html: None) -> Any:
    """``plot(**options)``: the daily run's chart, written (as a stub page) to a temporary file."""
    data, stats = daily

    def plot(**options: Any) -> Any:
        kwargs = {
            "ohlc": data,
            "stats": stats,
            "indicators": indicators_of(stats),
            "filename": tmp_path / "chart.html",
            "open_browser": False,
            **options,
        }
        return plot_backtest(**kwargs)

    return plot


@pytest.fixture(scope="module")
def default_chart(daily: tuple[pd.DataFrame, pd.Series], tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The daily run's chart with every default, and the page it wrote."""
    data, stats = daily
    path = tmp_path_factory.mktemp("chart") / "daily.html"
    return plot_backtest(
        ohlc=data, stats=stats, indicators=indicators_of(stats), filename=path, open_browser=False
    ), path


@pytest.fixture(scope="module")
def default_layout(default_chart: tuple) -> Any:
    return default_chart[0]


# --- Panels and flags ---------------------------------------------------------------------------


def test_default_panels_top_to_bottom(default_layout: Any) -> None:
    assert panel_names(default_layout) == ["equity", "pl", "ohlc", "volume", "indicator:RSI"]


@pytest.mark.parametrize(
    ("options", "name", "present"),
    [
        ({"plot_equity": False}, "equity", False),
        ({"plot_return": True}, "return", True),
        ({"plot_drawdown": True}, "drawdown", True),
        ({"plot_pl": False}, "pl", False),
        ({"plot_volume": False}, "volume", False),
    ],
)
def test_each_flag_adds_or_removes_its_panel(plot: Any, options: dict, name: str, present: bool) -> None:
    assert (name in panel_names(plot(**options))) is present


def test_panels_share_one_x_range_and_the_vertical_crosshair(default_layout: Any) -> None:
    figures = [fig for fig, *_ in default_layout.children]
    assert len({id(fig.x_range) for fig in figures}) == 1
    crosshairs = [
        tool.overlay[0] for fig in figures for tool in fig.tools if type(tool).__name__ == "CrosshairTool"
    ]
    assert len(crosshairs) == len(figures) and len({id(span) for span in crosshairs}) == 1
    assert [fig.xaxis[0].visible for fig in figures] == [False] * (len(figures) - 1) + [True]


def test_price_panel_rescales_y_to_the_visible_bars_on_x_zoom(default_layout: Any) -> None:
    figures = {fig.name: fig for fig, *_ in default_layout.children}
    x_range = figures["ohlc"].x_range
    for event in ("change:start", "change:end"):
        (callback,) = x_range.js_property_callbacks[event]
        assert callback.args["price"] is figures["ohlc"].y_range
        assert callback.args["volume_range"] is figures["volume"].y_range


def test_plot_width_fixes_the_width(plot: Any, default_layout: Any) -> None:
    assert {fig.width for fig, *_ in plot(plot_width=800).children} == {800}
    assert {fig.sizing_mode for fig, *_ in default_layout.children} == {"stretch_width"}


def test_show_legend_false_hides_every_legend(plot: Any, default_layout: Any) -> None:
    assert all(legend.visible for legend in default_layout.select({"type": Legend}))
    assert not any(legend.visible for legend in plot(show_legend=False).select({"type": Legend}))


# --- Trades -------------------------------------------------------------------------------------


def test_one_glyph_row_per_trade_on_price_and_pl(default_layout: Any, daily: tuple) -> None:
    trades = daily[1]["_trades"]
    assert len(trades) == daily[1]["# Trades"] > 10
    lines = renderer(panel(default_layout, "ohlc"), "trades").data_source.data
    marks = renderer(panel(default_layout, "pl"), "pl").data_source.data
    for data in (lines, marks):
        assert len(data["Size"]) == len(trades)
        np.testing.assert_array_equal(data["entry_x"], trades["EntryBar"])  # every bar plotted: x is the bar
        np.testing.assert_array_equal(data["exit_x"], trades["ExitBar"])
    assert f"Trades ({len(trades)})" in legend_labels(panel(default_layout, "ohlc"))


def test_trades_are_coloured_by_pnl_and_marked_by_side_and_size(default_layout: Any, daily: tuple) -> None:
    trades = daily[1]["_trades"]
    data = renderer(panel(default_layout, "pl"), "pl").data_source.data
    np.testing.assert_array_equal(data["positive"], trades["PnL"] > 0)
    assert data["marker"] == ["triangle" if size > 0 else "inverted_triangle" for size in trades["Size"]]
    sizes = np.abs(trades["Size"].to_numpy())
    assert sizes.min() < sizes.max()  # buys use all the cash, sells half of it
    assert data["marker_size"][sizes.argmin()] == 8 and data["marker_size"][sizes.argmax()] == 20


def test_plot_trades_false_leaves_them_off_the_price_panel(plot: Any) -> None:
    names = [r.name for r in panel(plot(plot_trades=False), "ohlc").renderers]
    assert "trades" not in names and "candles" in names


# --- Indicators ---------------------------------------------------------------------------------


def test_indicators_go_on_price_or_in_panels_of_their_own(default_layout: Any) -> None:
    price = panel(default_layout, "ohlc")
    # overlay=None: the SMAs and the ±5% band lie within 0.6-1.4x Close, so they go on price; RSI
    # (0-100, against prices of 70-165) lies within that band on only a quarter of the bars.
    assert legend_labels(price) == [
        "OHLC",
        f"Trades ({len(renderer(price, 'trades').data_source.data['Size'])})",
        "sma(C,10)",
        "sma(C,30)",
        "upper",
        "lower",
        "Dots",
    ]
    assert legend_labels(panel(default_layout, "indicator:RSI")) == ["RSI"]
    assert "sma(C,50)" not in str([legend_labels(fig) for fig, *_ in default_layout.children])  # plot=False


def test_multi_line_indicator_draws_one_glyph_per_row_and_scatter_draws_dots(default_layout: Any) -> None:
    price = panel(default_layout, "ohlc")
    band = [r for r in price.renderers if r.name in ("indicator3_0", "indicator3_1")]
    assert [type(r.glyph).__name__ for r in band] == ["Line", "Line"]
    dots = renderer(price, "indicator4_0")
    assert type(dots.glyph).__name__ == "Scatter" and dots.glyph.fill_color == "purple"
    tips = dict(next(t for t in price.tools if isinstance(t, HoverTool) and t.mode == "vline").tooltips)
    assert {"OHLC", "Volume", "sma(C,10)", "upper", "lower", "Dots"} <= set(tips)


def test_overlay_flag_overrides_the_guess_and_reverse_indicators_flips_panels(
    daily: tuple, tmp_path: Path, no_html: None
) -> None:
    data, stats = daily
    close = data["Close"].to_numpy()
    indicators = [
        Indicator("A", close, overlay=False),
        Indicator("B", close / 100, overlay=None),
        Indicator("C", close / 100, overlay=True),
        Indicator("Signal", close > 110),  # booleans plot as 0 and 1
    ]
    kwargs = {
        "ohlc": data,
        "stats": stats,
        "indicators": indicators,
        "filename": tmp_path / "c.html",
        "open_browser": False,
    }
    layout = plot_backtest(**kwargs)
    assert panel_names(layout)[-3:] == ["indicator:A", "indicator:B", "indicator:Signal"]
    assert "C" in legend_labels(panel(layout, "ohlc"))
    signal = renderer(panel(layout, "indicator:Signal"), "indicator3_0").data_source.data["indicator3_0"]
    np.testing.assert_array_equal(signal, close > 110)
    reverse = panel_names(plot_backtest(**kwargs, reverse_indicators=True))
    assert reverse[-3:] == ["indicator:Signal", "indicator:B", "indicator:A"]


def test_the_inputs_are_left_untouched(daily: tuple, plot: Any) -> None:
    data, stats = daily
    before = [data.copy(), stats["_equity_curve"].copy(), stats["_trades"].copy()]
    plot(plot_drawdown=True, plot_return=True, smooth_equity=True, resample="W")
    pd.testing.assert_frame_equal(before[0], data)
    pd.testing.assert_frame_equal(before[1], stats["_equity_curve"])
    pd.testing.assert_frame_equal(before[2], stats["_trades"])


# --- Equity ---------------------------------------------------------------------------------------


class Hand(Strategy):
    """Buy 1 share on bar 1 (fills at bar 2's open), close on bar 4 (fills at bar 5's open)."""

    def next(self) -> None:
        if len(self.data) == 2:
            self.buy(size=1)
        if len(self.data) == 5:
            self.position.close()


@pytest.fixture(scope="module")
def hand() -> tuple[pd.DataFrame, pd.Series]:
    close = [100.0, 100, 100, 120, 90, 110, 110]
    data = pd.DataFrame(
        {"Open": close, "High": close, "Low": close, "Close": close, "Volume": 1.0},
        index=pd.date_range("2024-01-01", periods=7, freq="D"),
    )
    return data, Backtest(data, Hand, cash=1000).run()


def test_equity_panel_marks_peak_final_and_drawdowns_hand_worked(
    hand: tuple, tmp_path: Path, no_html: None
) -> None:
    # Bought 1 at 100 on bar 2: equity 1000, 1000, 1000, 1020 (close 120), 990 (90), then sold at
    # bar 5's open 110: 1010, 1010. Peak 1020 = 102% of the cash on bar 3; deepest drawdown on bar 4,
    # 1 - 990 / 1020 = 2.94%; never back to 1020, so the longest drawdown runs bar 3 → bar 6: 3 days.
    data, stats = hand
    layout = plot_backtest(
        ohlc=data, stats=stats, indicators=[], filename=tmp_path / "h.html", open_browser=False
    )
    equity = panel(layout, "equity")
    assert legend_labels(equity) == [
        "Peak (102%)",
        "Final (101%)",
        "Max Drawdown (-2.9%)",
        "Max Dd Dur. (3 days)",
    ]
    points = [[*r.data_source.data["x"], *r.data_source.data["y"]] for r in equity.renderers[2:]]
    assert points == [[3, 1.02], [6, 1.01], [4, 0.99], [3, 6, 1.02, 1.02]]
    line = renderer(equity, "equity").data_source.data["equity"]
    assert line == pytest.approx([1, 1, 1, 1.02, 0.99, 1.01, 1.01])


def test_equity_in_dollars_and_smoothed_between_trade_exits(
    hand: tuple, tmp_path: Path, no_html: None
) -> None:
    # The one exit is on bar 5: straight lines through (0, 1000), (5, 1010) and (6, 1010).
    data, stats = hand
    layout = plot_backtest(
        ohlc=data,
        stats=stats,
        indicators=[],
        filename=tmp_path / "h.html",
        open_browser=False,
        relative_equity=False,
        smooth_equity=True,
    )
    equity = panel(layout, "equity")
    assert renderer(equity, "equity").data_source.data["equity"] == pytest.approx(
        [1000, 1002, 1004, 1006, 1008, 1010, 1010]
    )
    assert legend_labels(equity)[:2] == ["Peak ($1,020)", "Final ($1,010)"]


def test_return_and_drawdown_panels(hand: tuple, tmp_path: Path, no_html: None) -> None:
    data, stats = hand
    layout = plot_backtest(
        ohlc=data,
        stats=stats,
        indicators=[],
        filename=tmp_path / "h.html",
        open_browser=False,
        plot_return=True,
        plot_drawdown=True,
    )
    assert renderer(panel(layout, "return"), "return").data_source.data["return"] == pytest.approx(
        [0, 0, 0, 0.02, -0.01, 0.01, 0.01]
    )
    drawdown = renderer(panel(layout, "drawdown"), "drawdown").data_source.data["drawdown"]
    assert drawdown == pytest.approx([0, 0, 0, 0, -30 / 1020, -10 / 1020, -10 / 1020])
    assert legend_labels(panel(layout, "drawdown")) == ["Max Drawdown (-2.9%)"]


# --- Other indexes, no trades ---------------------------------------------------------------------


def test_range_index_run_has_bars_for_x_and_no_datetime_formatting(tmp_path: Path, no_html: None) -> None:
    data = pd.concat([load_daily()] * 5).reset_index(drop=True)  # 12,500 bars → runs of 2 bars
    stats = Backtest(data, SmaCross, finalize_trades=True).run()
    layout = plot_backtest(
        ohlc=data,
        stats=stats,
        indicators=indicators_of(stats),
        filename=tmp_path / "r.html",
        open_browser=False,
    )
    price = panel(layout, "ohlc")
    source = renderer(price, "candles").data_source.data
    assert (
        layout.children[0][0].title.text == "SmaCross — downsampled from 12,500 to 6,250 bars (2 bars each)"
    )
    # Each run of 2 bars is labelled by its first bar and the trades move to their runs.
    np.testing.assert_array_equal(source["label"], np.arange(0, 12_500, 2))
    trades = renderer(price, "trades").data_source.data
    np.testing.assert_array_equal(trades["entry_x"], stats["_trades"]["EntryBar"] // 2)
    assert "superimposed" not in [r.name for r in price.renderers]
    hover = next(t for t in price.tools if isinstance(t, HoverTool) and t.mode == "vline")
    assert hover.tooltips[0] == ("Bar", "@label") and hover.formatters == {}
    assert "String(v)" in layout.children[-1][0].xaxis[0].formatter.code


def test_a_run_without_trades(tmp_path: Path, no_html: None) -> None:
    data = load_hourly().iloc[:500]
    stats = Backtest(data, Strategy).run()
    layout = plot_backtest(
        ohlc=data,
        stats=stats,
        indicators=[],
        filename=tmp_path / "n.html",
        open_browser=False,
        plot_drawdown=True,
    )
    assert panel_names(layout) == ["equity", "drawdown", "ohlc", "volume"]  # no P/L panel without trades
    assert "trades" not in [r.name for r in panel(layout, "ohlc").renderers]
    assert legend_labels(panel(layout, "equity")) == ["Peak (100%)", "Final (100%)"]
    hover = next(t for t in panel(layout, "ohlc").tools if isinstance(t, HoverTool))
    assert hover.tooltips[0] == ("Time", "@label{%F %R}")  # hourly bars show the time of day


# --- Superimposed candles, downsampling -------------------------------------------------------------


def test_superimposed_candles_are_the_months_or_the_rule_given(daily: tuple, plot: Any) -> None:
    data = daily[0]
    months = data.resample("ME").agg({"Open": "first", "High": "max", "Low": "min", "Close": "last"}).dropna()
    source = renderer(panel(plot(), "ohlc"), "superimposed").data_source.data
    for column in ("Open", "High", "Low", "Close"):
        np.testing.assert_allclose(source[column], months[column])
    assert (data.index < "2015-02-01").sum() == 21  # January's 21 bars: 0-20, centred on bar 10
    assert (source["x"][0], source["width"][0]) == (10, 21)
    weeks = renderer(panel(plot(superimpose="W"), "ohlc"), "superimposed").data_source.data
    assert len(weeks["x"]) == data.resample("W").size().gt(0).sum()
    assert "superimposed" not in [r.name for r in panel(plot(superimpose=False), "ohlc").renderers]


def test_grouping_aggregates_ohlcv_hand_worked() -> None:
    bars = pd.DataFrame(
        {
            "Open": [10.0, 11, 12, 13, 14],
            "High": [12.0, 15, 13, 14, 16],
            "Low": [9.0, 10, 8, 12, 13],
            "Close": [11.0, 12, 13, 14, 15],
            "Volume": [1.0, 2, 3, np.nan, np.nan],
        }
    )
    # Runs of 2: bars 0-1 (open 10, high max(12, 15), low min(9, 10), close 12, volume 1 + 2),
    # bars 2-3 (12, 14, 8, 14, 3 + NaN → 3), bar 4 alone (volume all NaN stays NaN).
    got = by_count(5, 2).ohlcv(bars)
    expected = pd.DataFrame(
        {
            "Open": [10.0, 12, 14],
            "High": [15.0, 14, 16],
            "Low": [9.0, 8, 13],
            "Close": [12.0, 14, 15],
            "Volume": [3.0, 3, np.nan],
        },
        index=[0, 2, 4],
    )
    pd.testing.assert_frame_equal(got, expected)
    # Indicator [1, NaN, 3, 5, NaN] averages to [1, 4, NaN]; equity [1, 2, 3, 4, 5] keeps the last: [2, 4, 5].
    grouping = Grouping(np.array([0, 0, 1, 1, 2]), "2 bars")
    np.testing.assert_array_equal(grouping.mean(np.array([1.0, np.nan, 3, 5, np.nan])), [1, 4, np.nan])
    np.testing.assert_array_equal(grouping.last(np.arange(1.0, 6)), [2, 4, 5])


def test_auto_downsample_picks_the_finest_timeframe_that_fits() -> None:
    # 25,000 minutes: 1min bars are too many, 5min give 5,000 (+ the partial periods at the ends).
    minutes = pd.date_range("2024-01-01", periods=25_000, freq="min")
    assert auto_downsample(minutes).label == "5min bars" and len(auto_downsample(minutes)) == 5_000
    assert auto_downsample(minutes[:10_000]) is None
    assert by_rule(minutes[:180], "1h").groups.tolist() == [0] * 60 + [1] * 60 + [2] * 60


@pytest.fixture(scope="module")
def big() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    n_bars = 200_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n_bars)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    data = pd.DataFrame(
        {
            "Open": open_,
            "High": np.maximum(open_, close) * 1.001,
            "Low": np.minimum(open_, close) * 0.999,
            "Close": close,
            "Volume": rng.integers(100, 1_000, n_bars).astype(float),
        },
        index=pd.date_range("2000-01-03", periods=n_bars, freq="h"),
    )
    return data, Backtest(data, SmaCross, finalize_trades=True).run(n1=100, n2=300)


def test_200k_bars_downsample_to_days_matching_pandas_resample(big: tuple, tmp_path: Path) -> None:
    data, stats = big
    path = tmp_path / "big.html"
    layout = plot_backtest(
        ohlc=data, stats=stats, indicators=indicators_of(stats), filename=path, open_browser=False
    )
    assert (
        layout.children[0][0].title.text
        == "SmaCross(n1=100,n2=300) — downsampled from 200,000 to 8,334 bars (1D bars)"
    )
    assert path.stat().st_size < 4_000_000
    price = panel(layout, "ohlc")
    bars = renderer(price, "candles").data_source.data
    days = data.resample("1D").agg(
        {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"}
    )
    for column in days:
        np.testing.assert_allclose(bars[column], days[column])
    trades = renderer(price, "trades").data_source.data
    assert len(trades["Size"]) == len(stats["_trades"]) > 100
    entry_days = days.index.get_indexer(stats["_trades"]["EntryTime"].dt.floor("D"))
    np.testing.assert_array_equal(trades["entry_x"], entry_days)
    fast = bars["indicator0_0"]  # the daily mean of the hourly SMA(100)
    np.testing.assert_allclose(
        fast, pd.Series(sma(data["Close"].to_numpy(), 100), data.index).resample("1D").mean()
    )


def test_resample_false_keeps_every_bar_and_a_rule_forces_a_timeframe(daily: tuple, plot: Any) -> None:
    weekly = plot(resample="W")
    assert (
        len(renderer(panel(weekly, "ohlc"), "candles").data_source.data["x"])
        == daily[0].resample("W").size().gt(0).sum()
    )
    assert weekly.children[0][0].title.text.endswith("bars (W bars)")
    assert plot(resample=False).children[0][0].title.text == "Indicators"


# --- Output ---------------------------------------------------------------------------------------


def test_html_is_standalone_with_inline_bokeh(default_chart: tuple) -> None:
    html = default_chart[1].read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "<title>Indicators</title>" in html
    assert len(html) > 1_000_000 and "Bokeh" in html  # BokehJS itself is inlined


def test_default_filename_is_the_strategy_in_the_working_directory(
    daily: tuple, tmp_path: Path, no_html: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(_output.webbrowser, "open", opened.append)
    monkeypatch.chdir(tmp_path)
    data, stats = daily
    plot_backtest(ohlc=data, stats=stats, indicators=[], open_browser=False)
    assert [p.name for p in tmp_path.iterdir()] == ["Indicators.html"] and opened == []
    plot_backtest(ohlc=data, stats=stats, indicators=[], filename="other.html")
    assert opened == [(tmp_path / "other.html").as_uri()]


def test_in_a_notebook_the_chart_shows_inline_unless_a_filename_is_given(
    daily: tuple, tmp_path: Path, no_html: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[Any] = []
    kernel_shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: kernel_shell))
    monkeypatch.setattr(_output, "_bokehjs_loaded", False)  # a fresh session
    hooks = {"load": lambda *args: shown.append("setup"), "doc": lambda layout, *args: shown.append(layout)}
    monkeypatch.setattr(_output, "run_notebook_hook", lambda kind, action, *args: hooks[action](*args))
    monkeypatch.chdir(tmp_path)
    data, stats = daily
    layout = plot_backtest(ohlc=data, stats=stats, indicators=[], open_browser=False)
    assert shown == ["setup", layout] and list(tmp_path.iterdir()) == []
    plot_backtest(ohlc=data, stats=stats, indicators=[], filename="file.html", open_browser=False)
    assert len(shown) == 2 and (tmp_path / "file.html").exists()


@pytest.mark.parametrize(
    ("shell", "expected"),
    [(types.SimpleNamespace(kernel=object()), True), (types.SimpleNamespace(), False), (None, False)],
)
def test_only_a_shell_with_a_kernel_is_a_notebook(
    shell: Any, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert _output.in_notebook() is expected
    monkeypatch.delitem(sys.modules, "IPython")
    assert _output.in_notebook() is False


def test_importing_backtestkit_does_not_import_bokeh() -> None:
    code = "import sys, backtestkit; print('bokeh' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "False\n"
    )


# --- Bad arguments ----------------------------------------------------------------------------------

_RULE = "True, False or a pandas offset alias such as 'W' or 'ME'"
_RESULTS = "the stats that Backtest.run() returned for this data"
_WIDTH = "a whole number of pixels > 0 or None"


@pytest.mark.parametrize(
    ("bad", "exc", "name", "message"),
    [
        (lambda d: {"plot_width": 0}, ValueError, "plot_width", f"{_WIDTH}. Got 0 instead."),
        (lambda d: {"plot_width": 1.5}, TypeError, "plot_width", f"{_WIDTH}. Got 1.5 instead."),
        (lambda d: {"plot_equity": "yes"}, TypeError, "plot_equity", "True or False. Got 'yes' instead."),
        (lambda d: {"superimpose": "bogus"}, ValueError, "superimpose", f"{_RULE}. Got 'bogus' instead."),
        (lambda d: {"superimpose": 5}, TypeError, "superimpose", f"{_RULE}. Got 5 instead."),
        (
            lambda d: {"resample": "1h"},
            ValueError,
            "resample",
            "True, False or a timeframe longer than the bars' spacing (1 days), such as 'ME'. "
            "Got '1h' instead.",
        ),
        (
            lambda d: {"ohlc": d["ohlc"].reset_index(drop=True), "superimpose": "W"},
            ValueError,
            "superimpose",
            "True or False for data without a DatetimeIndex. Got 'W' instead. "
            "Timeframes such as 'W' need bars with timestamps.",
        ),
        (lambda d: {"filename": 3}, TypeError, "filename", "a file path or None. Got 3 instead."),
        (
            lambda d: {"filename": "/no/such/dir/x.html"},
            ValueError,
            "filename",
            "a path in an existing directory. Got '/no/such/dir/x.html' instead.",
        ),
        (lambda d: {"stats": {}}, TypeError, "results", f"{_RESULTS}. Got dict instead."),
        (
            lambda d: {"stats": d["stats"].drop("_trades")},
            ValueError,
            "results",
            f"{_RESULTS}. Got a Series without _trades instead.",
        ),
        (
            lambda d: {"ohlc": d["ohlc"].iloc[:-1]},
            ValueError,
            "results",
            f"{_RESULTS}. Got an _equity_curve unlike the 2499 bars instead.",
        ),
        (lambda d: {"ohlc": [1, 2]}, TypeError, "ohlc", "a DataFrame of OHLC prices. Got list instead."),
        (
            lambda d: {"indicators": "SMA"},
            TypeError,
            "indicators",
            "a sequence of Indicator. Got 'SMA' instead.",
        ),
        (
            lambda d: {"indicators": [Indicator("X", np.zeros(7))]},
            ValueError,
            "indicators",
            "Indicators of 2500 numbers a line. Got 'X' of shape (7,) instead.",
        ),
        (
            lambda d: {"indicators": [Indicator(["a"], np.zeros((2, 2500)))]},
            ValueError,
            "indicators",
            "Indicators named by a string or 2 strings. Got ['a'] instead.",
        ),
    ],
)
def test_bad_arguments_raise_before_any_work(
    bad: Any, exc: type, name: str, message: str, daily: tuple, tmp_path: Path
) -> None:
    data, stats = daily
    kwargs = {
        "ohlc": data,
        "stats": stats,
        "indicators": [],
        "filename": tmp_path / "x.html",
        "open_browser": False,
    }
    with pytest.raises(exc) as info:
        plot_backtest(**{**kwargs, **bad(kwargs)})
    assert str(info.value) == f"The {name!r} parameter of Backtest.plot must be {message}"
    assert list(tmp_path.iterdir()) == []
