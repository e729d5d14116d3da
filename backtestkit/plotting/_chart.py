"""The backtest chart behind ``Backtest.plot()``: equity, P/L, candlesticks with trades, volume, indicators.

Panels are Bokeh figures stacked in a grid, sharing one x range (bar positions, so nights and weekends
leave no gaps), one crosshair and one data source of the plotted bars. Runs longer than ~10k bars are
downsampled first (see ``_downsample``). The page is written as standalone HTML with Bokeh's JS and
CSS inlined: it works offline and loads nothing from the network.
"""

from __future__ import annotations

import itertools
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from bokeh.layouts import gridplot
from bokeh.models import (
    ColumnDataSource,
    CrosshairTool,
    CustomJS,
    CustomJSTicker,
    CustomJSTickFormatter,
    HoverTool,
    LayoutDOM,
    Legend,
    NumeralTickFormatter,
    Range1d,
    Span,
)
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from bokeh.transform import linear_cmap

from backtestkit._errors import Verbatim, param_error, warn
from backtestkit.plotting._downsample import (
    Grouping,
    by_rule,
    check_rule,
    downsampling,
    is_overlay,
    longest_drawdown,
    superimpose_rule,
)
from backtestkit.plotting._output import show_or_write

_UP, _DOWN = "#26a69a", "#ef5350"  # rising candles and winning trades; falling candles and losing trades
_TOOLS = "xpan,xwheel_zoom,box_zoom,undo,redo,reset,save"
_PRICE = "{0,0.0[0000]}"
# Rescales the price (and volume) panel's y range to the bars visible after each x zoom or pan.
_AUTOSCALE = """
const {Low: low, High: high, Volume: volume} = source.data;
const i0 = Math.max(0, Math.floor(cb_obj.start)), i1 = Math.min(high.length - 1, Math.ceil(cb_obj.end));
let lo = Infinity, hi = -Infinity, top = 0;
for (let i = i0; i <= i1; i++) {
    lo = Math.min(lo, low[i]); hi = Math.max(hi, high[i]);
    if (volume[i] > top) top = volume[i];
}
if (hi < lo) return;
const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.01 || 1;
price.start = lo - pad; price.end = hi + pad;
if (volume_range !== null && top > 0) { volume_range.start = 0; volume_range.end = top * 1.05; }
"""

# Date ticks on the x axis (bar positions): at the first bar of a round period (year, month, week, day,
# hour...), the finest kind of period that gives at most 8 ticks in view; the formatter shows as much
# of the date as that period needs ("2016", "2016-03", "2016-03-07", "2016-03-07 14:00").
_CALENDAR_TICKS = """
const labels = source.data.label, n = labels.length;
const i0 = Math.max(1, Math.ceil(cb_data.range.start)), i1 = Math.min(n - 1, Math.floor(cb_data.range.end));
const day = 864e5, year = (t) => new Date(t).getUTCFullYear();
const month = (t) => { const d = new Date(t); return d.getUTCFullYear() * 12 + d.getUTCMonth(); };
const steps = [  // coarse to fine: [unit shown, the period a label falls in]
  ...[50, 20, 10, 5, 2, 1].map((k) => ["year", (t) => Math.floor(year(t) / k)]),
  ...[6, 3, 1].map((k) => ["month", (t) => Math.floor(month(t) / k)]),
  ["day", (t) => Math.floor((t / day + 3) / 7)],  // weeks from Monday (1970-01-01 was a Thursday)
  ["day", (t) => Math.floor(t / day)],
  ...[12, 6, 3, 1].map((k) => ["minute", (t) => Math.floor(t / 36e5 / k)]),
  ...[30, 15, 5, 1].map((k) => ["minute", (t) => Math.floor(t / 6e4 / k)]),
];
let best = [], unit = "day";
for (const [shown, period] of steps) {
  const ticks = [];
  let last = period(labels[i0 - 1]);
  for (let i = i0; i <= i1 && ticks.length <= 8; i++) {
    const p = period(labels[i]);
    if (p !== last) ticks.push(i);
    last = p;
  }
  if (ticks.length > 8) break;
  if (ticks.length >= 1) { best = ticks; unit = shown; }
}
source._tick_unit = unit;
return best;
"""
_DATE_WIDTH = {"year": 4, "month": 7, "day": 10, "minute": 16}  # characters of an ISO time to show


