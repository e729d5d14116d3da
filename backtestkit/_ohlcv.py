"""Validation and normalisation of users' OHLCV price data.

Everything here checks a user's frame and hands back a clean copy; nothing is modified in place.
Imports flow one way: this module depends only on ``_errors``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Iterable

import numpy as np
import pandas as pd

from backtestkit._errors import Verbatim, param_error

try:
    from pandas.tseries.api import guess_datetime_format
except ImportError:  # pragma: no cover - pandas < 2.2 has it only here
    from pandas._libs.tslibs.parsing import guess_datetime_format

OHLC = ("Open", "High", "Low", "Close")
OHLCV = (*OHLC, "Volume")

# Spellings normalise_columns() recognises, compared after strip() and lower(); full words beat aliases.
_SPELLINGS = (
    {field.lower(): field for field in OHLCV},
    {"o": "Open", "h": "High", "l": "Low", "c": "Close", "v": "Volume", "vol": "Volume"},
)
_COLUMNS = "columns 'Open', 'High', 'Low', 'Close' and optionally 'Volume'"
# _errors.describe() shortens any "Got ..." text longer than this, so row listings are fitted to it.
_GOT_WIDTH = 80


def _label(label: Hashable) -> str:
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return label.strftime("%Y-%m-%d")
    return str(label)


def _at_rows(problem: str, labels: pd.Index, word: str = "row") -> Verbatim:
    """``"<problem> at rows a, b and 3 more"``, listing as many labels as fit the error's width."""
    texts = [_label(label) for label in labels[:10]]
    plural = f"{word}s" if len(labels) > 1 else word

    def render(shown: int) -> str:
        rest = len(labels) - shown
        return f"{problem} at {plural} {', '.join(texts[:shown])}" + (f" and {rest} more" if rest else "")

    shown = next((n for n in range(len(texts), 1, -1) if len(render(n)) <= _GOT_WIDTH), 1)
    return Verbatim(render(shown))


def _candidates(columns: Iterable[Hashable]) -> dict[str, list[Hashable]]:
    """Columns that could be renamed to each absent OHLCV field, from the best spelling tier only."""
    columns = list(columns)
    found: dict[str, list[Hashable]] = {}
    for spellings in _SPELLINGS:
        tier: dict[str, list[Hashable]] = {}
        for column in columns:
            field = spellings.get(column.strip().lower()) if isinstance(column, str) else None
            if field is not None and field not in columns and field not in found:
                tier.setdefault(field, []).append(column)
        found.update(tier)
    return found


def normalise_columns(
    df: pd.DataFrame, *, owner: str = "normalise_columns", name: str = "df"
) -> pd.DataFrame:
    """Return a copy of ``df`` with its price columns renamed to 'Open', 'High', 'Low', 'Close', 'Volume'.

    Names match case-insensitively, ignoring surrounding spaces ('open', ' CLOSE '), and so do the
    short aliases 'o', 'h', 'l', 'c', 'v' and 'vol'. A column already spelled exactly right is kept;
    full words win over aliases. Other columns, including 'Adj Close', are kept as they are.

    Parameters
    ----------
    df : pandas.DataFrame
        The user's frame; it is not modified.
    owner, name : str
        Who is asking and for which parameter, for error messages.

    Returns
    -------
    pandas.DataFrame
        A new frame with the recognised columns renamed.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame.
    ValueError
        If two columns could both be the same field, e.g. 'close' and 'CLOSE'.

    Examples
    --------
    >>> df = pd.DataFrame({'open': [1.0], 'HIGH': [2.0], 'l': [0.5], ' Close ': [1.5], 'vol': [10]})
    >>> list(normalise_columns(df).columns)
    ['Open', 'High', 'Low', 'Close', 'Volume']
    """
    if not isinstance(df, pd.DataFrame):
        raise param_error(owner, name, "a pandas DataFrame", Verbatim(type(df).__name__), exc=TypeError)
    renames = {}
    for field, columns in _candidates(df.columns).items():
        if len(columns) > 1:
            listing = ", ".join(repr(column) for column in columns)
            raise param_error(
                owner,
                name,
                "OHLC data with one column per price field",
                Verbatim(f"{listing} all naming {field!r}"),
                hint="Drop or rename all but one.",
            )
        renames[columns[0]] = field
    return df.rename(columns=renames)


