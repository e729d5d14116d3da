"""The building blocks of the report page: its width and style, text sections, fact tables, sortable
tables, and numbers shown to about four significant digits."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    InlineStyleSheet,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)

#: Width of every section in pixels: with the page margins and a scrollbar it fits a 1400-px window.
PAGE_WIDTH = 1280
#: Height of one row of a table, in pixels.
ROW_HEIGHT = 25
CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; }
h1 { font-size: 24px; margin: 4px 0 2px; }
h2 { font-size: 19px; margin: 22px 0 4px; padding-bottom: 4px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 10px 0 2px; }
p.note { margin: 2px 0 6px; color: #555; font-size: 13px; }
table.facts { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
table.facts th { text-align: left; font-weight: 600; padding: 3px 18px 3px 0; vertical-align: top;
                 white-space: nowrap; }
table.facts td { padding: 3px 0; overflow-wrap: anywhere; }
table.stats { border-collapse: collapse; font-size: 14px; margin: 8px 0; width: 100%; }
table.stats th { text-align: left; font-weight: 400; color: #555; padding: 3px 10px 3px 0;
                 white-space: nowrap; }
table.stats td { text-align: right; padding: 3px 36px 3px 0; font-variant-numeric: tabular-nums; }
td pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
.best { font-size: 16px; font-weight: 600; }
.groups { display: flex; gap: 56px; align-items: flex-start; }
.groups > div { flex: 0 1 auto; min-width: 180px; }
.groups > div:first-child { flex: 1 1 0; }
.swatch { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; margin: 0 4px 0 12px;
          border: 1px solid #999; }
a { color: #1f5fa8; }
"""


def stylesheet() -> InlineStyleSheet:
    return InlineStyleSheet(css=CSS)


def div(style: InlineStyleSheet, text: str) -> Div:
    """A section's text, its HTML as wide as the page (Bokeh shrinks a Div's content to fit)."""
    return Div(text=f"<div style='width: {PAGE_WIDTH}px'>{text}</div>", width=PAGE_WIDTH, stylesheets=[style])


def facts_table(rows: Mapping[str, str]) -> str:
    """Name -> HTML as a two-column table (names escaped here, values already HTML)."""
    body = "".join(f"<tr><th>{escape(name)}</th><td>{value}</td></tr>" for name, value in rows.items())
    return f"<table class='facts'>{body}</table>"


def data_table(
    frame: pd.DataFrame, *, optional: Iterable[str] = (), rank: bool = False, max_rows: int = 25
) -> DataTable:
    """``frame`` as a sortable table as wide as the page, scrolling after ``max_rows`` rows: numbers to
    about four significant digits (columns in ``optional`` with only the decimals they need), anything
    else as text; a ``#`` rank column first when ``rank``."""
    optional = set(optional)
    data: dict[str, Any] = {}
    columns = []
    if rank:
        data["rank"] = np.arange(1, len(frame) + 1)
        columns.append(
            TableColumn(field="rank", title="#", width=40, formatter=number_formatter(data["rank"]))
        )
    for i, name in enumerate(frame.columns):  # fields by position: any column name is safe as a title
        values, field = frame[name], f"column{i}"
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            data[field] = values.to_numpy(np.float64, na_value=np.nan)
            formatter: Any = number_formatter(data[field], optional=name in optional)
        else:
            data[field] = [value_text(v) for v in values]
            formatter = StringFormatter()
        columns.append(TableColumn(field=field, title=str(name), formatter=formatter))
    rows = min(len(frame), max_rows)
    return DataTable(
        source=ColumnDataSource(data),
        columns=columns,
        width=PAGE_WIDTH,
        height=ROW_HEIGHT * (rows + 1) + 4,
        index_position=None,
        sortable=True,
    )


def number_formatter(values: np.ndarray, optional: bool = False) -> NumberFormatter:
    """About four significant digits for the column's largest value; whole numbers with none.

    >>> number_formatter(np.array([0.81, 1.234])).format, number_formatter(np.array([123.4, -5])).format
    ('0,0.000', '0,0.0')
    >>> number_formatter(np.array([3.0, 12.0])).format, number_formatter(np.array([0.5]), True).format
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


def value_text(value: Any) -> str:
    """A parameter's or a stat's value as text: numbers rounded to what is readable.

    >>> value_text(np.int64(1500)), value_text(0.812345), value_text(12345.678), value_text(float('nan'))
    ('1,500', '0.8123', '12,345.68', '—')
    >>> value_text('sma'), value_text(pd.Timedelta(days=3, hours=4)), value_text(pd.Timedelta(days=1_037))
    ('sma', '3 days 04:00:00', '1,037 days')
    >>> value_text(pd.Timestamp('2024-08-01')), value_text(pd.Timestamp('2024-08-01 16:30'))
    ('2024-08-01', '2024-08-01 16:30:00')
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if math.isnan(value):
            return "—"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.4g}"
    if value is None or value is pd.NaT:
        return "—"
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return str(value.date())
    if isinstance(value, pd.Timedelta) and value == value.floor("D"):
        return f"{value.days:,} day{'s' * (value.days != 1)}"
    return str(value)


def duration_text(seconds: float) -> str:
    """Elapsed time in the largest units that make sense.

    >>> duration_text(0.25), duration_text(75), duration_text(7384)
    ('0.25 s', '1 min 15 s', '2 h 03 min')
    """
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