class Indicator(NamedTuple):
    """One indicator as the chart draws it.

    ``values`` is 1-D (one value a bar) or 2-D (one row a line); ``name`` is one label, or one per row.
    ``overlay=None`` draws it on the price panel when its values are mostly (over half of them) within
    0.6–1.4× Close, else in a panel of its own. ``color`` is one colour or one per row (None: a palette).
    """

    name: str | list[str]
    values: np.ndarray
    plot: bool = True
    overlay: bool | None = None
    color: str | list[str] | None = None
    scatter: bool = False


class _Lines(NamedTuple):
    """An indicator ready to draw: its source columns, legend labels and colours, one per row."""

    name: str
    columns: list[str]
    labels: list[str]
    colors: list[str]
    overlay: bool
    scatter: bool


def plot_backtest(
    *,
    ohlc: pd.DataFrame,
    stats: pd.Series,
    indicators: Sequence[Indicator],
    filename: str | os.PathLike[str] | None = None,
    open_browser: bool = True,
    **options: Any,
) -> LayoutDOM:
    """Chart a backtest run (see :func:`backtest_layout`) and write it as a standalone page, or show it.

    Parameters:
        ohlc, stats, indicators, options: The run and the chart's options, as for :func:`backtest_layout`.
        filename: HTML file to write; None writes ``<StrategyClass>.html`` in the working directory,
            except in a Jupyter notebook, where the chart shows inline instead.
        open_browser: Open the written file in a web browser. False never opens anything.

    Returns:
        The Bokeh layout (a GridPlot of the panels).

    Raises:
        TypeError, ValueError: For a bad argument, before anything is drawn or written.

    Example:
        >>> import tempfile
        >>> from backtestkit import Backtest, Strategy
        >>> from backtestkit.datasets import load_daily
        >>> data = load_daily().iloc[:300]
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     page = Path(folder) / "chart.html"
        ...     layout = plot_backtest(ohlc=data, stats=Backtest(data, Strategy).run(), indicators=[],
        ...                            filename=page, open_browser=False)
        ...     print(page.stat().st_size > 1_000_000)  # a standalone page, BokehJS inlined
        True
    """
    _check_output(filename, open_browser)
    layout = backtest_layout(ohlc=ohlc, stats=stats, indicators=indicators, **options)
    title = layout.children[0][0].title.text  # the top panel carries the chart's title
    show_or_write(layout, filename, title=title, strategy=stats["_strategy"], open_browser=open_browser)
    return layout