def _check_columns(data: pd.DataFrame, owner: str, name: str) -> list[str]:
    """Check the OHLCV columns are there, once each and numeric; return those present."""
    if isinstance(data.columns, pd.MultiIndex):
        raise param_error(
            owner,
            name,
            "OHLC data with one level of column names",
            Verbatim("MultiIndex columns"),
            hint="Select one instrument first, e.g. df.xs('AAPL', axis=1, level=1).",
        )
    missing = [field for field in OHLC if field not in data.columns]
    if missing:
        renames = {found[0]: field for field, found in _candidates(data.columns).items() if field in missing}
        got = Verbatim(f"columns {list(data.columns)!r}")
        raise param_error(
            owner,
            name,
            f"OHLC data with {_COLUMNS}",
            got,
            hint=f"Rename them first: df.rename(columns={renames!r})." if renames else "",
        )
    present = [field for field in OHLCV if field in data.columns]
    for field in present if not data.columns.is_unique else ():
        count = (data.columns == field).sum()
        if count > 1:
            raise param_error(
                owner,
                name,
                "OHLC data with one column per price field",
                Verbatim(f"{count} columns named {field!r}"),
            )
    dtypes = data.dtypes
    for field in present:
        dtype = dtypes[field]
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise param_error(
                owner,
                name,
                "OHLC data with numeric price columns",
                Verbatim(f"{field!r} of dtype {dtype}"),
                exc=TypeError,
                hint=f"Convert it with pd.to_numeric(df[{field!r}]).",
            )
    return present


def _checked_copy(data: object, owner: str, name: str) -> pd.DataFrame:
    """Check the frame's type, size and columns; return a copy with float64 OHLCV columns."""
    if not isinstance(data, pd.DataFrame):
        raise param_error(
            owner, name, f"a pandas DataFrame with {_COLUMNS}", Verbatim(type(data).__name__), exc=TypeError
        )
    if len(data) == 0:
        raise param_error(owner, name, "OHLC data with at least one row", Verbatim("0 rows"))
    present = _check_columns(data, owner, name)
    frame = data.copy()
    for column in present:  # column by column: astype({...}) concatenates copies, several times slower
        if frame[column].dtype != np.float64:
            frame[column] = frame[column].astype("float64")
    if "Volume" not in frame.columns:
        frame["Volume"] = np.nan
    return frame


_ColumnCheck = tuple[str, Callable[[np.ndarray], np.ndarray], str, str]
_COLUMN_CHECKS: tuple[_ColumnCheck, ...] = (
    (
        "OHLC data without NaN in 'Open', 'High', 'Low', 'Close'",
        np.isnan,
        "NaN",
        "Drop them with df.dropna() or fill them with df.ffill().",
    ),
    ("OHLC data with finite prices", np.isinf, "infinite prices", ""),
    ("OHLC data with prices > 0", lambda prices: prices <= 0, "prices <= 0", ""),
)


def _rows_check(
    owner: str, name: str, index: pd.Index, bad: np.ndarray, expected: str, problem: str, hint: str = ""
) -> None:
    if bad.any():
        raise param_error(owner, name, expected, _at_rows(problem, index[bad]), hint=hint)


def _check_prices(frame: pd.DataFrame, owner: str, name: str, stacklevel: int) -> None:
    """Every price present, finite and positive, and High >= Low; where Open or Close lies outside
    [Low, High] (vendor data often has a few such bars), widen High and Low to include it, with a warning.

    The bar traded at its Open and Close, so they belong in its range: widened, every fill the broker
    makes (all within [Low, High], or at the Open) stays within prices the bar reported.
    """
    prices = {field: frame[field].to_numpy() for field in OHLC}
    high, low = prices["High"], prices["Low"]
    body_top = np.maximum(prices["Open"], prices["Close"])
    body_bottom = np.minimum(prices["Open"], prices["Close"])
    # Clean data passes in one sweep: NaN fails every comparison, and with 0 < Low <= Open, Close <= High
    # a finite High bounds them all. Otherwise the checks below find and name the rows.
    if all(ok.all() for ok in (low > 0, low <= body_bottom, high >= body_top, np.isfinite(high))):
        return
    for expected, is_bad, problem, hint in _COLUMN_CHECKS:
        for field, values in prices.items():
            _rows_check(owner, name, frame.index, is_bad(values), expected, f"{problem} in {field!r}", hint)
    _rows_check(owner, name, frame.index, high < low, "OHLC data with High >= Low", "High < Low")
    outside = (high < body_top) | (low > body_bottom)
    labels = [_label(label) for label in frame.index[outside][:4]]
    listing = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
    rows = f"{outside.sum()} row" + ("s have" if outside.sum() > 1 else " has")
    warnings.warn(
        f"The {name!r} parameter of {owner}: {rows} Open or Close outside [Low, High] ({listing}). "
        "Their High and Low are widened to include Open and Close, the prices the bar traded at.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    frame["High"], frame["Low"] = np.maximum(high, body_top), np.minimum(low, body_bottom)


def _parsed_index(index: pd.Index) -> pd.Index:
    """Date strings become a DatetimeIndex when they all have the format of the first; else unchanged.

    The format is guessed from the first label, as pandas does, but without letting pandas fall back
    to guessing label by label (dateutil): such labels are not dates we can trust. No warnings filter
    is touched, as that would be process-wide, not thread-safe.
    """
    if index.inferred_type != "string":
        return index
    labels = index.dropna()
    date_format = guess_datetime_format(labels[0]) if len(labels) else None
    if date_format is None:
        return index
    try:
        parsed = pd.to_datetime(index, format=date_format)
    except (ValueError, TypeError, OverflowError):
        return index
    return parsed if isinstance(parsed, pd.DatetimeIndex) else index


def _is_ordered(index: pd.Index) -> bool:
    """Whether the labels have a natural order (times, numbers) rather than being mere names."""
    return isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index.dtype)


