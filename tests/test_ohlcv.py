"""Tests for backtestkit._ohlcv: validation and normalisation of users' OHLCV frames."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest as OracleBacktest
from backtesting import Strategy as OracleStrategy
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit._ohlcv import _parsed_index, normalise_columns, validate_ohlcv

DATES = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
PREFIX = "The 'data' parameter of Backtest must be "


def ohlc(**overrides: list) -> pd.DataFrame:
    """Four consistent daily bars (High >= max(Open, Close), Low <= min(Open, Close)), with int Volume."""
    columns = {
        "Open": [10.0, 11.0, 12.0, 11.0],
        "High": [11.5, 12.5, 12.5, 11.5],
        "Low": [9.5, 10.5, 10.5, 10.0],
        "Close": [11.0, 12.0, 11.0, 10.5],
        "Volume": [100, 200, 300, 400],
    }
    return pd.DataFrame({**columns, **overrides}, index=DATES)


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def with_index(labels: list) -> pd.DataFrame:
    return ohlc().set_axis(pd.Index(labels))


ERRORS = [
    (
        np.ones((4, 4)),
        TypeError,
        PREFIX + "a pandas DataFrame with columns 'Open', 'High', 'Low', 'Close' and optionally 'Volume'. "
        "Got ndarray instead.",
    ),
    (ohlc().iloc[:0], ValueError, PREFIX + "OHLC data with at least one row. Got 0 rows instead."),
    (
        ohlc().rename(columns={"High": "high", "Low": "lo"}),
        ValueError,
        PREFIX + "OHLC data with columns 'Open', 'High', 'Low', 'Close' and optionally 'Volume'. "
        "Got columns ['Open', 'high', 'lo', 'Close', 'Volume'] instead. "
        "Rename them first: df.rename(columns={'high': 'High'}).",
    ),
    (
        ohlc().drop(columns="Close"),
        ValueError,
        PREFIX + "OHLC data with columns 'Open', 'High', 'Low', 'Close' and optionally 'Volume'. "
        "Got columns ['Open', 'High', 'Low', 'Volume'] instead.",
    ),
    (
        pd.concat({"AAPL": ohlc()}, axis=1),
        ValueError,
        PREFIX + "OHLC data with one level of column names. Got MultiIndex columns instead. "
        "Select one instrument first, e.g. df.xs('AAPL', axis=1, level=1).",
    ),
    (
        pd.concat([ohlc(), ohlc()[["Close"]]], axis=1),
        ValueError,
        PREFIX + "OHLC data with one column per price field. Got 2 columns named 'Close' instead.",
    ),
    (
        ohlc(Close=["11", "12", "11", "10.5"]),
        TypeError,
        PREFIX + "OHLC data with numeric price columns. Got 'Close' of dtype "
        f"{pd.Series(['1']).dtype} instead. Convert it with pd.to_numeric(df['Close']).",
    ),
    (
        ohlc(Volume=[True, False, True, True]),
        TypeError,
        PREFIX + "OHLC data with numeric price columns. Got 'Volume' of dtype bool instead. "
        "Convert it with pd.to_numeric(df['Volume']).",
    ),
    (
        ohlc(Close=[11.0, np.nan, np.nan, 10.5]),
        ValueError,
        PREFIX + "OHLC data without NaN in 'Open', 'High', 'Low', 'Close'. "
        "Got NaN in 'Close' at rows 2024-01-03, 2024-01-04 instead. "
        "Drop them with df.dropna() or fill them with df.ffill().",
    ),
    (
        ohlc(High=[11.5, 12.5, np.inf, 11.5]),
        ValueError,
        PREFIX + "OHLC data with finite prices. Got infinite prices in 'High' at row 2024-01-04 instead.",
    ),
    (
        ohlc(Low=[9.5, 0.0, 10.5, -1.0]),
        ValueError,
        PREFIX + "OHLC data with prices > 0. "
        "Got prices <= 0 in 'Low' at rows 2024-01-03, 2024-01-05 instead.",
    ),
    (
        # bar 2: High 10 < Low 10.5 (and below Open 12, so High < Low is reported first: it is the root cause)
        ohlc(High=[11.5, 12.5, 10.0, 11.5]),
        ValueError,
        PREFIX + "OHLC data with High >= Low. Got High < Low at row 2024-01-04 instead.",
    ),
    (
        with_index(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"]),
        ValueError,
        PREFIX + "OHLC data with unique index labels. Got duplicates at labels 2024-01-02, 2024-01-03 "
        "instead. Keep the first of each with df[~df.index.duplicated()].",
    ),
    (
        with_index([pd.Timestamp("2024-01-02"), pd.NaT, pd.Timestamp("2024-01-04"), pd.NaT]),
        ValueError,
        PREFIX + "OHLC data without missing index labels. Got missing labels at positions 1, 3 instead. "
        "Drop them with df[df.index.notna()].",
    ),
]


@pytest.mark.parametrize(("data", "exception", "message"), ERRORS)
def test_validate_ohlcv_errors(data: object, exception: type[Exception], message: str) -> None:
    with pytest.raises(exception, match=exactly(message)):
        validate_ohlcv(data)


def test_errors_speak_for_the_caller() -> None:
    bad = ohlc(Close=[11.0, np.nan, 12.0, 10.5])
    with pytest.raises(
        ValueError, match=r"^The 'prices' parameter of read_ohlcv must be OHLC data without NaN"
    ):
        validate_ohlcv(bad, owner="read_ohlcv", name="prices")


def test_long_row_lists_are_shortened_to_fit() -> None:
    index = pd.date_range("2024-01-01 09:00", periods=40, freq="h")
    bad = pd.DataFrame({"Open": 1.0, "High": 1.0, "Low": 1.0, "Close": np.nan}, index=index)
    # Hourly labels are 19 characters: "NaN in 'Close' at rows " (23) + 2 labels (38) + ", " (2)
    # + " and 38 more" (12) = 75 fits the 80 characters the error template shows; a third label would not.
    expected = "Got NaN in 'Close' at rows 2024-01-01 09:00:00, 2024-01-01 10:00:00 and 38 more instead."
    with pytest.raises(ValueError, match=re.escape(expected)):
        validate_ohlcv(bad)


def test_valid_frame_becomes_float_copy_with_volume() -> None:
    data = ohlc().drop(columns="Volume").assign(Extra=[1, 2, 3, 4], Open=[10, 11, 12, 11])
    clean = validate_ohlcv(data)
    assert list(clean.columns) == ["Open", "High", "Low", "Close", "Extra", "Volume"]
    assert clean[["Open", "High", "Low", "Close", "Volume"]].dtypes.eq(np.float64).all()
    assert clean["Extra"].dtype == np.int64  # extra columns keep their dtype
    assert clean["Volume"].isna().all()
    assert clean.index.equals(DATES)
    np.testing.assert_array_equal(clean["Open"], [10.0, 11.0, 12.0, 11.0])


@pytest.mark.parametrize(
    "data",
    [
        ohlc(),
        ohlc().drop(columns="Volume"),
        ohlc().iloc[::-1],
        ohlc().set_axis(DATES.strftime("%Y-%m-%d")),
        ohlc(Open=[10, 11, 12, 11]),
    ],
    ids=["plain", "no-volume", "reversed", "date-strings", "int-prices"],
)
def test_callers_frame_is_never_modified(data: pd.DataFrame) -> None:
    before = data.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the reversed frame warns; tested elsewhere
        clean = validate_ohlcv(data)
    pd.testing.assert_frame_equal(data, before)
    assert clean is not data
    clean.iloc[0, 0] = 1e6
    pd.testing.assert_frame_equal(data, before)


def test_unsorted_index_is_sorted_with_a_warning_at_the_callers_line() -> None:
    with pytest.warns(UserWarning) as record:
        clean = validate_ohlcv(ohlc().iloc[[2, 0, 3, 1]])
    assert clean.index.equals(DATES)
    np.testing.assert_array_equal(clean["Volume"], [100, 200, 300, 400])
    assert str(record[0].message) == (
        "The index of the 'data' parameter of Backtest is not in ascending order; using a sorted copy."
    )
    assert record[0].filename == __file__


def wrapper_of_validate(data: pd.DataFrame) -> pd.DataFrame:
    return validate_ohlcv(data, stacklevel=3)


def test_stacklevel_points_past_a_wrapping_api() -> None:
    with pytest.warns(UserWarning) as record:
        wrapper_of_validate(ohlc().iloc[::-1])
    # The warning names this test's line, not the wrapper's.
    assert record[0].filename == __file__
    assert record[0].lineno == test_stacklevel_points_past_a_wrapping_api.__code__.co_firstlineno + 2


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (pd.Index(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]), DATES),
        (
            pd.Index(["2024-01-02 09:30", "2024-01-02 10:30", "2024-01-02 11:30", "2024-01-02 12:30"]),
            pd.DatetimeIndex(
                ["2024-01-02 09:30", "2024-01-02 10:30", "2024-01-02 11:30", "2024-01-02 12:30"]
            ),
        ),
        (pd.Index(["a", "b", "c", "d"]), None),  # not dates: kept
        (pd.Index(["2024-01-02", "x", "2024-01-04", "2024-01-05"]), None),  # one label does not parse: kept
        (pd.Index(["1", "2", "3", "4"]), None),  # no single date format: kept, never guessed
        # pandas would guess per label and put these times on today's date: kept, never guessed
        (pd.Index(["10:00", "11:00", "12:00", "13:00"]), None),
        (pd.Index([10, 20, 30, 40]), None),
        (pd.RangeIndex(4), None),
    ],
    ids=["dates", "times", "names", "one-unparseable", "no-format", "times-of-day", "integers", "range"],
)
def test_index_handling(labels: pd.Index, expected: pd.Index | None) -> None:
    clean = validate_ohlcv(ohlc().set_axis(labels))
    pd.testing.assert_index_equal(clean.index, labels if expected is None else expected, exact=True)


@pytest.mark.parametrize("labels", [["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], list("abcd")])
def test_parsing_labels_never_turns_warnings_into_errors(labels: list[str]) -> None:
    # The filters are process-wide: an "error" filter set even for a moment would turn the warnings
    # of other threads (an engine warning in a parallel run) into exceptions.
    actions: list[object] = []
    originals = {name: getattr(warnings, name) for name in ("simplefilter", "filterwarnings")}

    def recording(name: str) -> Callable[..., None]:
        def set_filter(action: object, *args: object, **kwargs: object) -> None:
            actions.append(action)
            originals[name](action, *args, **kwargs)

        return set_filter

    try:  # not monkeypatch: pytest's own warning capture must keep working around the test
        for name in originals:
            setattr(warnings, name, recording(name))
        parsed = _parsed_index(pd.Index(labels))
    finally:
        for name, function in originals.items():
            setattr(warnings, name, function)
    assert "error" not in actions
    assert isinstance(parsed, pd.DatetimeIndex) == (labels[0] == "2024-01-02")


def test_index_of_names_keeps_its_order_without_warning() -> None:
    # "10" < "9" as strings, but labels that are not dates or numbers have no order to restore.
    clean = validate_ohlcv(with_index(["9", "10", "b", "a"]))
    assert list(clean.index) == ["9", "10", "b", "a"]


def test_datetime_index_keeps_timezone_and_name() -> None:
    index = DATES.tz_localize("Europe/Zurich").rename("When")
    clean = validate_ohlcv(ohlc().set_axis(index))
    pd.testing.assert_index_equal(clean.index, index)


class Quiet(OracleStrategy):
    """A strategy for the oracle that does nothing."""

    def init(self) -> None:
        pass

    def next(self) -> None:
        pass


def oracle_data(data: object) -> pd.DataFrame:
    """The frame backtesting.py's Backtest works on, observed as a black box (it may warn: ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return OracleBacktest(data, Quiet)._data