def backtest_layout(
    *,
    ohlc: pd.DataFrame,
    stats: pd.Series,
    indicators: Sequence[Indicator],
    plot_width: int | None = None,
    plot_equity: bool = True,
    plot_return: bool = False,
    plot_pl: bool = True,
    plot_volume: bool = True,
    plot_drawdown: bool = False,
    plot_trades: bool = True,
    smooth_equity: bool = False,
    relative_equity: bool = True,
    superimpose: bool | str = True,
    resample: bool | str = True,
    reverse_indicators: bool = False,
    show_legend: bool = True,
) -> LayoutDOM:
    """The chart of a backtest run as a Bokeh layout, without writing or showing anything.

    Panels from top: equity (``plot_equity``; relative to the starting cash when ``relative_equity``,
    with its peak, final value, deepest drawdown and longest drawdown marked), cumulative return
    (``plot_return``), drawdown (``plot_drawdown``), P/L of each trade at its exit (``plot_pl``, when
    there are trades; ▲ long, ▼ short, sized by ``|Size|``), candlesticks with each trade drawn from
    entry to exit (``plot_trades``) and the indicators overlaid on price, volume (``plot_volume``, when
    the data has any), then one panel per other indicator (in reverse order if ``reverse_indicators``).
    ``smooth_equity`` draws equity as straight lines between trade exits. ``superimpose`` draws faint
    candles of a coarser timeframe behind the bars: True picks one from the bar spacing (daily bars →
    months), a pandas rule ('W', 'ME') chooses it, False turns them off; needs a DatetimeIndex.
    ``resample=True`` downsamples runs longer than 10,000 bars to at most 10,000 (a pandas rule such
    as '4h' forces that timeframe; False keeps every bar), noting it in the title.

    Parameters:
        ohlc: The run's OHLC(V) bars (any index; x is the bar position, labelled with the index).
        stats: The run's stats from ``Backtest.run`` (``_equity_curve``, ``_trades``, ``_strategy``).
        indicators: The strategy's indicators; those with ``plot=False`` are left out.
        plot_width: Width in pixels, the toolbar (about 30 px) not included; None stretches to the
            page's (or the enclosing layout's) width.
        Other flags: as described above.

    Returns:
        The Bokeh layout (a GridPlot of the panels, the top one titled with the strategy).

    Raises:
        TypeError, ValueError: For a bad argument, before anything is drawn. Their messages name
            ``Backtest.plot``, the public front door, and call ``stats`` by its name there, 'results'.

    Example:
        >>> from backtestkit import Backtest, Strategy
        >>> from backtestkit.datasets import load_daily
        >>> data = load_daily().iloc[:300]
        >>> layout = backtest_layout(ohlc=data, stats=Backtest(data, Strategy).run(), indicators=[])
        >>> [panel.name for panel, *_ in layout.children]
        ['equity', 'ohlc', 'volume']
    """
    flags = {"plot_equity": plot_equity, "plot_return": plot_return, "plot_pl": plot_pl,
             "plot_volume": plot_volume, "plot_drawdown": plot_drawdown, "plot_trades": plot_trades,
             "smooth_equity": smooth_equity, "relative_equity": relative_equity,
             "reverse_indicators": reverse_indicators, "show_legend": show_legend}  # fmt: skip
    _check_data(ohlc, stats, indicators)
    _check_options(ohlc.index, plot_width, superimpose, resample, flags)
    grouping, note = downsampling(ohlc.index, resample)
    chart = _Chart(grouping.ohlcv(ohlc), grouping, plot_width)
    curve, trades = stats["_equity_curve"], stats["_trades"]
    lines = _indicator_lines(chart, ohlc["Close"].to_numpy(np.float64), indicators)
    trade_source = _trades_source(chart, ohlc.index, trades)
    rule = superimpose_rule(chart.bars.index, superimpose)
    panels = [
        _equity_panel(chart, curve, trade_source, relative_equity, smooth_equity) if plot_equity else None,
        _return_panel(chart, curve) if plot_return else None,
        _drawdown_panel(chart, curve) if plot_drawdown else None,
        _pl_panel(chart, trade_source) if plot_pl and len(trades) else None,
        _ohlc_panel(chart, rule, trade_source if plot_trades else None, [x for x in lines if x.overlay]),
        _volume_panel(chart) if plot_volume and chart.bars["Volume"].notna().any() else None,
    ]
    below = [_indicator_panel(chart, x) for x in lines if not x.overlay]
    panels = [p for p in panels if p is not None] + below[:: -1 if reverse_indicators else 1]
    _autoscale(chart, panels)
    title = str(stats["_strategy"]) + (f" — {note}" if note else "")
    return chart.layout(panels, title, show_legend)


