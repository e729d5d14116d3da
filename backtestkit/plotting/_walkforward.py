"""Sections for holdout and walk-forward results: fact tables, their tables, in-sample against
out-of-sample scatter, and the parameter drift across walk-forward windows."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column, gridplot
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM
from bokeh.plotting import figure

from backtestkit.plotting._page import PAGE_WIDTH, data_table, div, facts_table, stylesheet, value_text
from backtestkit.plotting._sections import BEST_COLOR, LINE_COLOR, TOOLS


def _params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} = {value_text(value)}" for name, value in params.items())


def holdout_section(*, table: pd.DataFrame, objective: str, rank_correlation: float,
                    params: Mapping[str, Any], periods: Mapping[str, str],
                    final_stats: pd.Series | None) -> LayoutDOM:
    """A holdout result: what was trained and tested on, the candidates' table and their IS/OOS scatter."""
    style = stylesheet()
    facts = {f"{part.capitalize()} bars": escape(text) for part, text in periods.items()}
    facts["Selected"] = escape(_params_text(params))
    facts[f"Rank correlation of {objective}, IS vs OOS"] = value_text(rank_correlation)
    if final_stats is not None:
        keys = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades")
        facts["Final holdout"] = escape(", ".join(f"{key} {value_text(final_stats[key])}" for key in keys))
    note = ("Each candidate's in-sample (IS, training bars) and out-of-sample (OOS, test bars) results side "
            "by side. A rank correlation near 1 means the search's ranking holds on unseen bars; near 0 or "
            "below, the in-sample ranking is mostly luck.")
    heading = div(style, f"<h2>Holdout</h2><p class='note'>{escape(note)}</p>{facts_table(facts)}")
    scatter = _is_oos_scatter(table[f"IS {objective}"], table[f"OOS {objective}"], table["selected"],
                              objective, "candidate")
    return column([heading, data_table(table, rank=True), scatter], width=PAGE_WIDTH)


def _is_oos_scatter(in_sample: pd.Series, out_of_sample: pd.Series, marked: pd.Series, objective: str,
                    what: str) -> Any:
    fig = figure(width=PAGE_WIDTH // 2, height=320, x_axis_label=f"in-sample {objective}",
                 y_axis_label=f"out-of-sample {objective}", tools=TOOLS)
    x, y = in_sample.to_numpy(float), out_of_sample.to_numpy(float)
    chosen = marked.to_numpy(bool)
    source = ColumnDataSource({"x": x, "y": y, "n": np.arange(1, len(x) + 1),
                               "color": np.where(chosen, BEST_COLOR, LINE_COLOR)})
    fig.scatter("x", "y", source=source, color="color", size=9, alpha=0.8)
    fig.add_tools(HoverTool(tooltips=[(what, "@n"), ("IS", "@x{0.[0000]}"), ("OOS", "@y{0.[0000]}")]))
    fig.toolbar.logo = None
    return fig


def walk_forward_section(*, windows: pd.DataFrame, param_names: list[str], objective: str,
                         efficiency: float, stats: pd.Series, chart: LayoutDOM | None) -> LayoutDOM:
    """A walk-forward result: its facts, the table of windows, the parameter drift and the stitched chart."""
    style = stylesheet()
    facts = {
        "Windows": f"{len(windows):,}",
        "Walk-forward efficiency": value_text(efficiency),
        **{f"Out of sample: {key}": value_text(stats[key]) for key in
           ("Return [%]", "Return (Ann.) [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades")},
    }
    note = ("Each window searches its training bars, picks parameters, and runs them on the test bars that "
            "follow; the test windows, stitched, are the out-of-sample run. Walk-forward efficiency is "
            "the annualised out-of-sample return over the annualised in-sample one: near 1 or above, the "
            "searches found something that held; near 0 or below, they fit noise.")
    heading = div(style, f"<h2>Walk-forward</h2><p class='note'>{escape(note)}</p>{facts_table(facts)}")
    parts = [heading, data_table(windows, rank=False)]
    parts.append(parameter_drift(windows, param_names))
    if chart is not None:
        parts += [div(style, "<h3>The stitched out-of-sample run</h3>"), chart]
    return column(parts, width=PAGE_WIDTH)


def parameter_drift(windows: pd.DataFrame, param_names: list[str]) -> LayoutDOM:
    """One small plot per parameter: its chosen value in each window (by the window's test start)."""
    ncols = min(max(len(param_names), 1), 3)
    width = (PAGE_WIDTH - 40) // ncols
    figures = []
    x = np.arange(1, len(windows) + 1)
    for name in param_names:
        values = pd.to_numeric(windows[name], errors="coerce").to_numpy(float)
        fig = figure(width=width, height=220, title=f"{name} chosen per window", x_axis_label="window",
                     y_axis_label=name, tools=TOOLS)
        source = ColumnDataSource({"x": x, "y": values, "start": [str(v) for v in windows["test start"]]})
        fig.line("x", "y", source=source, color=LINE_COLOR, line_width=2)
        fig.scatter("x", "y", source=source, color=LINE_COLOR, size=7)
        fig.add_tools(HoverTool(tooltips=[("window", "@x"), ("test from", "@start"), (name, "@y")]))
        fig.toolbar.logo = None
        figures.append(fig)
    return gridplot(figures, ncols=ncols, toolbar_location="right")  # type: ignore[arg-type]
