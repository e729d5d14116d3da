"""Heatmaps of an optimisation: one 2-D heatmap per pair of parameters, in a standalone HTML file.

Given the state of every cell of the grid, the cells without a value are drawn by what became of them:
ran without a value, failed, not evaluated (a sampled search), or pruned by the constraint.
"""

from __future__ import annotations

import itertools
import math
import os
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import gridplot
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    LayoutDOM,
    Legend,
    LegendItem,
    LinearColorMapper,
)
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from backtestkit._errors import Verbatim, param_error
from backtestkit.plotting._output import check_resources, write_html

OWNER = "plot_heatmaps"
#: Aggregations that may be named; any callable reducing a Series to a number works too.
AGGREGATIONS = ("count", "first", "last", "max", "mean", "median", "min", "std", "sum", "var")
#: Where the HTML goes when no filename is given (in the current directory).
DEFAULT_FILENAME = "heatmaps.html"
NAN_COLOR = "#d9d9d9"
#: The states a cell of the grid may have in ``cells``: its trial's state, or, for a combination without
#: a trial, 'pruned' (the constraint ruled it out) or 'not_evaluated' (a sampled search did not draw it).
CELL_STATES = ("ok", "no_trades", "infeasible", "failed", "pruned", "not_evaluated")


@dataclass(frozen=True)
class CellStyle:
    """How a kind of cell without a value is drawn, and its name in the legend."""

    label: str
    fill: str
    hatch: str = " "  # Bokeh's hatch pattern; " " is none
    line: str | None = None


#: What a heatmap's cell shows, in order of precedence: a pair's cell stands for several combinations
#: (the other parameters'), and shows the first kind any of them has, a value before anything else.
CELL_KINDS = ("value", "no_value", "infeasible", "failed", "not_evaluated", "pruned")
CELL_STYLES = {
    "no_value": CellStyle("ran, no value (no trades)", NAN_COLOR),
    "infeasible": CellStyle("ran, broke a result constraint", "#fdd0a2"),
    "failed": CellStyle("failed (an error)", "#f4a6a6", "x"),
    "not_evaluated": CellStyle("not evaluated", "#ffffff", " ", "#b0b0b0"),
    "pruned": CellStyle("pruned by the constraint", "#f4f4f4", "/"),
}
_OFF_AXES = "\u2063legend"  # a factor no axis has (an invisible separator first)
#: Axes with more categories than this turn their labels, so that they do not run together.
_CROWDED = 12
#: Room one legend entry takes in a row, in pixels.
_LEGEND_ITEM_WIDTH = 170
_KIND_OF_STATE = {"ok": "no_value", "no_trades": "no_value", "infeasible": "infeasible", "failed": "failed",
                  "pruned": "pruned", "not_evaluated": "not_evaluated"}


def plot_heatmaps(
    heatmap: pd.Series,
    agg: str | Callable[[pd.Series], float] = "max",
    *,
    ncols: int = 3,
    plot_width: int = 1200,
    filename: str | os.PathLike[str] = "",
    open_browser: bool = True,
    resources: str = "inline",
    cells: pd.Series | None = None,
) -> Any:
    """Plot a heatmap of the objective for every pair of parameters of an optimisation.

    Each 2-D heatmap shows the objective aggregated by ``agg`` over the other parameters; all
    share one colour scale and one colour bar; hovering shows both parameters and the value. With
    one parameter (parameters with a single value are left out) the plot is a 1-D bar chart.
    The plots are :func:`heatmaps_layout`'s; this writes them to a standalone page.

    Args:
        heatmap: the objective per combination, as returned by ``Backtest.optimize(...,
            return_heatmap=True)``: a Series whose (Multi)Index levels are named after parameters.
        agg: how to reduce the other parameters: one of 'max', 'mean', 'median', 'min', 'sum',
            'std', 'var', 'count', 'first', 'last', or a callable taking a Series.
        ncols: heatmaps per row.
        plot_width: width of a row in pixels.
        filename: the HTML file to write; '' writes ``heatmaps.html`` in the current directory.
        open_browser: open the file in a web browser.
        resources: 'inline' embeds BokehJS so the file renders with no network; 'cdn' loads it
            from cdn.bokeh.org (a much smaller file).
        cells: optionally, the state of every combination of the grid (a Series of strings indexed
            by the same parameters as ``heatmap``, each one of :data:`CELL_STATES`): then the axes
            span the whole grid and the cells without a value are drawn by what became of them (ran
            without a value, failed, not evaluated, pruned by the constraint), with a legend.
            ``Study`` objects give it as the report does.

    Returns:
        The bokeh layout (a grid of figures).

    Raises:
        TypeError, ValueError: a bad argument (checked before any plotting).

    >>> index = pd.MultiIndex.from_product([[5, 10], [20, 40]], names=['n1', 'n2'])
    >>> hm = pd.Series([1.0, 2.0, 3.0, 4.0], index=index, name='SQN')
    >>> import tempfile; path = Path(tempfile.mkdtemp()) / 'hm.html'
    >>> layout = plot_heatmaps(hm, filename=path, open_browser=False)
    >>> path.exists()
    True
    """
    if not isinstance(filename, (str, os.PathLike)):
        raise param_error(OWNER, "filename", "a str or path", filename, exc=TypeError)
    if not isinstance(open_browser, bool):
        raise param_error(OWNER, "open_browser", "True or False", open_browser, exc=TypeError)
    check_resources(OWNER, resources)
    layout = heatmaps_layout(heatmap, agg, ncols=ncols, plot_width=plot_width, cells=cells)
    path = Path(filename or DEFAULT_FILENAME).resolve()
    write_html(layout, path, title=f"Heatmaps of {heatmap.name or 'objective'}", resources=resources)
    if open_browser:
        webbrowser.open(path.as_uri())
    return layout