class _Chart:
    """What the panels share: the plotted bars and their data source, the x range, crosshair and labels."""

    def __init__(self, bars: pd.DataFrame, grouping: Grouping, width: int | None) -> None:
        self.bars, self.grouping = bars, grouping
        self.is_datetime = isinstance(bars.index, pd.DatetimeIndex)
        midnights = self.is_datetime and bool((bars.index == bars.index.normalize()).all())
        self.time_format = "%F" if midnights else "%F %R"
        n_bars = len(bars)
        self.source = ColumnDataSource({
            "x": np.arange(n_bars), "label": self.labels(bars.index),
            **{name: bars[name].to_numpy(np.float64) for name in ("Open", "High", "Low", "Close", "Volume")},
            "inc": (bars["Close"] >= bars["Open"]).to_numpy(np.uint8),
        })  # fmt: skip
        pad = max(1.0, n_bars / 100)
        self.x_range = Range1d(-pad, n_bars - 1 + pad, bounds=(-pad, n_bars - 1 + pad),
                               min_interval=min(10, n_bars))  # fmt: skip
        self.crosshair = Span(dimension="height", line_dash="dotted", line_width=1)
        self.size: dict[str, Any] = {"width": width} if width else {"sizing_mode": "stretch_width"}

    @staticmethod
    def labels(index: pd.Index) -> np.ndarray:
        """Index labels as the page stores them: datetimes as ms since 1970 (of their wall-clock time)."""
        if isinstance(index, pd.DatetimeIndex):
            naive = index.tz_localize(None) if index.tz is not None else index
            return ((naive - pd.Timestamp(0)) / pd.Timedelta(1, "ms")).to_numpy(np.float64)
        return index.to_numpy()

    def figure(self, name: str, height: int, y_label: str | None = None, y_format: str = "") -> figure:
        fig = figure(name=name, height=height, x_range=self.x_range, tools=_TOOLS, active_drag="xpan",
                     active_scroll="xwheel_zoom", y_axis_label=y_label, min_border_left=0, min_border_top=3,
                     min_border_bottom=6, min_border_right=10, **self.size)  # fmt: skip
        fig.xaxis.visible = False
        if y_format:
            fig.yaxis.formatter = NumeralTickFormatter(format=y_format)
        horizontal = Span(dimension="width", line_dash="dotted", line_width=1)
        fig.add_tools(CrosshairTool(overlay=(self.crosshair, horizontal)))
        return fig

    def time(self, field: str) -> str:
        """A tooltip field showing an index label: a formatted time, or the label as it is."""
        return f"@{field}{{{self.time_format}}}" if self.is_datetime else f"@{field}"

    def hover(self, fig: figure, renderer: Any, tips: list[tuple[str, str]], times: tuple[str, ...],
              mode: str) -> None:  # fmt: skip
        formatters = {f"@{field}": "datetime" for field in times} if self.is_datetime else {}
        fig.add_tools(HoverTool(renderers=[renderer], tooltips=tips, formatters=formatters, mode=mode,
                                point_policy="follow_mouse"))  # fmt: skip

    def hover_bars(self, fig: figure, renderer: Any, tips: list[tuple[str, str]]) -> None:
        first = ("Time" if self.is_datetime else "Bar", self.time("label"))
        self.hover(fig, renderer, [first, *tips], ("label",), "vline")

    def hover_trades(self, fig: figure, renderer: Any) -> None:
        tips = [("Size", "@Size{0,0.[0000]}"), ("Entry", f"{self.time('entry_time')}  @EntryPrice{_PRICE}"),
                ("Exit", f"{self.time('exit_time')}  @ExitPrice{_PRICE}"), ("P/L", "@PnL{$0,0.00}"),
                ("Return", "@ReturnPct{+0.[00]%}")]  # fmt: skip
        self.hover(fig, renderer, tips, ("entry_time", "exit_time"), "mouse")

    def layout(self, panels: list[figure], title: str, show_legend: bool) -> LayoutDOM:
        """The panels stacked in a grid, the title on top and the labelled x axis at the bottom."""
        panels[0].title.text = title
        axis = panels[-1].xaxis[0]
        axis.visible = True
        axis.ticker.min_interval = 1
        if self.is_datetime:
            axis.ticker = CustomJSTicker(args={"source": self.source}, major_code=_CALENDAR_TICKS)
            for panel in panels:  # vertical grid lines on the date ticks
                panel.xgrid.ticker = axis.ticker
        shown = (f"new Date(v).toISOString().slice(0, ({_DATE_WIDTH})[source._tick_unit] || 16)"
                 '.replace("T", " ")')
        axis.formatter = CustomJSTickFormatter(args={"source": self.source}, code=(
            "const labels = source.data.label, i = Math.round(tick);\n"
            "if (i < 0 || i >= labels.length) return '';\n"
            f"const v = labels[i];\nreturn {shown if self.is_datetime else 'String(v)'};"))  # fmt: skip
        for panel in panels:
            for legend in panel.select(type=Legend):
                legend.update(location="top_left", click_policy="hide", visible=show_legend, spacing=0,
                              padding=3, margin=4, background_fill_alpha=0.8, label_text_font_size="8pt",
                              label_height=12, glyph_height=12)  # fmt: skip
        return gridplot([[panel] for panel in panels], toolbar_location="right", merge_tools=True,
                        sizing_mode=self.size.get("sizing_mode"))  # fmt: skip


def _by_sign(field: str) -> Any:
    """Colour by a 0/1 column: falling/losing red, rising/winning green."""
    return linear_cmap(field, [_DOWN, _UP], 0, 1)


def _line_panel(chart: _Chart, name: str, values: np.ndarray, y_label: str, y_format: str,
                tip: str) -> figure:  # fmt: skip
    """A panel with one line of ``values`` (one a plotted bar), stored in the source as column ``name``."""
    chart.source.data[name] = values
    fig = chart.figure(name, 100, y_label, y_format)
    line = fig.line("x", name, source=chart.source, line_width=1.5, line_color="#1f77b4", name=name)
    chart.hover_bars(fig, line, [(y_label, f"@{name}{tip}")])
    return fig


