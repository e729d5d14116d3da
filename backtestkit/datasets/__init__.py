"""Bundled sample price data and a loader for your own OHLCV files.

The samples are synthetic, made by a seeded model (``backtestkit.datasets._generate``) with trends up and
down, volatility regimes and clustering, overnight gaps and volume that follows volatility. They are
free of licensing worries and identical everywhere, which makes them good for examples and tests.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from backtestkit._errors import Verbatim, param_error
from backtestkit._ohlcv import OHLCV, normalise_columns, validate_ohlcv

__all__ = ["load_daily", "load_hourly", "read_ohlcv"]

_DAILY_FILE = "daily.csv"
_HOURLY_FILE = "hourly.csv"
_OWNER = "read_ohlcv"
_PARQUET_SUFFIXES = {".parquet", ".pq"}
# Column names (stripped, lower case) taken as the timestamps, best first.
_TIME_COLUMNS = ("datetime", "timestamp", "date", "time")


def _date_indexed(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the timestamp column into the index: date + time columns joined, a named one, else the first."""
    names = {column.strip().lower(): column for column in frame.columns if isinstance(column, str)}
    if "date" in names and "time" in names and not {"datetime", "timestamp"} & names.keys():
        date, time = names["date"], names["time"]
        stamps = frame[date].astype(str) + " " + frame[time].astype(str)
        return frame.drop(columns=[date, time]).set_axis(pd.Index(stamps, name=date))
    named = next((names[key] for key in _TIME_COLUMNS if key in names), None)
    first = frame.columns[0]
    if named is None and first in OHLCV:
        return frame
    frame = frame.set_index(first if named is None else named)
    if str(frame.index.name).startswith("Unnamed: "):  # pandas' name for a CSV's unnamed index column
        frame.index.name = None
    return frame


def _read_parquet(location: str, kwargs: dict[str, Any]) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401  (only to fail early with a clear message)
    except ImportError as exc:
        raise ImportError(
            "read_ohlcv needs pyarrow to read Parquet files. Install it with `pip install pyarrow`."
        ) from exc
    return pd.read_parquet(location, **{"engine": "pyarrow", **kwargs})


def read_ohlcv(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read OHLCV prices from a CSV or Parquet file, ready for :class:`backtestkit.Backtest`.

    Files ending in ``.parquet`` or ``.pq`` are read with pyarrow, anything else as CSV. Unless you pass
    ``index_col``, the timestamps are found for you: a column named date, time, datetime or timestamp
    (any case), or 'Date' and 'Time' columns joined, or else the first column (when it is not a price).
    Price columns are renamed as by ``normalise_columns`` ('open', 'CLOSE', 'vol' ...), date strings
    become a DatetimeIndex, and the result is checked like ``Backtest``'s data.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read (a URL also works for CSV).
    **kwargs
        Passed on to :func:`pandas.read_csv` or :func:`pandas.read_parquet`.

    Returns
    -------
    pandas.DataFrame
        Float64 columns 'Open', 'High', 'Low', 'Close', 'Volume' (NaN when the file has no volume) plus
        any other columns of the file.

    Raises
    ------
    TypeError
        If ``path`` is not a str or path-like, or a price column is not numeric.
    FileNotFoundError
        If there is no such local file.
    ImportError
        If the file is Parquet and pyarrow is not installed.
    ValueError
        If the prices fail validation (missing columns, NaN, High below Low, duplicate timestamps...).

    Warns
    -----
    UserWarning
        If the rows are not in time order (they are sorted).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / 'prices.csv'
    ...     _ = path.write_text('date,open,high,low,close\\n'
    ...                         '2024-01-02,10,12,9,11\\n'
    ...                         '2024-01-03,11,13,10,12\\n')
    ...     df = read_ohlcv(path)
    >>> df
                Open  High   Low  Close  Volume
    date
    2024-01-02  10.0  12.0   9.0   11.0     NaN
    2024-01-03  11.0  13.0  10.0   12.0     NaN
    """
    if not isinstance(path, (str, os.PathLike)):
        raise param_error(
            _OWNER, "path", "a str or os.PathLike", Verbatim(type(path).__name__), exc=TypeError
        )
    location = os.fspath(path)
    if "://" not in location and not os.path.isfile(location):
        raise param_error(_OWNER, "path", "an existing file", location, exc=FileNotFoundError)
    if Path(location).suffix.lower() in _PARQUET_SUFFIXES:
        frame = _read_parquet(location, kwargs)
    else:
        frame = pd.read_csv(location, **kwargs)
    frame = normalise_columns(frame, owner=_OWNER, name="path")
    if "index_col" not in kwargs and isinstance(frame.index, pd.RangeIndex) and len(frame.columns):
        frame = _date_indexed(frame)
    return validate_ohlcv(frame, owner=_OWNER, name="path", stacklevel=3)


@functools.cache
def _bundled(file_name: str) -> pd.DataFrame:
    with resources.as_file(resources.files(__name__) / file_name) as path:
        return read_ohlcv(path)


def load_daily() -> pd.DataFrame:
    """Daily sample prices: 2,500 synthetic bars on business days, 2015-01-02 to 2024-08-01.

    Returns
    -------
    pandas.DataFrame
        A fresh copy (change it freely) with a DatetimeIndex named 'Date' and float64 columns 'Open',
        'High', 'Low', 'Close', 'Volume'.

    Examples
    --------
    >>> df = load_daily()
    >>> df.shape, str(df.index[0].date()), str(df.index[-1].date())
    ((2500, 5), '2015-01-02', '2024-08-01')
    >>> df.iloc[0]
    Open           99.94
    High          100.27
    Low            99.62
    Close          99.89
    Volume    1512900.00
    Name: 2015-01-02 00:00:00, dtype: float64
    """
    return _bundled(_DAILY_FILE).copy()


def load_hourly() -> pd.DataFrame:
    """Hourly sample prices: 10,000 synthetic bars, 09:00-16:00 on business days from 2019-01-02.

    Each day's 09:00 bar gaps from the previous close; the other bars open where the last one closed.

    Returns
    -------
    pandas.DataFrame
        A fresh copy (change it freely) with a DatetimeIndex named 'Date' and float64 columns 'Open',
        'High', 'Low', 'Close', 'Volume'.

    Examples
    --------
    >>> df = load_hourly()
    >>> df.shape, str(df.index[0]), str(df.index[-1])
    ((10000, 5), '2019-01-02 09:00:00', '2023-10-17 16:00:00')
    """
    return _bundled(_HOURLY_FILE).copy()
