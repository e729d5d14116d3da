"""The optimisation report: one standalone HTML page that sums up a finished parameter search.

Top to bottom: a header (title, objective, best parameters and value, counts, time, the search
settings), the heatmaps of every parameter pair, a sortable table of the best parameter sets and the
best run's chart, each section under a heading and all of one width, :data:`PAGE_WIDTH`. Like every
page here it is Bokeh's standalone HTML: with ``resources='inline'`` it loads nothing from anywhere.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    InlineStyleSheet,
    LayoutDOM,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)

from backtestkit._errors import Verbatim, param_error
from backtestkit._version import __version__
from backtestkit.plotting._heatmaps import check_heatmap, heatmaps_layout, parameter_levels
from backtestkit.plotting._output import check_page_path, check_resources, write_html

OWNER = "write_report"
#: Width of every section in pixels: with the page margins and a scrollbar it fits a 1400-px window.
PAGE_WIDTH = 1280
#: Room the heatmaps' colour bar (90 px) and toolbar take beside the heatmaps themselves.
_HEATMAP_MARGIN = 130
#: The top table shows this many rows before it scrolls.
_TABLE_ROWS = 25
#: Longest text of one search setting; longer ones are cut with an ellipsis.
_SETTING_CHARS = 600
#: Why a report written from stored trials has no chart, and how to get one.
_NO_CHART = ("No chart: drawing the best run needs its data and strategy, which a study does not keep. "
             "From Python, <code>bt.optimize(..., study='runs.db', report='report.html')</code> with the "
             "same search answers every trial from the study, runs the best one again and writes this page "
             "with its chart.")
_CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; }
h1 { font-size: 24px; margin: 4px 0 2px; }
h2 { font-size: 19px; margin: 22px 0 4px; padding-bottom: 4px; border-bottom: 1px solid #ccc; }
p.note { margin: 2px 0 6px; color: #555; font-size: 13px; }
table.facts { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
table.facts th { text-align: left; font-weight: 600; padding: 3px 18px 3px 0; vertical-align: top;
                 white-space: nowrap; }
table.facts td { padding: 3px 0; overflow-wrap: anywhere; }
td pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
.best { font-size: 16px; font-weight: 600; }
"""


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
) -> Path:
    """Write the report of a finished optimisation as one standalone HTML page.

    The page is a column :data:`PAGE_WIDTH` wide: a header (title, objective, best parameters and
    value, counts, elapsed time and evaluations per second, the search settings), the heatmaps of
    every parameter pair (a 1-D plot for one parameter), a sortable table of ``top`` and the best run's
    chart.

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
    style = InlineStyleSheet(css=_CSS)
    sections = [
        _header(style, title, settings, _facts(objective, n_admissible, n_evaluated, elapsed, heatmap, top)),
        *_heatmap_section(style, heatmap),
        *_top_section(style, top, list(heatmap.index.names), str(heatmap.name)),
        *_chart_section(style, best_chart),
        _div(style, f"<p class='note'>Written by backtestkit {__version__}.</p>"),
    ]
    page = column(sections, width=PAGE_WIDTH, styles={"margin": "8px auto"})  # centred in the window
    return write_html(page, path, title=title, resources=resources)


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
    params = ", ".join(f"{name} = {_value(best[name])}" for name in heatmap.index.names)
    if n_admissible is None:
        counts = f"{n_evaluated:,} (how many combinations are admissible is unknown)"
    else:
        counts = f"{n_evaluated:,} of {n_admissible:,} admissible ({n_evaluated / n_admissible:.0%})"
    took = _duration(elapsed)
    if elapsed > 0:
        rate = n_evaluated / elapsed
        took += f" ({rate:,.3g} evaluations/s)" if rate >= 1 else f" ({1 / rate:,.3g} s per evaluation)"
    return {
        "Objective": escape(objective),
        "Best parameters": f"<span class='best'>{escape(params)}</span>",
        f"Best {heatmap.name}": f"<span class='best'>{escape(_value(best[heatmap.name]))}</span>",
        "Evaluated": counts,
        "Elapsed": took,
    }


def _header(style: InlineStyleSheet, title: str, settings: Mapping[str, Any], facts: dict[str, str]) -> Div:
    listed = _table({name: _setting(value) for name, value in settings.items()}) if settings else "(none)"
    return _div(style, f"<h1>{escape(title)}</h1>{_table(facts)}<h2>Search settings</h2>{listed}")


def _heatmap_section(style: InlineStyleSheet, heatmap: pd.Series) -> list[LayoutDOM]:
    """The heading, a note on how to read the plots, and the plots (1-D for one parameter)."""
    levels = parameter_levels(heatmap)
    n_pairs = len(levels) * (len(levels) - 1) // 2
    ncols = 2 if n_pairs <= 2 else 3  # one or two pairs: larger squares, side by side
    if len(levels) == 1:
        heading, note = f"{heatmap.name} by {levels[0]}", "The one parameter that varies."
    else:
        others = " (each cell: the best value over the other parameters)" if len(levels) > 2 else ""
        heading = "Heatmaps"
        note = f"{heatmap.name} of every pair of parameters{others}; grey cells were not evaluated or NaN."
    plots = heatmaps_layout(heatmap, "max", ncols=ncols, plot_width=PAGE_WIDTH - _HEATMAP_MARGIN)
    return [_div(style, f"<h2>{escape(heading)}</h2><p class='note'>{escape(note)}</p>"), plots]


def _top_section(style: InlineStyleSheet, top: pd.DataFrame, params: list[str], objective: str) -> list[Any]:
    """The heading and the top-N table: rank, parameters, objective, the other columns; sortable."""
    heading = f"<h2>Top {len(top)} parameter sets</h2><p class='note'>Best first; click a column's "
    heading += "header to sort by it (again to reverse).</p>"
    names = [*params, objective, *(name for name in top.columns if name not in {*params, objective})]
    data: dict[str, Any] = {"rank": np.arange(1, len(top) + 1)}
    columns = [TableColumn(field="rank", title="#", width=40, formatter=_number_formatter(data["rank"]))]
    for i, name in enumerate(names):  # fields by position: any column name is safe as a title
        values, field = top[name], f"column{i}"
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            data[field] = values.to_numpy(np.float64, na_value=np.nan)
            formatter: Any = _number_formatter(data[field], optional=name in params)
        else:
            data[field] = [_value(v) for v in values]
            formatter = StringFormatter()
        columns.append(TableColumn(field=field, title=str(name), formatter=formatter))
    rows = min(len(top), _TABLE_ROWS)
    table = DataTable(source=ColumnDataSource(data), columns=columns, width=PAGE_WIDTH,
                      height=25 * (rows + 1) + 4, index_position=None, sortable=True)  # fmt: skip
    return [_div(style, heading), table]


def _chart_section(style: InlineStyleSheet, chart: LayoutDOM | None) -> list[LayoutDOM]:
    if chart is None:
        return [_div(style, f"<h2>Best run</h2><p class='note'>{_NO_CHART}</p>")]
    return [_div(style, "<h2>Best run</h2>"), chart]


def _number_formatter(values: np.ndarray, optional: bool = False) -> NumberFormatter:
    """About four significant digits for the column's largest value; whole numbers with none.

    >>> _number_formatter(np.array([0.81, 1.234])).format, _number_formatter(np.array([123.4, -5])).format
    ('0,0.000', '0,0.0')
    >>> _number_formatter(np.array([3.0, 12.0])).format, _number_formatter(np.array([0.5]), True).format
    ('0,0', '0,0.[0000]')
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.all(finite == np.round(finite)):
        decimals = 0
    else:
        decimals = int(np.clip(3 - math.floor(math.log10(max(np.abs(finite).max(), 1e-12))), 1, 6))
    digits = "0" * decimals
    pattern = "0,0" if not decimals else (f"0,0.[{digits}]" if optional else f"0,0.{digits}")
    return NumberFormatter(format=pattern, text_align="right", nan_format="—")