def _equity_panel(chart: _Chart, curve: pd.DataFrame, trades: ColumnDataSource, relative: bool,
                  smooth: bool) -> figure:  # fmt: skip
    """Equity with its drawdowns shaded; the peak, final value, deepest and longest drawdown marked."""
    equity = curve["Equity"].to_numpy(np.float64)
    equity = equity / equity[0] if relative else equity
    plotted = chart.grouping.last(equity)
    if smooth:  # straight lines between the trades' exits
        knots = np.unique(np.concatenate(([0, len(plotted) - 1], trades.data["exit_x"])))
        plotted = np.interp(np.arange(len(plotted)), knots, plotted[knots])
    chart.source.data["equity_peak"] = np.maximum.accumulate(plotted)
    formats = ("0,0.[00]%", "{0,0.[00]%}", "{:,.0%}") if relative else ("$0,0", "{$0,0.00}", "${:,.0f}")
    fig = _line_panel(chart, "equity", plotted, "Equity", *formats[:2])
    fig.varea("x", "equity", "equity_peak", source=chart.source, fill_color="#ffe680", fill_alpha=0.4,
              level="underlay")  # fmt: skip
    drawdown, to_x, text = curve["DrawdownPct"].to_numpy(np.float64), chart.grouping.groups, formats[2]
    peak, deepest, last = int(np.nanargmax(equity)), int(np.nanargmax(drawdown)), len(equity) - 1
    marks = [(peak, "cyan", f"Peak ({text.format(equity[peak])})"),
             (last, "blue", f"Final ({text.format(equity[last])})")]  # fmt: skip
    if drawdown[deepest] > 0:
        marks.append((deepest, "red", f"Max Drawdown ({-drawdown[deepest]:.1%})"))
    for bar, color, label in marks:
        fig.scatter([to_x[bar]], [equity[bar]], color=color, size=8, legend_label=label)
    longest = longest_drawdown(curve)
    if longest is not None:
        start, end, duration = longest
        fig.line([to_x[start], to_x[end]], [equity[start]] * 2, line_color="red", line_width=2,
                 legend_label=f"Max Dd Dur. ({duration})")  # fmt: skip
    return fig


def _return_panel(chart: _Chart, curve: pd.DataFrame) -> figure:
    equity = curve["Equity"].to_numpy(np.float64)
    returns = chart.grouping.last(equity) / equity[0] - 1
    fig = _line_panel(chart, "return", returns, "Return", "0,0.[00]%", "{+0,0.[00]%}")
    fig.scatter([len(returns) - 1], [returns[-1]], color="blue", size=8,
                legend_label=f"Final ({returns[-1]:+.1%})")  # fmt: skip
    return fig


def _drawdown_panel(chart: _Chart, curve: pd.DataFrame) -> figure:
    """Drawdown below zero ("underwater"), the deepest point marked."""
    drawdown = curve["DrawdownPct"].to_numpy(np.float64)
    fig = _line_panel(chart, "drawdown", -chart.grouping.max(drawdown), "Drawdown", "0.[0]%", "{0.[00]%}")
    fig.varea("x", 0, "drawdown", source=chart.source, fill_color=_DOWN, fill_alpha=0.2, level="underlay")
    deepest = int(np.nanargmax(drawdown))
    if drawdown[deepest] > 0:
        fig.scatter([chart.grouping.groups[deepest]], [-drawdown[deepest]], color="red", size=8,
                    legend_label=f"Max Drawdown ({-drawdown[deepest]:.1%})")  # fmt: skip
    return fig


def _trades_source(chart: _Chart, index: pd.Index, trades: pd.DataFrame) -> ColumnDataSource:
    """One row per trade: where it enters and exits on the plotted bars, its prices, size and result."""
    entry, exit_ = (trades[column].to_numpy(np.int64) for column in ("EntryBar", "ExitBar"))
    names = ("Size", "EntryPrice", "ExitPrice", "PnL", "ReturnPct")
    columns = {name: trades[name].to_numpy(np.float64) for name in names}
    sizes = np.abs(columns["Size"])
    low, high = (sizes.min(), sizes.max()) if len(sizes) else (0.0, 0.0)
    return ColumnDataSource({
        **columns,
        "entry_x": chart.grouping.groups[entry], "exit_x": chart.grouping.groups[exit_],
        "entry_time": chart.labels(index[entry]), "exit_time": chart.labels(index[exit_]),
        "positive": (columns["PnL"] > 0).astype(np.uint8),
        "marker": np.where(columns["Size"] > 0, "triangle", "inverted_triangle").tolist(),
        "marker_size": 8 + 12 * (sizes - low) / (high - low) if high > low else np.full(len(sizes), 11.0),
    })  # fmt: skip


