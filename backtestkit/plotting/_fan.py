"""The fan chart of a Monte Carlo: equity paths as percentile bands, the median and the original run,
and a report section around it (its heading, a note, the percentile table)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

import numpy as np
import pandas as pd
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM
from bokeh.plotting import figure

from backtestkit.plotting._page import PAGE_WIDTH, data_table, div, facts_table, stylesheet
from backtestkit.plotting._sections import BEST_COLOR, LINE_COLOR, TOOLS

#: Sample paths drawn as thin lines under the bands.
SAMPLE_PATHS = 30


def fan_chart(x: np.ndarray | pd.Index, bands: pd.DataFrame, original: np.ndarray | None,
              samples: np.ndarray, *, x_label: str, width: int = PAGE_WIDTH, height: int = 380) -> LayoutDOM:
    """Equity paths as a fan: ``bands`` has a column per percentile (5, 25, 50, 75, 95) and a row per
    step ``x``; ``samples`` a few paths (rows) drawn thinly; ``original`` the run itself, in red."""
    dates = isinstance(x, pd.DatetimeIndex)
    fig = figure(width=width, height=height, x_axis_label=x_label, y_axis_label="Equity [$]", tools=TOOLS,
                 x_axis_type="datetime" if dates else "linear")
    xs = np.asarray(x)
    for path in samples[:SAMPLE_PATHS]:
        fig.line(xs, path, color="#999999", alpha=0.25, line_width=1)
    source = ColumnDataSource({"x": xs, **{f"p{int(q)}": bands[q].to_numpy() for q in bands.columns}})
    fig.varea(x="x", y1="p5", y2="p95", source=source, fill_color=LINE_COLOR, fill_alpha=0.15,
              legend_label="5th to 95th percentile")
    fig.varea(x="x", y1="p25", y2="p75", source=source, fill_color=LINE_COLOR, fill_alpha=0.3,
              legend_label="25th to 75th percentile")
    median = fig.line(x="x", y="p50", source=source, color=LINE_COLOR, line_width=2, legend_label="median")
    if original is not None:
        fig.line(xs, original, color=BEST_COLOR, line_width=2, legend_label="original run")
    fig.add_tools(HoverTool(renderers=[median], tooltips=[("5%", "@p5{0,0}"), ("median", "@p50{0,0}"),
                                                          ("95%", "@p95{0,0}")]))
    fig.legend.location = "top_left"
    fig.toolbar.logo = None
    return fig


def fan_section(heading: str, note: str, facts: Mapping[str, str], table: pd.DataFrame,
                chart: LayoutDOM) -> LayoutDOM:
    """A report section: heading and note, facts (name -> text), the percentile table, the chart."""
    style = stylesheet()
    rows = {name: escape(value) for name, value in facts.items()}
    text = f"<h2>{escape(heading)}</h2><p class='note'>{escape(note)}</p>{facts_table(rows)}"
    return column(div(style, text), data_table(table, max_rows=len(table)), chart)
