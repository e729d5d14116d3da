"""The report's Pareto section, for a search of several objectives: the front as a sortable table and
a scatter of the first two objectives, every trial that scored in grey, the front in red."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM
from bokeh.plotting import figure

from backtestkit.plotting._page import PAGE_WIDTH, data_table, div, stylesheet
from backtestkit.plotting._sections import BEST_COLOR, TOOLS

#: The front's table shows this many rows before it scrolls.
FRONT_ROWS = 25
TRIAL_COLOR = "#9a9a9a"


def pareto_section(front: pd.DataFrame, scored: pd.DataFrame, objectives: Sequence[tuple[str, str]],
                   params: Sequence[str]) -> list[LayoutDOM]:
    """The heading, the scatter of the first two objectives and the table of the front.

    ``front`` and ``scored`` have a column per parameter and per objective (the front best first;
    ``scored`` every trial that scored, for the grey points); ``objectives`` is (name, 'max' | 'min')
    for each, in order.
    """
    style = stylesheet()
    named = ", ".join(f"{name} ({'maximised' if d == 'max' else 'minimised'})" for name, d in objectives)
    note = (f"{len(front):,} of the {len(scored):,} trials that scored are non-dominated: no other trial is "
            f"as good in every objective and better in one ({named}). The best parameter set is the "
            f"front's best {objectives[0][0]}.")
    if len(objectives) > 2:
        note += " The plot shows the first two objectives; the table shows them all."
    parts: list[LayoutDOM] = [div(style, f"<h2>Pareto front</h2><p class='note'>{escape(note)}</p>")]
    if len(front):
        parts.append(_scatter(front, scored, [name for name, _ in objectives[:2]], params))
    names = [*params, *(name for name, _ in objectives)]
    parts.append(data_table(front[names], optional=params, rank=True, max_rows=FRONT_ROWS))
    return parts


def _scatter(front: pd.DataFrame, scored: pd.DataFrame, axes: list[str], params: Sequence[str]) -> Any:
    x, y = axes
    fig = figure(width=PAGE_WIDTH, height=380, x_axis_label=x, y_axis_label=y, tools=TOOLS)
    label = "label"

    def source(frame: pd.DataFrame) -> ColumnDataSource:
        labels = [", ".join(f"{p}={row[p]}" for p in params) for _, row in frame.iterrows()]
        return ColumnDataSource({"x": frame[x].to_numpy(float), "y": frame[y].to_numpy(float), label: labels})

    fig.scatter("x", "y", source=source(scored), color=TRIAL_COLOR, size=5, alpha=0.5,
                legend_label="trials")
    ordered = front.sort_values(x, kind="stable")
    fig.line(ordered[x].to_numpy(float), ordered[y].to_numpy(float), color=BEST_COLOR, alpha=0.5)
    fig.scatter("x", "y", source=source(front), color=BEST_COLOR, size=8, legend_label="Pareto front")
    fig.add_tools(HoverTool(tooltips=[("parameters", f"@{label}"), (x, "@x"), (y, "@y")]))
    fig.legend.location = "top_left"
    fig.toolbar.logo = None
    return fig


def finite_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` with a number in every one of ``columns``."""
    return frame[np.isfinite(frame[list(columns)].to_numpy(float)).all(axis=1)]