def _check_index(index: pd.Index, owner: str, name: str) -> None:
    positions = pd.RangeIndex(len(index))
    if index.hasnans:
        raise param_error(
            owner,
            name,
            "OHLC data without missing index labels",
            _at_rows("missing labels", positions[index.isna()], word="position"),
            hint="Drop them with df[df.index.notna()].",
        )
    duplicated = index.duplicated()
    if duplicated.any():
        raise param_error(
            owner,
            name,
            "OHLC data with unique index labels",
            _at_rows("duplicates", index[duplicated].unique(), word="label"),
            hint="Keep the first of each with df[~df.index.duplicated()].",
        )


def validate_ohlcv(
    data: object, *, owner: str = "Backtest", name: str = "data", stacklevel: int = 2
) -> pd.DataFrame:
    """Check a user's OHLCV frame and return a clean, new copy of it.

    The copy has float64 'Open', 'High', 'Low', 'Close' and 'Volume' columns (an all-NaN 'Volume' is
    added when absent) and the other columns as they were. An index of date strings in one format
    becomes a DatetimeIndex; any other index (integers, a RangeIndex) is kept. A datetime or numeric
    index is sorted ascending; labels without a natural order (names) keep the order given.

    Parameters
    ----------
    data : pandas.DataFrame
        The user's prices; never modified.
    owner, name : str
        Who is asking and for which parameter, for error messages ("The 'data' parameter of Backtest ...").
    stacklevel : int
        Passed to :func:`warnings.warn`, as if ``validate_ohlcv`` called it: 2 points at its caller.

    Returns
    -------
    pandas.DataFrame
        The validated copy.

    Raises
    ------
    TypeError
        If ``data`` is not a DataFrame or a price column is not numeric.
    ValueError
        If ``data`` is empty, lacks a price column, has NaN, infinite or non-positive prices, a High
        below its Low, or missing or duplicate index labels.

    Warns
    -----
    UserWarning
        If a datetime or numeric index is not in ascending order (the copy is sorted), or if Open or
        Close lies outside [Low, High] on some rows (the copy's High and Low are widened to include them).

    Examples
    --------
    >>> df = pd.DataFrame({'Open': [10, 11], 'High': [12, 12], 'Low': [9, 10], 'Close': [11, 12]},
    ...                   index=['2024-01-02', '2024-01-03'])
    >>> clean = validate_ohlcv(df)
    >>> clean.index.dtype.kind, list(clean.columns), clean['Close'].dtype
    ('M', ['Open', 'High', 'Low', 'Close', 'Volume'], dtype('float64'))
    >>> validate_ohlcv(df.assign(High=[8.5, 12]))
    Traceback (most recent call last):
    ...
    ValueError: The 'data' parameter of Backtest must be OHLC data with High >= Low. ...
    """
    frame = _checked_copy(data, owner, name)
    _check_prices(frame, owner, name, stacklevel)
    frame.index = _parsed_index(frame.index)
    _check_index(frame.index, owner, name)
    if _is_ordered(frame.index) and not frame.index.is_monotonic_increasing:
        warnings.warn(
            f"The index of the {name!r} parameter of {owner} is not in ascending order; using a sorted copy.",
            UserWarning,
            stacklevel=stacklevel,
        )
        frame = frame.sort_index(kind="stable")
    return frame
