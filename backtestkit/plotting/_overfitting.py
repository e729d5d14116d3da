"""Drawings of the overfitting statistics, from their finished numbers and frames: the PBO's logit
histogram and degradation scatter, and the plateau's smoothed objective."""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM, Span
from bokeh.plotting import figure

from backtestkit.plotting._page import PAGE_WIDTH, data_table, div, facts_table, stylesheet
from backtestkit.plotting._sections import BEST_COLOR, LINE_COLOR, TOOLS

OVERFIT_COLOR = "#d62728"


def pbo_figures(logits: np.ndarray, performance: pd.DataFrame, metric: str) -> LayoutDOM:
    """The logit histogram (λ <= 0 in red: the in-sample best at or below the median out of sample)
    beside the out-of-sample against in-sample metric of the in-sample best, one point per split."""
    width = PAGE_WIDTH // 2 - 10
    finite = logits[np.isfinite(logits)]
    edges = np.histogram_bin_edges(finite, bins=int(np.clip(math.sqrt(len(finite)), 10, 40))) \
        if len(finite) and np.ptp(finite) > 0 else np.array([-0.5, 0.5])
    counts, edges = np.histogram(finite, bins=edges)
    hist = figure(width=width, height=300, x_axis_label="logit λ of the in-sample best's out-of-sample rank",
                  y_axis_label="splits", tools=TOOLS)
    colors = [OVERFIT_COLOR if right <= 0 else LINE_COLOR for right in edges[1:]]
    hist.quad(left=edges[:-1], right=edges[1:], bottom=0, top=counts, fill_color=colors, fill_alpha=0.7,
              line_color="white")
    hist.add_layout(Span(location=0, dimension="height", line_color="#555", line_dash="dashed"))
    hist.y_range.start = 0
    scatter = figure(width=width, height=300, x_axis_label=f"{metric} in sample (the in-sample best)",
                     y_axis_label=f"{metric} out of sample", tools=TOOLS)
    shown = performance[np.isfinite(performance[["in_sample", "out_of_sample"]].to_numpy(float)).all(axis=1)]
    source = ColumnDataSource({"x": shown["in_sample"].to_numpy(float),
                               "y": shown["out_of_sample"].to_numpy(float),
                               "trial": [str(t) for t in shown["trial"]]})
    scatter.scatter("x", "y", source=source, color=LINE_COLOR, alpha=0.3, size=4)
    if len(shown) >= 2 and shown["in_sample"].nunique() >= 2:
        slope, intercept = np.polyfit(shown["in_sample"], shown["out_of_sample"], 1)
        xs = np.array([shown["in_sample"].min(), shown["in_sample"].max()])
        scatter.line(xs, slope * xs + intercept, color=BEST_COLOR, line_width=2)
    scatter.add_tools(HoverTool(tooltips=[("trial", "@trial"), ("in sample", "@x"), ("out of sample", "@y")]))
    for fig in (hist, scatter):
        fig.toolbar.logo = None
    return row(hist, scatter)


def pbo_section(pbo: float, logits: np.ndarray, performance: pd.DataFrame, metric: str,
                summary: str) -> LayoutDOM:
    """The PBO's section of a report: the verdict, how to read it, and :func:`pbo_figures`."""
    note = ("Each split of the periods into two halves picks the best trial in one half and ranks it in "
            "the other. The share of splits where it ranks at or below the median (logit λ <= 0, in red) "
            "is the probability of backtest overfitting; a line sloping down on the right means the "
            "better a trial looked, the worse it did after. Below 0.1: the search's choice tends to hold; "
            "about 0.5 or more: it is no better than a random pick.")
    text = (f"<h2>Probability of Backtest Overfitting</h2><p class='best'>PBO = {pbo:.3f}</p>"
            f"<p class='note'>{escape(summary)}.</p><p class='note'>{escape(note)}</p>")
    return column(div(stylesheet(), text), pbo_figures(logits, performance, metric))


def plateau_figures(smoothed: pd.Series, raw: pd.Series, objective: str, best: dict[str, Any],
                    raw_best: dict[str, Any]) -> LayoutDOM:
    """One plot per parameter: the raw and the smoothed objective along it, the other parameters at the
    plateau best's values; the plateau best and the raw best marked."""
    names = list(smoothed.index.names)
    ncols = min(len(names), 3)
    width = PAGE_WIDTH // ncols - 10
    figures = []
    for name in names:
        others = [n for n in names if n != name]
        keep = np.ones(len(smoothed), dtype=bool)
        for other in others:
            keep &= smoothed.index.get_level_values(other) == best[other]
        line = smoothed[keep].droplevel(others) if others else smoothed
        line_raw = raw[keep].droplevel(others) if others else raw
        labels = [str(v) for v in line.index]
        fig = figure(width=width, height=260, x_range=labels, x_axis_label=name, y_axis_label=objective,
                     tools=TOOLS)
        fig.line(labels, line_raw.to_numpy(float), color="#999", line_width=1, legend_label="raw")
        fig.line(labels, line.to_numpy(float), color=LINE_COLOR, line_width=2, legend_label="smoothed")
        fig.scatter([str(best[name])], [float(line.get(best[name], np.nan))], color=BEST_COLOR, size=10,
                    legend_label="plateau best")
        if all(raw_best[o] == best[o] for o in others) and raw_best[name] in line_raw.index:
            fig.scatter([str(raw_best[name])], [float(line_raw[raw_best[name]])], color="#222", size=8,
                        marker="x", legend_label="raw best")
        fig.legend.location = "bottom_right"
        fig.toolbar.logo = None
        figures.append(fig)
    rows = [row(*figures[i:i + ncols]) for i in range(0, len(figures), ncols)]
    return column(*rows)


def plateau_section(summary: str, table: pd.DataFrame, sensitivity: pd.DataFrame, figures: LayoutDOM) -> Any:
    """The plateau's section of a report: the two bests side by side, the sensitivity, the plots."""
    style = stylesheet()
    note = ("The objective of each combination averaged (or its median or minimum taken) over its grid "
            "neighbours: a lone spike falls, a broad good region stays. Sensitivity: how much the objective "
            "drops one grid step either side of the plateau best, parameter by parameter.")
    return column(div(style, f"<h2>Plateau selection</h2><p class='note'>{escape(summary)}</p>"
                             f"<p class='note'>{escape(note)}</p>"),
                  data_table(table.reset_index()), div(style, "<h3>Sensitivity</h3>"),
                  data_table(sensitivity.reset_index()), figures)


def dsr_section(dsr: float, summary: str, facts: dict[str, str]) -> LayoutDOM:
    """The Deflated Sharpe Ratio's section of a report: the verdict, its inputs, how to read it."""
    note = ("The probability that the chosen run's true Sharpe ratio beats the best that the trials "
            "would reach by luck alone, given how many were tried, how much their Sharpe ratios vary, and "
            "the length, skew and kurtosis of the run's returns. Above 0.95: very likely more than luck; "
            "around 0.5 or below: the search would find as much in noise.")
    body = facts_table({name: escape(value) for name, value in facts.items()})
    text = (f"<h2>Deflated Sharpe Ratio</h2><p class='best'>DSR = {dsr:.3f}</p>"
            f"<p class='note'>{escape(summary)}.</p>{body}<p class='note'>{escape(note)}</p>")
    return div(stylesheet(), text)
