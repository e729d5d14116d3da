"""Heatmaps of an optimisation: one 2-D heatmap per pair of parameters, in a standalone HTML file."""

from __future__ import annotations

import itertools
import os
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import gridplot
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LayoutDOM, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from backtestkit._errors import param_error
from backtestkit.plotting._output import check_resources, write_html

OWNER = "plot_heatmaps"
#: Aggregations that may be named; any callable reducing a Series to a number works too.
AGGREGATIONS = ("count", "first", "last", "max", "mean", "median", "min", "std", "sum", "var")
#: Where the HTML goes when no filename is given (in the current directory).
DEFAULT_FILENAME = "heatmaps.html"
NAN_COLOR = "#d9d9d9"


def plot_heatmaps(
    heatmap: pd.Series,
    agg: str | Callable[[pd.Series], float] = "max",
    *,
    ncols: int = 3,
    plot_width: int = 1200,
    filename: str | os.PathLike[str] = "",
    open_browser: bool = True,
    resources: str = "inline",
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
    layout = heatmaps_layout(heatmap, agg, ncols=ncols, plot_width=plot_width)
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
) -> LayoutDOM:
    """The grid of heatmaps :func:`plot_heatmaps` draws, without writing or showing anything.

    Args:
        heatmap, agg, ncols, plot_width: as for :func:`plot_heatmaps`.

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
    levels = parameter_levels(heatmap)
    title = str(heatmap.name or "objective")
    width = plot_width // ncols
    if len(levels) == 1:
        figures = [_bars(heatmap.groupby(level=levels[0]).agg(agg), title, plot_width)]
    else:
        tables = {
            pair: heatmap.groupby(level=list(pair)).agg(agg) for pair in itertools.combinations(levels, 2)
        }
        values = np.concatenate([table.to_numpy(dtype=float) for table in tables.values()])
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        mapper = LinearColorMapper(Viridis256, low=low, high=high, nan_color=NAN_COLOR)
        figures = [_heatmap(table, pair, title, mapper, width) for pair, table in tables.items()]
        figures[-1].add_layout(ColorBar(color_mapper=mapper, width=12, title=title), "right")
        figures[-1].width += 90  # room for the colour bar, so every plot area keeps its size
    return gridplot(figures, ncols=ncols, toolbar_location="right")  # type: ignore[arg-type]


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


def _heatmap(table: pd.Series, pair: tuple[str, str], title: str, mapper: Any, width: int) -> Any:
    """One 2-D heatmap of ``table`` (indexed by the pair of parameters)."""
    x_name, y_name = pair
    x, y = (table.index.get_level_values(name) for name in pair)
    source = ColumnDataSource(
        {"x": [str(v) for v in x], "y": [str(v) for v in y], "value": table.to_numpy(float)}
    )
    fig = figure(
        x_range=_factors(table.index, 0),
        y_range=_factors(table.index, 1),
        width=width,
        height=width,
        x_axis_label=x_name,
        y_axis_label=y_name,
        tools="save,reset,box_zoom,wheel_zoom,pan",
    )
    fig.rect(
        "x",
        "y",
        width=1,
        height=1,
        source=source,
        line_color=None,
        fill_color={"field": "value", "transform": mapper},
    )
    fig.add_tools(HoverTool(tooltips=[(x_name, "@x"), (y_name, "@y"), (title, "@value")]))
    fig.grid.visible = False
    fig.axis.major_tick_line_color = None
    return fig


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