def heatmaps_layout(
    heatmap: pd.Series,
    agg: str | Callable[[pd.Series], float] = "max",
    *,
    ncols: int = 3,
    plot_width: int = 1200,
    cells: pd.Series | None = None,
) -> LayoutDOM:
    """The grid of heatmaps :func:`plot_heatmaps` draws, without writing or showing anything.

    Args:
        heatmap, agg, ncols, plot_width, cells: as for :func:`plot_heatmaps`.

    Returns:
        A bokeh grid: one square figure per pair of parameters (``plot_width // ncols`` wide, the
        last one 90 px wider for the colour bar), or one bar chart ``plot_width`` wide.

    Raises:
        TypeError, ValueError: a bad argument (checked before any plotting).

    >>> hm = pd.Series([1.0, 3.0], index=pd.Index([5, 10], name='n1'), name='SQN')
    >>> heatmaps_layout(hm).children[0][0].width
    1200
    """
    heatmap = check_heatmap(heatmap)
    _check_options(agg, ncols, plot_width)
    cells = None if cells is None else check_cells(cells, heatmap)
    levels = parameter_levels(heatmap)
    title = str(heatmap.name or "objective")
    width = plot_width // ncols
    if len(levels) == 1:
        figures = [_bars(heatmap.groupby(level=levels[0]).agg(agg), title, plot_width)]
    else:
        pairs = list(itertools.combinations(levels, 2))
        tables = {pair: heatmap.groupby(level=list(pair)).agg(agg) for pair in pairs}
        kinds = {pair: pair_kinds(heatmap, cells, pair) for pair in pairs} if cells is not None else {}
        values = np.concatenate([table.to_numpy(dtype=float) for table in tables.values()])
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        mapper = LinearColorMapper(Viridis256, low=low, high=high, nan_color=NAN_COLOR)
        figures = [_heatmap(table, pair, title, mapper, width, kinds.get(pair))
                   for pair, table in tables.items()]
        figures[-1].add_layout(ColorBar(color_mapper=mapper, width=12, title=title), "right")
        figures[-1].width += 90  # room for the colour bar, so every plot area keeps its size
        drawn = kinds_drawn(kinds.values())
        if drawn:
            _add_legend(figures[-1], drawn)
    return gridplot(figures, ncols=ncols, toolbar_location="right")  # type: ignore[arg-type]


def check_cells(cells: Any, heatmap: pd.Series, owner: str = OWNER) -> pd.Series:
    """``cells`` as a Series of :data:`CELL_STATES` with a MultiIndex named like the (checked) heatmap's.

    >>> hm = check_heatmap(pd.Series([1.0], index=pd.Index([5], name='n1')))
    >>> check_cells(pd.Series(['ok', 'pruned'], index=pd.Index([5, 6], name='n1')), hm).tolist()
    ['ok', 'pruned']
    """
    names = ", ".join(map(repr, heatmap.index.names))
    expected = f"None or a Series of cell states ({', '.join(map(repr, CELL_STATES))}) indexed by {names}"
    if not isinstance(cells, pd.Series):
        raise param_error(owner, "cells", expected, cells, exc=TypeError)
    if list(cells.index.names) != list(heatmap.index.names):
        got = Verbatim(f"a Series indexed by {list(cells.index.names)}")
        raise param_error(owner, "cells", expected, got)
    unknown = sorted(set(cells[~cells.isin(CELL_STATES)].astype(str)))
    if unknown:
        got = Verbatim(f"a Series holding {', '.join(map(repr, unknown))}")
        raise param_error(owner, "cells", expected, got)
    if not isinstance(cells.index, pd.MultiIndex):
        cells = cells.set_axis(pd.MultiIndex.from_arrays([cells.index], names=cells.index.names))
    return cells