def _div(style: InlineStyleSheet, text: str) -> Div:
    """A section's text, its HTML as wide as the page (Bokeh shrinks a Div's content to fit)."""
    return Div(text=f"<div style='width: {PAGE_WIDTH}px'>{text}</div>", width=PAGE_WIDTH, stylesheets=[style])


def _table(rows: Mapping[str, str]) -> str:
    """Name -> HTML as a two-column table (names escaped here, values already HTML)."""
    body = "".join(f"<tr><th>{escape(name)}</th><td>{value}</td></tr>" for name, value in rows.items())
    return f"<table class='facts'>{body}</table>"


def _setting(value: Any) -> str:
    """One search setting as HTML: strings as they are (in lines, if several), anything else by repr."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SETTING_CHARS:
        text = f"{text[: _SETTING_CHARS - 1]}…"
    return f"<pre>{escape(text)}</pre>" if "\n" in text else escape(text)


def _value(value: Any) -> str:
    """A parameter's or a stat's value as text: numbers rounded to what is readable.

    >>> _value(np.int64(1500)), _value(0.812345), _value(12345.678), _value(float('nan')), _value('sma')
    ('1,500', '0.8123', '12,345.68', '—', 'sma')
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if math.isnan(value):
            return "—"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def _duration(seconds: float) -> str:
    """Elapsed time in the largest units that make sense.

    >>> _duration(0.25), _duration(75), _duration(7384)
    ('0.25 s', '1 min 15 s', '2 h 03 min')
    """
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