def _pl_panel(chart: _Chart, trades: ColumnDataSource) -> figure:
    """Each trade's return at its exit bar, a line back to its entry; ▲ long, ▼ short, sized by |Size|."""
    fig = chart.figure("pl", 90, "Profit / Loss", "0.[00]%")
    fig.add_layout(Span(location=0, dimension="width", line_color="#666666", line_dash="dashed"))
    fig.segment("entry_x", "ReturnPct", "exit_x", "ReturnPct", source=trades, line_color="#999999")
    marks = fig.scatter("exit_x", "ReturnPct", source=trades, marker="marker", size="marker_size",
                        fill_color=_by_sign("positive"), line_color="black", line_width=0.5,
                        name="pl")  # fmt: skip
    chart.hover_trades(fig, marks)
    return fig


def _ohlc_panel(chart: _Chart, rule: str | None, trades: ColumnDataSource | None,
                overlays: list[_Lines]) -> figure:  # fmt: skip
    """Candlesticks, the superimposed coarser candles, the trades, and the indicators drawn on price."""
    fig = chart.figure("ohlc", 400)
    fig.y_range = Range1d(*_padded(chart.bars["Low"].min(), chart.bars["High"].max()))
    if rule is not None:
        _superimpose(chart, fig, rule)
    fig.segment("x", "High", "x", "Low", source=chart.source, line_color=_by_sign("inc"))
    candles = fig.vbar("x", 0.8, "Open", "Close", source=chart.source, fill_color=_by_sign("inc"),
                       line_color=_by_sign("inc"), legend_label="OHLC", name="candles")  # fmt: skip
    n_trades = len(trades.data["Size"]) if trades is not None else 0
    if n_trades:
        lines = fig.segment("entry_x", "EntryPrice", "exit_x", "ExitPrice", source=trades, line_width=3,
                            line_color=_by_sign("positive"), line_dash="dashed",
                            legend_label=f"Trades ({n_trades})", name="trades")  # fmt: skip
        chart.hover_trades(fig, lines)
    ohlc = "  ".join(f"@{column}{_PRICE}" for column in ("Open", "High", "Low", "Close"))
    tips = [("OHLC", ohlc), ("Volume", "@Volume{0,0}")]
    for lines in overlays:
        tips += _draw_lines(chart, fig, lines)
    chart.hover_bars(fig, candles, tips)
    return fig


def _padded(low: float, high: float) -> tuple[float, float]:
    """A y range around [low, high] with 5% room (as the autoscale callback makes it)."""
    pad = (high - low) * 0.05 or abs(high) * 0.01 or 1.0
    return float(low - pad), float(high + pad)


def _superimpose(chart: _Chart, fig: figure, rule: str) -> None:
    """Faint candles of ``rule``'s periods behind the bars, each as wide as the bars it covers."""
    groups = by_rule(chart.bars.index, rule)
    if len(groups) == len(chart.bars):
        return
    candles = groups.ohlcv(chart.bars)
    source = ColumnDataSource({
        "x": (groups.starts + groups.ends) / 2, "width": (groups.ends - groups.starts + 1).astype(np.float64),
        **{name: candles[name].to_numpy() for name in ("Open", "High", "Low", "Close")},
        "inc": (candles["Close"] >= candles["Open"]).to_numpy(np.uint8),
    })  # fmt: skip
    fig.segment("x", "High", "x", "Low", source=source, line_color="#bbbbbb", line_alpha=0.6)
    fig.vbar("x", "width", "Open", "Close", source=source, fill_color=_by_sign("inc"), fill_alpha=0.15,
             line_color=None, name="superimposed")  # fmt: skip