def pair_kinds(heatmap: pd.Series, cells: pd.Series, pair: tuple[str, str]) -> pd.Series:
    """What each cell of the pair's heatmap shows, one of :data:`CELL_KINDS`: the first kind (in their
    order) of the combinations it stands for; a combination with a finite value is a 'value'.

    >>> index = pd.MultiIndex.from_product([[1, 2], [3, 4], [5, 6]], names=['a', 'b', 'c'])
    >>> cells = pd.Series(['ok', 'pruned', 'no_trades', 'not_evaluated'] + ['pruned'] * 4, index=index)
    >>> heatmap = pd.Series([1.0, np.nan], index=index[[0, 2]])
    >>> pair_kinds(heatmap, cells, ('a', 'b')).tolist()
    ['value', 'no_value', 'pruned', 'pruned']
    """
    kinds = cells.map(_KIND_OF_STATE)
    scored = heatmap.index[np.isfinite(heatmap.to_numpy(dtype=float))]
    kinds[kinds.index.isin(scored)] = "value"
    ranks = kinds.map(CELL_KINDS.index).groupby(level=list(pair)).min()
    return ranks.map(dict(enumerate(CELL_KINDS)))


def kinds_drawn(kinds: Iterable[pd.Series]) -> list[str]:
    """The kinds of cells without a value among the pairs' ``kinds`` (from :func:`pair_kinds`), in order."""
    found = set().union(*(set(k) for k in kinds))
    return [kind for kind in CELL_KINDS[1:] if kind in found]


def _add_legend(fig: Any, kinds: list[str]) -> None:
    """A legend under ``fig`` for the kinds of cells without a value. Bokeh draws no swatch for a glyph
    without data, so each has one cell, at a factor off the axes: drawn in the legend, not on the plot."""
    off_axes = {"x": [_OFF_AXES], "y": [_OFF_AXES]}
    items = [LegendItem(label=CELL_STYLES[kind].label, renderers=[_cell_glyph(fig, off_axes, kind)])
             for kind in kinds]
    across = fig.width >= _LEGEND_ITEM_WIDTH * len(kinds)  # in a row if it fits, else one per line
    legend = Legend(items=items, orientation="horizontal" if across else "vertical", location="top_left",
                    label_text_font_size="12px", padding=4, spacing=16 if across else 4, glyph_width=18,
                    glyph_height=18, border_line_color=None)
    fig.add_layout(legend, "below")
    fig.height += 34 if across else 12 + 24 * len(kinds)  # the plot area keeps its size


def _cell_glyph(fig: Any, data: dict[str, Any], kind: str) -> Any:
    style = CELL_STYLES[kind]
    return fig.rect("x", "y", width=1, height=1, source=ColumnDataSource(data), fill_color=style.fill,
                    hatch_pattern=style.hatch, hatch_color="#9a9a9a", hatch_scale=8, hatch_weight=1,
                    line_color=style.line, line_width=1)


def parameter_levels(heatmap: pd.Series) -> list[str]:
    """The parameters a heatmap varies (levels with over one value), or its first level if none does.

    >>> index = pd.MultiIndex.from_product([[1, 2], ['sma'], [3, 4]], names=['n1', 'kind', 'n2'])
    >>> parameter_levels(pd.Series(0.0, index=index))
    ['n1', 'n2']
    """
    levels = [name for name in heatmap.index.names if heatmap.index.get_level_values(name).nunique() > 1]
    return levels or list(heatmap.index.names[:1])


