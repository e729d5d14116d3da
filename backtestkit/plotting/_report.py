"""The optimisation report: one standalone HTML page that sums up a finished parameter search.

Top to bottom: a header (title, objective, best parameters and value, counts, time, the search
settings), the heatmaps of every parameter pair, a sortable table of the best parameter sets and the
best run's chart, each section under a heading and all of one width, :data:`PAGE_WIDTH`. Like every
page here it is Bokeh's standalone HTML: with ``resources='inline'`` it loads nothing from anywhere.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
from bokeh.layouts import column
from bokeh.models import Div, InlineStyleSheet, LayoutDOM

from backtestkit._errors import Verbatim, param_error
from backtestkit._version import __version__
from backtestkit.plotting._heatmaps import (
    check_cells,
    check_heatmap,
    heatmaps_layout,
    kinds_drawn,
    pair_kinds,
    parameter_levels,
)
from backtestkit.plotting._output import check_page_path, check_resources, write_html
from backtestkit.plotting._page import (
    PAGE_WIDTH,
    data_table,
    div,
    duration_text,
    facts_table,
    stylesheet,
    value_text,
)
from backtestkit.plotting._sections import best_run_section, distribution_section, sensitivity_section

OWNER = "write_report"
#: Room the heatmaps' colour bar (90 px) and toolbar take beside the heatmaps themselves.
_HEATMAP_MARGIN = 130
#: The top table shows this many rows before it scrolls.
_TABLE_ROWS = 25
#: Longest text of one search setting; longer ones are cut with an ellipsis.
_SETTING_CHARS = 600
#: What each kind of cell without a value means, for the heatmaps' note.
_CELL_MEANINGS = {
    "no_value": "Grey cells ran but made no trade (or scored NaN).",
    "infeasible": "Orange cells ran but broke a result constraint.",
    "failed": "Red, crossed cells failed with an error.",
    "not_evaluated": "Outlined white cells were not evaluated: the search sampled the grid, or stopped "
                     "before it reached them.",
    "pruned": "Hatched cells were pruned by the constraint: it ruled them out, so they never ran.",
}
#: Why a report written from stored trials has no chart, and how to get one.
_NO_CHART = ("No chart: drawing the best run needs its data and strategy, which a study does not keep. "
             "From Python, <code>bt.optimize(..., study='runs.db', report='report.html')</code> with the "
             "same search answers every trial from the study, runs the best one again and writes this page "
             "with its chart.")


def write_report(
    filename: str | os.PathLike[str],
    *,
    title: str,
    objective: str,
    settings: Mapping[str, Any],
    n_admissible: int | None,
    n_evaluated: int,
    elapsed: float,
    heatmap: pd.Series,
    top: pd.DataFrame,
    best_chart: LayoutDOM | None,
    resources: str = "inline",
    maximize: bool = True,
    details: Mapping[str, Mapping[str, Any]] | None = None,
    cells: pd.Series | None = None,
    sensitivity: Mapping[str, pd.Series] | None = None,
    values: pd.Series | None = None,
    best_stats: pd.Series | None = None,
    trades: pd.DataFrame | None = None,
    trials_link: str | None = None,
    sections: Sequence[LayoutDOM] = (),
) -> Path:
    """Write the report of a finished optimisation as one standalone HTML page.

    The page is a column :data:`PAGE_WIDTH` wide: a header (title, objective, best parameters and
    value, counts, elapsed time and evaluations per second, the search settings beside the ``details``),
    the heatmaps of every parameter pair (a 1-D plot for one parameter), the objective against each
    parameter (``sensitivity``), its distribution over the trials (``values``), a sortable table of
    ``top`` (and a link to every trial), and the best run: its stats, trades and chart. The optional
    sections are left out when their argument is None.

    Parameters:
        filename: The HTML file to write (its directory must exist).
        title: The page's title and heading, e.g. ``"SmaCross on daily data, 2015-01-02 to 2024-08-01"``.
        objective: The objective and its direction, e.g. ``"Sharpe Ratio (maximised)"``.
        settings: The search settings to list, name -> value (method, max_tries, constraint, ...);
            strings show as they are (a constraint's source keeps its lines), others by ``repr``.
        n_admissible: How many combinations pass the constraint, or None if unknown.
        n_evaluated: How many combinations were evaluated.
        elapsed: The search's duration in seconds.
        heatmap: The objective of every evaluated combination, higher is better, as
            ``Backtest.optimize(..., return_heatmap=True)`` returns it; its name is the objective's.
        top: The best parameter sets, best first: a column per parameter (the heatmap's levels), one
            named like the heatmap (the objective's value), and any stats columns to show.
        best_chart: The best run's chart (``backtest_layout(...)``, which fills the page's width), or None.
        resources: 'inline' embeds BokehJS (the page works offline); 'cdn' loads it from cdn.bokeh.org.
        maximize: Whether higher values are better (a heatmap cell shows the best over the other
            parameters).
        details: More groups of facts shown beside the search settings, heading -> (name -> value),
            e.g. ``{"Backtest": {"cash": 10000}, "Data": {"bars": 2500}}``.
        cells: The state of every combination of the grid, for the heatmaps to tell the cells that were
            pruned by the constraint or not evaluated from those that ran (see ``plot_heatmaps``).
        sensitivity: Parameter -> the objective against that parameter's values, the others at their
            best (a Series indexed by the values).
        values: The objective of every finished trial (NaN for a run without a value), for a histogram.
        best_stats: The best run's stats, shown in full.
        trades: The best run's trades (``stats['_trades']``).
        trials_link: A link (relative to the page) to a file of every trial, e.g. ``"opt.trials.csv"``.
        sections: More sections, shown after the best run: Bokeh layouts :data:`PAGE_WIDTH` wide, each
            with its own heading (e.g. a validation result's ``report_section()``).

    Returns:
        The path written.

    Raises:
        TypeError, ValueError: For a bad argument, before anything is built or written.

    Example:
        >>> import tempfile
        >>> index = pd.MultiIndex.from_product([[5, 10], [20, 40]], names=["n1", "n2"])
        >>> heatmap = pd.Series([0.1, 0.4, 0.3, 0.2], index=index, name="SQN")
        >>> top = pd.DataFrame({"n1": [5, 10], "n2": [40, 20], "SQN": [0.4, 0.3], "# Trades": [12, 9]})
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = write_report(Path(folder) / "opt.html", title="SmaCross", objective="SQN (maximised)",
        ...                         settings={"method": "grid"}, n_admissible=4, n_evaluated=4, elapsed=1.5,
        ...                         heatmap=heatmap, top=top, best_chart=None, resources="cdn")
        ...     print(path.name, "n1 = 5" in path.read_text(encoding="utf-8"))
        opt.html True
    """
    path = check_page_path(OWNER, "filename", filename)
    _check_text(title=title, objective=objective, settings=settings)
    _check_counts(n_admissible, n_evaluated, elapsed)
    heatmap = _check_results(heatmap, top)
    if best_chart is not None and not isinstance(best_chart, LayoutDOM):
        raise param_error(OWNER, "best_chart", "a Bokeh layout or None", best_chart, exc=TypeError)
    check_resources(OWNER, resources)
    _check_extras(details=details, sensitivity=sensitivity, values=values, best_stats=best_stats,
                  trades=trades, trials_link=trials_link)
    cells = None if cells is None else check_cells(cells, heatmap, OWNER)
    sections = _check_sections(OWNER, sections)
    style, name, params = stylesheet(), str(heatmap.name), list(heatmap.index.names)
    best_params = {param: top.iloc[0][param] for param in params}
    parts = [
        _header(style, title, {"Search settings": settings, **(details or {})},
                _facts(objective, n_admissible, n_evaluated, elapsed, heatmap, top)),
        *_heatmap_section(style, heatmap, cells, maximize),
        *sensitivity_section(style, sensitivity or {}, name, best_params),
        *([] if values is None else distribution_section(style, values, name, float(top.iloc[0][name]))),
        *_top_section(style, top, params, name, trials_link),
        *best_run_section(style, _described(best_params), best_stats, trades, best_chart, _NO_CHART),
        *sections,
    ]
    return _write_page(path, style, parts, title, resources)


def write_page(filename: str | os.PathLike[str], *, title: str, sections: Sequence[LayoutDOM],
               resources: str = "inline") -> Path:
    """Write a standalone page of ``sections`` (Bokeh layouts :data:`PAGE_WIDTH` wide, each with its
    own heading) under ``title``, in the report's style: how a result that is not a search (a
    walk-forward, a Monte Carlo) writes its own page. Returns the path written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_page(Path(folder) / "wf.html", title="Walk-forward", resources="cdn",
    ...                       sections=[Div(text="<h2>Windows</h2>")])
    ...     print(path.name, "Windows" in path.read_text(encoding="utf-8"))
    wf.html True
    """
    owner = "write_page"
    path = check_page_path(owner, "filename", filename)
    if not isinstance(title, str) or not title.strip():
        exc = ValueError if isinstance(title, str) else TypeError
        raise param_error(owner, "title", "a non-empty str", title, exc=exc)
    check_resources(owner, resources)
    style = stylesheet()
    parts = [div(style, f"<h1>{escape(title)}</h1>"), *_check_sections(owner, sections)]
    return _write_page(path, style, parts, title, resources)


def _write_page(path: Path, style: InlineStyleSheet, parts: list[LayoutDOM], title: str,
                resources: str) -> Path:
    parts = [*parts, div(style, f"<p class='note'>Written by backtestkit {__version__}.</p>")]
    page = column(parts, width=PAGE_WIDTH, styles={"margin": "8px auto"})  # centred in the window
    return write_html(page, path, title=title, resources=resources)


def _check_sections(owner: str, sections: Any) -> list[LayoutDOM]:
    if isinstance(sections, LayoutDOM) or not isinstance(sections, Sequence):
        got = Verbatim(type(sections).__name__)
        raise param_error(owner, "sections", "a list of Bokeh layouts", got, exc=TypeError)
    wrong = [item for item in sections if not isinstance(item, LayoutDOM)]
    if wrong:
        got = Verbatim(f"a list holding a {type(wrong[0]).__name__}")
        raise param_error(owner, "sections", "a list of Bokeh layouts", got, exc=TypeError)
    return list(sections)


def _check_counts(n_admissible: Any, n_evaluated: Any, elapsed: Any) -> None:
    def whole(value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)

    if n_admissible is not None and not (whole(n_admissible) and n_admissible >= 1):
        raise param_error(OWNER, "n_admissible", "an int >= 1 or None", n_admissible)
    at_most = f" and <= n_admissible ({n_admissible})" if n_admissible is not None else ""
    if not (whole(n_evaluated) and 1 <= n_evaluated <= (n_admissible or n_evaluated)):
        raise param_error(OWNER, "n_evaluated", f"an int >= 1{at_most}", n_evaluated)
    if isinstance(elapsed, bool) or not isinstance(elapsed, numbers.Real):
        raise param_error(OWNER, "elapsed", "a number of seconds >= 0", elapsed, exc=TypeError)
    if not (math.isfinite(elapsed) and elapsed >= 0):
        raise param_error(OWNER, "elapsed", "a number of seconds >= 0", elapsed)


def _check_results(heatmap: Any, top: Any) -> pd.Series:
    """The heatmap (checked as plot_heatmaps checks it, and named); ``top`` has its columns."""
    heatmap = check_heatmap(heatmap, OWNER)
    if not isinstance(heatmap.name, str) or not heatmap.name:
        got = Verbatim(f"a Series named {heatmap.name!r}")
        raise param_error(OWNER, "heatmap", "named after the objective", got)
    columns = [*heatmap.index.names, heatmap.name]
    expected = f"a non-empty DataFrame with columns {', '.join(map(repr, columns))}"
    if not isinstance(top, pd.DataFrame):
        raise param_error(OWNER, "top", expected, Verbatim(type(top).__name__), exc=TypeError)
    missing = [name for name in columns if name not in top.columns]
    if top.empty or missing:
        got = Verbatim(f"{len(top)} rows" + (f" without {', '.join(map(repr, missing))}" if missing else ""))
        raise param_error(OWNER, "top", expected, got)
    return heatmap


def _check_text(*, title: Any, objective: Any, settings: Any) -> None:
    for name, value in (("title", title), ("objective", objective)):
        if not isinstance(value, str):
            raise param_error(OWNER, name, "a non-empty str", value, exc=TypeError)
        if not value.strip():
            raise param_error(OWNER, name, "a non-empty str", value)
    if not isinstance(settings, Mapping) or not all(isinstance(name, str) for name in settings):
        raise param_error(OWNER, "settings", "a mapping of setting names (str) to values", settings,
                          exc=TypeError)  # fmt: skip


def _facts(objective: str, n_admissible: int | None, n_evaluated: int, elapsed: float, heatmap: pd.Series,
           top: pd.DataFrame) -> dict[str, str]:  # fmt: skip
    """The header's lines, name -> HTML: the objective, the best set and value, counts and speed."""
    best = top.iloc[0]
    params = ", ".join(f"{name} = {value_text(best[name])}" for name in heatmap.index.names)
    if n_admissible is None:
        counts = f"{n_evaluated:,} (how many combinations are admissible is unknown)"
    else:
        counts = f"{n_evaluated:,} of {n_admissible:,} admissible ({n_evaluated / n_admissible:.0%})"
    took = duration_text(elapsed)
    if elapsed > 0:
        rate = n_evaluated / elapsed
        took += f" ({rate:,.3g} evaluations/s)" if rate >= 1 else f" ({1 / rate:,.3g} s per evaluation)"
    return {
        "Objective": escape(objective),
        "Best parameters": f"<span class='best'>{escape(params)}</span>",
        f"Best {heatmap.name}": f"<span class='best'>{escape(value_text(best[heatmap.name]))}</span>",
        "Evaluated": counts,
        "Elapsed": took,
    }


def _check_extras(**extras: Any) -> None:
    """The optional inputs have their types (None leaves a section out)."""
    expected = {"details": (Mapping, "a mapping of headings to mappings, or None"),
                "sensitivity": (Mapping, "a mapping of parameter names to Series, or None"),
                "values": (pd.Series, "a Series of the objective's values, or None"),
                "best_stats": (pd.Series, "a stats Series, or None"),
                "trades": (pd.DataFrame, "a DataFrame or None"),
                "trials_link": (str, "a relative link (str) or None")}
    for name, value in extras.items():
        kind, text = expected[name]
        if value is not None and not isinstance(value, kind):
            raise param_error(OWNER, name, text, value, exc=TypeError)


def _header(style: InlineStyleSheet, title: str, groups: Mapping[str, Mapping[str, Any]],
            facts: dict[str, str]) -> Div:
    """The title and the facts, then the settings: a group of name/value lines per heading, side by side."""
    blocks = []
    for heading, group in groups.items():
        rows = {str(name): _setting(value) for name, value in group.items()}
        listed = facts_table(rows) if rows else "(none)"
        blocks.append(f"<div><h2>{escape(heading)}</h2>{listed}</div>")
    settings = f"<div class='groups'>{''.join(blocks)}</div>"
    return div(style, f"<h1>{escape(title)}</h1>{facts_table(facts)}{settings}")


def _described(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} = {value_text(value)}" for name, value in params.items())


def _heatmap_section(style: InlineStyleSheet, heatmap: pd.Series, cells: pd.Series | None,
                     maximize: bool) -> list[LayoutDOM]:
    """The heading, a note on how to read the plots (and their cells), and the plots (1-D for one
    parameter)."""
    levels = parameter_levels(heatmap)
    n_pairs = len(levels) * (len(levels) - 1) // 2
    ncols = 2 if n_pairs <= 2 else 3  # one or two pairs: larger squares, side by side
    if len(levels) == 1:
        heading, note = f"{heatmap.name} by {levels[0]}", escape("The one parameter that varies.")
    else:
        others = " (each cell: the best value over the other parameters)" if len(levels) > 2 else ""
        heading = "Heatmaps"
        note = escape(f"{heatmap.name} of every pair of parameters{others}.") + " " + _cells_note(
            heatmap, cells, levels)
    agg = "max" if maximize else "min"
    plots = heatmaps_layout(heatmap, agg, ncols=ncols, plot_width=PAGE_WIDTH - _HEATMAP_MARGIN, cells=cells)
    return [div(style, f"<h2>{escape(heading)}</h2><p class='note'>{note}</p>"), plots]


def _cells_note(heatmap: pd.Series, cells: pd.Series | None, levels: list[str]) -> str:
    """What the cells without a colour are (those the plots draw), as HTML."""
    if cells is None:
        return escape("Grey cells were not evaluated or scored NaN.")
    pairs = itertools.combinations(levels, 2)
    drawn = kinds_drawn([pair_kinds(heatmap, cells, pair) for pair in pairs])
    return " ".join(escape(_CELL_MEANINGS[kind]) for kind in drawn)


def _top_section(style: InlineStyleSheet, top: pd.DataFrame, params: list[str], objective: str,
                 trials_link: str | None) -> list[Any]:
    """The heading and the top-N table: rank, parameters, objective, the other columns; sortable."""
    heading = f"<h2>Top {len(top)} parameter sets</h2><p class='note'>Best first; click a column's "
    heading += "header to sort by it (again to reverse)."
    if trials_link is not None:
        link = escape(trials_link, quote=True)
        heading += f" Every trial, with all its stats: <a href='{link}'>{escape(trials_link)}</a>."
    heading += "</p>"
    names = [*params, objective, *(name for name in top.columns if name not in {*params, objective})]
    return [div(style, heading), data_table(top[names], optional=params, rank=True, max_rows=_TABLE_ROWS)]


def _setting(value: Any) -> str:
    """One search setting as HTML: strings as they are (in lines, if several), anything else by repr."""
    text = value if isinstance(value, str) else value_text(value) if isinstance(value, float) else repr(value)
    if len(text) > _SETTING_CHARS:
        text = f"{text[: _SETTING_CHARS - 1]}…"
    return f"<pre>{escape(text)}</pre>" if "\n" in text else escape(text)