def _volume_panel(chart: _Chart) -> figure:
    fig = chart.figure("volume", 80, "Volume", "0 a")
    fig.yaxis.ticker.desired_num_ticks = 2  # 0 and a round number or two: more do not fit 80 px
    fig.yaxis.minor_tick_line_color = None
    top = float(chart.bars["Volume"].max())
    fig.y_range = Range1d(0, top * 1.05 if top > 0 else 1.0)
    bars = fig.vbar("x", 0.8, "Volume", source=chart.source, fill_color=_by_sign("inc"),
                    line_color=_by_sign("inc"), name="volume")  # fmt: skip
    chart.hover_bars(fig, bars, [("Volume", "@Volume{0,0}")])
    return fig


def _indicator_lines(chart: _Chart, close: np.ndarray, indicators: Sequence[Indicator]) -> list[_Lines]:
    """The indicators to plot, averaged over each plotted bar and stored in the source, ready to draw."""
    palette, result = itertools.cycle(Category10_10), []
    for i, indicator in enumerate(x for x in indicators if x.plot):
        values = _numbers(indicator)
        if values is None:
            continue
        columns = [f"indicator{i}_{j}" for j in range(len(values))]
        chart.source.data.update(zip(columns, chart.grouping.mean(values), strict=True))
        labels = _row_labels(indicator.name, len(values))
        if indicator.color is None:
            colors = [next(palette) for _ in columns]
        else:
            given = [indicator.color] if isinstance(indicator.color, str) else list(indicator.color)
            colors = [given[j % len(given)] for j in range(len(columns))]
        overlay = is_overlay(values, close) if indicator.overlay is None else bool(indicator.overlay)
        result.append(_Lines(", ".join(labels), columns, labels, colors, overlay, bool(indicator.scatter)))
    return result


def _numbers(indicator: Indicator) -> np.ndarray | None:
    """An indicator's values as 2-D float64, or None (with a warning) if they are not numbers (text,
    dates)."""
    values = np.asarray(indicator.values)
    if values.dtype.kind in "biuf":
        return np.atleast_2d(values.astype(np.float64, copy=False))
    if values.dtype.kind == "O":  # numbers and None (as NaN), say
        try:
            return np.atleast_2d(values.astype(np.float64))
        except (TypeError, ValueError):
            pass
    warn(f"{_OWNER}: indicator {indicator.name!r} is left out of the chart: its values are not numbers "
         f"(dtype {values.dtype}).")
    return None


def _row_labels(name: str | list[str], rows: int) -> list[str]:
    """One legend label per line: the name, ``name_0``, ``name_1``, ... or the names given.

    >>> _row_labels("SMA", 1), _row_labels("BB", 2), _row_labels(["upper", "lower"], 2)
    (['SMA'], ['BB_0', 'BB_1'], ['upper', 'lower'])
    """
    if not isinstance(name, str):
        return list(name)
    return [name] if rows == 1 else [f"{name}_{j}" for j in range(rows)]


def _draw_lines(chart: _Chart, fig: figure, lines: _Lines) -> list[tuple[str, str]]:
    """Draw an indicator's lines (or dots, if ``scatter``); return their hover tooltip rows."""
    rows = list(zip(lines.columns, lines.labels, lines.colors, strict=True))
    for column, label, color in rows:
        style = {"source": chart.source, "legend_label": label, "name": column}
        if lines.scatter:
            fig.scatter("x", column, color=color, size=5, **style)
        else:
            fig.line("x", column, line_color=color, line_width=1.3, **style)
    return [(label, f"@{column}{_PRICE}") for column, label, _ in rows]


def _indicator_panel(chart: _Chart, lines: _Lines) -> figure:
    fig = chart.figure(f"indicator:{lines.name}", 90)
    tips = _draw_lines(chart, fig, lines)
    chart.hover_bars(fig, fig.renderers[0], tips)
    return fig


def _autoscale(chart: _Chart, panels: list[figure]) -> None:
    """Rescale the price and volume panels' y ranges to the visible bars whenever the x range changes."""
    by_name = {panel.name: panel for panel in panels}
    ranges = {"price": by_name["ohlc"].y_range,
              "volume_range": by_name["volume"].y_range if "volume" in by_name else None}  # fmt: skip
    callback = CustomJS(args={"source": chart.source, **ranges}, code=_AUTOSCALE)
    chart.x_range.js_on_change("start", callback)
    chart.x_range.js_on_change("end", callback)