def check_heatmap(heatmap: Any, owner: str = OWNER) -> pd.Series:
    """The heatmap as a float Series with a MultiIndex of named levels (a copy); errors name ``owner``.

    >>> check_heatmap(pd.Series([1, 2], index=pd.Index([5, 10], name='n1'))).index.nlevels
    1
    >>> check_heatmap([1.0], owner='write_report')
    Traceback (most recent call last):
    TypeError: The 'heatmap' parameter of write_report must be a non-empty Series ... Got [1.0] instead.
    """
    expected = "a non-empty Series of numbers indexed by named parameter levels"
    if not isinstance(heatmap, pd.Series):
        raise param_error(owner, "heatmap", expected, heatmap, exc=TypeError)
    if heatmap.empty or None in heatmap.index.names:
        raise param_error(owner, "heatmap", expected, heatmap)
    try:
        values = heatmap.astype(float)
    except (TypeError, ValueError):
        raise param_error(owner, "heatmap", expected, heatmap) from None
    if not isinstance(heatmap.index, pd.MultiIndex):
        values.index = pd.MultiIndex.from_arrays([heatmap.index], names=heatmap.index.names)
    return values


def _check_options(agg: Any, ncols: Any, plot_width: Any) -> None:
    if not callable(agg) and agg not in AGGREGATIONS:
        raise param_error(OWNER, "agg", f"a callable or one of {', '.join(map(repr, AGGREGATIONS))}", agg)
    for name, value, minimum in (("ncols", ncols, 1), ("plot_width", plot_width, 100)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise param_error(OWNER, name, f"an int >= {minimum}", value)


def _factors(index: pd.MultiIndex, level: int) -> list[str]:
    """Axis categories: the level's values in order (sorted when they can be)."""
    return [str(value) for value in index.remove_unused_levels().levels[level]]


def _heatmap(table: pd.Series, pair: tuple[str, str], title: str, mapper: Any, width: int,
             kinds: pd.Series | None = None) -> Any:
    """One 2-D heatmap of ``table`` (indexed by the pair of parameters); with ``kinds`` (the pair's
    cells, every one of the grid), the cells without a value drawn by kind."""
    x_name, y_name = pair
    axes = table.index if kinds is None else kinds.index
    if kinds is not None:
        table = table[table.index.isin(kinds.index[kinds == "value"])]
    x, y = (table.index.get_level_values(name) for name in pair)
    source = ColumnDataSource(
        {"x": [str(v) for v in x], "y": [str(v) for v in y], "value": table.to_numpy(float)}
    )
    fig = figure(
        x_range=_factors(axes, 0),
        y_range=_factors(axes, 1),
        width=width,
        height=width,
        x_axis_label=x_name,
        y_axis_label=y_name,
        tools="save,reset,box_zoom,wheel_zoom,pan",
    )
    scored = fig.rect(
        "x",
        "y",
        width=1,
        height=1,
        source=source,
        line_color=None,
        fill_color={"field": "value", "transform": mapper},
    )
    fig.add_tools(HoverTool(tooltips=[(x_name, "@x"), (y_name, "@y"), (title, "@value")], renderers=[scored]))
    if kinds is not None:
        _draw_kinds(fig, kinds, pair)
    fig.grid.visible = False
    fig.axis.major_tick_line_color = None
    if len(fig.x_range.factors) > _CROWDED:
        fig.xaxis.major_label_orientation = math.pi / 4
        fig.height += 24  # the turned labels' room: the plot area stays square
    return fig


def _draw_kinds(fig: Any, kinds: pd.Series, pair: tuple[str, str]) -> None:
    """The cells of ``kinds`` without a value, a glyph per kind, and what they are on hover."""
    drawn = []
    for kind in CELL_KINDS[1:]:
        cells = kinds.index[kinds == kind]
        if len(cells):
            x, y = ([str(v) for v in cells.get_level_values(level)] for level in (0, 1))
            data = {"x": x, "y": y, "state": [CELL_STYLES[kind].label] * len(cells)}
            drawn.append(_cell_glyph(fig, data, kind))
    if drawn:
        tooltips = [(pair[0], "@x"), (pair[1], "@y"), ("cell", "@state")]
        fig.add_tools(HoverTool(tooltips=tooltips, renderers=drawn))


def _bars(table: pd.Series, title: str, width: int) -> Any:
    """A 1-D plot of the objective against the one parameter."""
    name = table.index.name
    x = [str(value) for value in table.index]
    source = ColumnDataSource({"x": x, "value": table.to_numpy(float)})
    fig = figure(
        x_range=x,
        width=width,
        height=width // 3,
        x_axis_label=name,
        y_axis_label=title,
        tools="save,reset,box_zoom,wheel_zoom,pan",
    )
    fig.vbar("x", top="value", width=0.8, source=source)
    fig.add_tools(HoverTool(tooltips=[(name, "@x"), (title, "@value")]))
    return fig