@pytest.mark.parametrize(
    "data",
    [ohlc(), ohlc().drop(columns="Volume"), ohlc().iloc[[3, 1, 2, 0]], ohlc().assign(Extra=1.5)],
    ids=["plain", "no-volume", "shuffled", "extra-column"],
)
def test_same_frame_as_backtesting_py(data: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = validate_ohlcv(data)
    pd.testing.assert_frame_equal(ours, oracle_data(data), check_dtype=False, check_like=True)


@pytest.mark.parametrize(
    "data",
    [np.ones((4, 4)), ohlc().iloc[:0], ohlc().drop(columns="Low"), ohlc(Open=[10.0, np.nan, 12.0, 11.0])],
    ids=["array", "empty", "no-low", "nan"],
)
def test_rejects_what_backtesting_py_rejects(data: object) -> None:
    with pytest.raises((TypeError, ValueError)) as ours:
        validate_ohlcv(data)
    with pytest.raises((TypeError, ValueError)) as theirs:
        oracle_data(data)
    assert ours.type is theirs.type


bars = st.lists(
    st.tuples(
        st.floats(0.01, 1e6), st.floats(0.01, 1e6), st.floats(0, 1), st.floats(0, 1), st.integers(0, 10**9)
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(bars)
def test_consistent_bars_pass_unchanged(rows: list[tuple[float, float, float, float, int]]) -> None:
    # High/Low stretch away from the body by a fraction of it, so every bar is consistent by construction.
    open_, close, up, down, volume = np.array(rows).T
    high = np.maximum(open_, close) * (1 + up)
    low = np.minimum(open_, close) * (1 - down / 2)
    data = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume})
    clean = validate_ohlcv(data)
    np.testing.assert_array_equal(clean.to_numpy(), data.to_numpy(dtype=float))
    pd.testing.assert_frame_equal(validate_ohlcv(clean), clean)  # idempotent


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3), st.sampled_from(["High", "Low"]), st.floats(0.001, 0.5))
def test_any_high_or_low_inside_the_body_is_widened_to_it(row: int, column: str, by: float) -> None:
    data = ohlc()
    body = data[["Open", "Close"]].iloc[row]
    data.loc[DATES[row], column] = body.max() - by if column == "High" else body.min() + by
    expected = f"1 row has Open or Close outside \\[Low, High\\] \\({DATES[row].date()}\\)"
    with pytest.warns(UserWarning, match=expected):
        clean = validate_ohlcv(data)
    assert clean[column].iloc[row] == (body.max() if column == "High" else body.min())
    pd.testing.assert_frame_equal(clean.drop(index=DATES[row]), validate_ohlcv(ohlc()).drop(index=DATES[row]))


