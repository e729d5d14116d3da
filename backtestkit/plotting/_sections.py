"""The report's sections about the trials and the best run: how the objective responds to each
parameter, how it is distributed over every trial, and the best run's stats and trades."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, HoverTool, InlineStyleSheet, LayoutDOM, Span
from bokeh.plotting import figure

from backtestkit.plotting._page import PAGE_WIDTH, data_table, div, value_text

TOOLS = "save,reset,box_zoom,wheel_zoom,pan"
LINE_COLOR = "#1f5fa8"
BEST_COLOR = "#d62728"
#: The best run's trades table shows this many rows before it scrolls.
TRADE_ROWS = 15
#: Columns of the best run's stats grid.
STATS_COLUMNS = 3


def sensitivity_section(
    style: InlineStyleSheet, sensitivity: Mapping[str, pd.Series], objective: str, best: Mapping[str, Any]
) -> list[LayoutDOM]:
    """One plot per parameter: the objective against its values, the other parameters at their best."""
    if len(sensitivity) < 2:  # one parameter: the heatmap section already is this plot
        return []
    ncols = min(len(sensitivity), 3)
    width = (PAGE_WIDTH - 40) // ncols
    figures = [
        _sensitivity_plot(series, name, objective, best[name], width) for name, series in sensitivity.items()
    ]
    others = ", ".join(f"{name} = {value_text(value)}" for name, value in best.items())
    note = (
        f"{objective} against each parameter, the others at the best set's values ({others}); the "
        "red point is the best run. A peak that falls away on both sides is more likely luck than a "
        "plateau. Only the combinations that were run are drawn."
    )
    heading = div(style, f"<h2>Sensitivity</h2><p class='note'>{escape(note)}</p>")
    return [heading, gridplot(figures, ncols=ncols, toolbar_location="right")]  # type: ignore[arg-type]


def _sensitivity_plot(series: pd.Series, name: str, objective: str, best: Any, width: int) -> Any:
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in series.index)
    x = list(series.index) if numeric else [str(v) for v in series.index]
    kwargs: dict[str, Any] = {} if numeric else {"x_range": x}
    fig = figure(width=width, height=260, x_axis_label=name, y_axis_label=objective, tools=TOOLS, **kwargs)
    source = ColumnDataSource(
        {"x": x, "value": series.to_numpy(float), "label": [value_text(v) for v in series.index]}
    )
    fig.line("x", "value", source=source, color=LINE_COLOR, line_width=2)
    fig.scatter("x", "value", source=source, color=LINE_COLOR, size=6)
    at_best = [i for i, v in enumerate(series.index) if v == best]
    if at_best:
        fig.scatter([x[at_best[0]]], [series.iloc[at_best[0]]], color=BEST_COLOR, size=11)
    fig.add_tools(HoverTool(tooltips=[(name, "@label"), (objective, "@value")]))
    fig.toolbar.logo = None
    return fig


def distribution_section(
    style: InlineStyleSheet, values: pd.Series, objective: str, best: float
) -> list[LayoutDOM]:
    """A histogram of the objective over every trial that scored; the best value marked."""
    finite = values.to_numpy(float)
    finite = finite[np.isfinite(finite)]
    n_nan = len(values) - len(finite)
    note = f"{objective} of the {len(finite):,} trials that scored"
    note += f"; {n_nan:,} more ran without a value (no trades) and are not drawn." if n_nan else "."
    note += " The red line is the best value."
    heading = div(style, f"<h2>Distribution of {escape(objective)}</h2><p class='note'>{escape(note)}</p>")
    if not len(finite):
        return [heading]
    bins = int(np.clip(math.sqrt(len(finite)) * 2, 10, 50))
    counts, edges = np.histogram(finite, bins=bins if np.ptp(finite) > 0 else 1)
    fig = figure(width=PAGE_WIDTH, height=240, x_axis_label=objective, y_axis_label="trials", tools=TOOLS)
    source = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "count": counts})
    fig.quad(
        left="left",
        right="right",
        bottom=0,
        top="count",
        source=source,
        fill_color=LINE_COLOR,
        fill_alpha=0.7,
        line_color="white",
    )
    if math.isfinite(best):
        fig.add_layout(
            Span(location=best, dimension="height", line_color=BEST_COLOR, line_width=2, line_dash="dashed")
        )
    fig.add_tools(
        HoverTool(tooltips=[(objective, "@left{0.[0000]} to @right{0.[0000]}"), ("trials", "@count")])
    )
    fig.y_range.start = 0
    fig.toolbar.logo = None
    return [heading, fig]


def best_run_section(
    style: InlineStyleSheet,
    best: str,
    stats: pd.Series | None,
    trades: pd.DataFrame | None,
    chart: LayoutDOM | None,
    no_chart: str,
) -> list[LayoutDOM]:
    """The best run's stats as a grid, its trades as a sortable table, and its chart (or why not)."""
    parts = f"<h2>Best run: {escape(best)}</h2>"
    if stats is not None:
        parts += f"<h3>Stats</h3>{stats_grid(stats)}"
    sections: list[LayoutDOM] = [div(style, parts)]
    if trades is not None:
        shown = trades.reset_index(drop=True).dropna(axis="columns", how="all")
        note = (
            f"{len(trades):,} trade{'s' * (len(trades) != 1)}; click a column's header to sort by it."
            if len(trades)
            else "No trades."
        )
        if len(shown.columns) < len(trades.columns):
            empty = [str(name) for name in trades.columns if name not in shown.columns]
            note += f" Columns with no value are left out ({', '.join(empty)})."
        sections.append(div(style, f"<h3>Trades</h3><p class='note'>{escape(note)}</p>"))
        if len(trades):
            sections.append(data_table(shown, max_rows=TRADE_ROWS))
    if chart is None:
        sections.append(div(style, f"<h3>Chart</h3><p class='note'>{no_chart}</p>"))
    else:
        sections += [div(style, "<h3>Chart</h3>"), chart]
    return sections


def stats_grid(stats: pd.Series) -> str:
    """Every stat (``_``-prefixed frames left out) as name/value pairs, filled column by column.

    >>> stats_grid(pd.Series({'# Trades': 3, '_trades': None, 'SQN': 1.5}))
    "<table class='stats'><tr><th># Trades</th><td>3</td><th>SQN</th><td>1.5</td></tr></table>"
    """
    shown = [(str(name), value_text(value)) for name, value in stats.items() if not str(name).startswith("_")]
    n_rows = math.ceil(len(shown) / STATS_COLUMNS)
    rows = []
    for row in range(n_rows):
        cells = shown[row::n_rows]
        rows.append("".join(f"<th>{escape(name)}</th><td>{escape(text)}</td>" for name, text in cells))
    return "<table class='stats'>" + "".join(f"<tr>{row}</tr>" for row in rows) + "</table>"