_OWNER = "Backtest.plot"
_TRADE_COLUMNS = ("Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "ReturnPct")


def _check_data(ohlc: object, stats: object, indicators: object) -> None:
    """Check the run's bars, stats and indicators fit together (one bar count, the columns drawn)."""
    if not isinstance(ohlc, pd.DataFrame):
        raise param_error(_OWNER, "ohlc", "a DataFrame of OHLC prices", Verbatim(type(ohlc).__name__),
                          exc=TypeError)  # fmt: skip
    if len(ohlc) == 0 or not {"Open", "High", "Low", "Close"} <= set(ohlc):
        got = Verbatim(f"{len(ohlc)} rows of columns {list(ohlc.columns)}")
        raise param_error(_OWNER, "ohlc", "a non-empty DataFrame with 'Open', 'High', 'Low', 'Close'", got)
    _check_stats(stats, len(ohlc))
    _check_indicators(indicators, len(ohlc))


def _check_stats(stats: object, n_bars: int) -> None:
    expected = "the stats that Backtest.run() returned for this data"
    if not isinstance(stats, pd.Series):
        raise param_error(_OWNER, "results", expected, Verbatim(type(stats).__name__), exc=TypeError)
    missing = [key for key in ("_equity_curve", "_trades", "_strategy") if key not in stats.index]
    if missing:
        raise param_error(_OWNER, "results", expected, Verbatim(f"a Series without {', '.join(missing)}"))
    curve, trades = stats["_equity_curve"], stats["_trades"]
    columns = {"Equity", "DrawdownPct", "DrawdownDuration"}
    if not isinstance(curve, pd.DataFrame) or len(curve) != n_bars or not columns <= set(curve):
        raise param_error(_OWNER, "results", expected, Verbatim(f"an _equity_curve unlike the {n_bars} bars"))
    if not isinstance(trades, pd.DataFrame) or not set(_TRADE_COLUMNS) <= set(trades):
        raise param_error(_OWNER, "results", expected, Verbatim("_trades without the trade columns"))
    bars = trades[["EntryBar", "ExitBar"]].to_numpy()
    if bars.size and (bars.min() < 0 or bars.max() >= n_bars):
        raise param_error(_OWNER, "results", expected, Verbatim(f"trades beyond the {n_bars} bars"))


def _check_indicators(indicators: object, n_bars: int) -> None:
    if isinstance(indicators, str) or not isinstance(indicators, Sequence) \
            or not all(isinstance(x, Indicator) for x in indicators):  # fmt: skip
        raise param_error(_OWNER, "indicators", "a sequence of Indicator", indicators, exc=TypeError)
    for indicator in indicators:
        values = np.asarray(indicator.values)
        if values.ndim not in (1, 2) or values.shape[-1] != n_bars:
            raise param_error(_OWNER, "indicators", f"Indicators of {n_bars} numbers a line",
                              Verbatim(f"{indicator.name!r} of shape {values.shape}"))  # fmt: skip
        rows, name = (1 if values.ndim == 1 else len(values)), indicator.name
        if not isinstance(name, str) and not (isinstance(name, (list, tuple)) and len(name) == rows
                                              and all(isinstance(n, str) for n in name)):  # fmt: skip
            raise param_error(_OWNER, "indicators", f"Indicators named by a string or {rows} strings", name)


def _check_output(filename: object, open_browser: object) -> None:
    if not isinstance(open_browser, (bool, np.bool_)):
        raise param_error(_OWNER, "open_browser", "True or False", open_browser, exc=TypeError)
    if filename is not None and not isinstance(filename, (str, os.PathLike)):
        raise param_error(_OWNER, "filename", "a file path or None", filename, exc=TypeError)
    if filename is not None and not Path(filename).parent.is_dir():
        raise param_error(_OWNER, "filename", "a path in an existing directory", filename)


def _check_options(index: pd.Index, plot_width: object, superimpose: object, resample: object,
                   flags: dict[str, object]) -> None:  # fmt: skip
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise param_error(_OWNER, name, "True or False", value, exc=TypeError)
    if plot_width is not None:
        expected = "a whole number of pixels > 0 or None"
        if isinstance(plot_width, bool) or not isinstance(plot_width, numbers.Integral):
            raise param_error(_OWNER, "plot_width", expected, plot_width, exc=TypeError)
        if plot_width <= 0:
            raise param_error(_OWNER, "plot_width", expected, plot_width)
    check_rule(_OWNER, "superimpose", superimpose, index)
    check_rule(_OWNER, "resample", resample, index)