def test_open_or_close_outside_the_range_warns_once_naming_the_count_and_the_first_rows() -> None:
    # bar 0: High 10.9 < Close 11.0; bar 1: Open 13 > High 12.5; bar 3: Low 10.6 > Close 10.5
    data = ohlc(High=[10.9, 12.5, 12.5, 11.5], Open=[10.0, 13.0, 12.0, 11.0], Low=[9.5, 10.5, 10.5, 10.6])
    with pytest.warns(UserWarning) as record:
        clean = validate_ohlcv(data)
    assert [str(w.message) for w in record] == [
        "The 'data' parameter of Backtest: 3 rows have Open or Close outside [Low, High] "
        "(2024-01-02, 2024-01-03, 2024-01-05). Their High and Low are widened to include Open and Close, "
        "the prices the bar traded at."]
    assert record[0].filename == __file__  # points at the caller's line
    assert clean["High"].tolist() == [11.0, 13.0, 12.5, 11.5]  # max(High, Open, Close)
    assert clean["Low"].tolist() == [9.5, 10.5, 10.5, 10.5]  # min(Low, Open, Close)
    assert clean[["Open", "Close"]].equals(data[["Open", "Close"]])  # the traded prices stay as given


def test_many_rows_outside_the_range_list_the_first_three() -> None:
    index = pd.date_range("2024-01-01", periods=10)
    data = pd.DataFrame({"Open": 10.0, "High": 9.9, "Low": 9.0, "Close": 9.5}, index=index)
    with pytest.warns(UserWarning, match=r"10 rows have .* \(2024-01-01, 2024-01-02, 2024-01-03, \.\.\.\)\."):
        validate_ohlcv(data)


NORMALISED = [
    ({"open": 1, "HIGH": 2, " Low ": 3, "close": 4, "volume": 5}, ["Open", "High", "Low", "Close", "Volume"]),
    ({"o": 1, "h": 2, "l": 3, "c": 4, "vol": 5}, ["Open", "High", "Low", "Close", "Volume"]),
    ({"O": 1, "H": 2, "L": 3, "C": 4, "V": 5}, ["Open", "High", "Low", "Close", "Volume"]),
    # The exact name wins; the other spellings are left alone.
    ({"Close": 1, "close": 2, "c": 3}, ["Close", "close", "c"]),
    # A full word beats an alias.
    ({"c": 1, "CLOSE": 2}, ["c", "Close"]),
    # Adjusted close is a different series: never taken for Close.
    ({"Adj Close": 1, "Date": 2, 3: 4}, ["Adj Close", "Date", 3]),
]


@pytest.mark.parametrize(("columns", "expected"), NORMALISED)
def test_normalise_columns(columns: dict, expected: list) -> None:
    data = pd.DataFrame({key: [value] for key, value in columns.items()})
    before = data.copy(deep=True)
    assert list(normalise_columns(data).columns) == expected
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(
    ("data", "exception", "message"),
    [
        (
            pd.DataFrame({"close": [1], "CLOSE": [2]}),
            ValueError,
            "The 'df' parameter of normalise_columns must be OHLC data with one column per price field. "
            "Got 'close', 'CLOSE' all naming 'Close' instead. Drop or rename all but one.",
        ),
        (
            {"open": [1]},
            TypeError,
            "The 'df' parameter of normalise_columns must be a pandas DataFrame. Got dict instead.",
        ),
    ],
)
def test_normalise_columns_errors(data: object, exception: type[Exception], message: str) -> None:
    with pytest.raises(exception, match=exactly(message)):
        normalise_columns(data)  # type: ignore[arg-type]


def test_layering_ohlcv_imports_only_errors() -> None:
    import ast
    import pathlib

    import backtestkit._ohlcv as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert {name for name in imported if name.startswith("backtestkit")} == {"backtestkit._errors"}
