"""Tests for backtestkit.datasets: the bundled samples, their generator, read_ohlcv and random_ohlc_data."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting.lib import random_ohlc_data as oracle_random_ohlc_data

import backtestkit.datasets as datasets
from backtestkit.datasets import _generate, load_daily, load_hourly, read_ohlcv
from backtestkit.datasets._random import random_ohlc_data

PACKAGE = resources.files("backtestkit.datasets")
LOADERS = {"daily.csv": load_daily, "hourly.csv": load_hourly}
Loader = Callable[[], pd.DataFrame]


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


def log_returns(df: pd.DataFrame) -> pd.Series:
    return np.log(df["Close"]).diff().dropna()


# --- the bundled samples and their generator ------------------------------------------------------


def test_generator_reproduces_the_bundled_files_byte_for_byte(tmp_path: Path) -> None:
    written = _generate.write(tmp_path)
    assert sorted(path.name for path in written) == sorted(LOADERS)
    for path in written:
        assert path.read_bytes() == (PACKAGE / path.name).read_bytes(), path.name


def test_command_line_writes_into_the_given_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _generate.main([str(tmp_path / "out")])
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(LOADERS)
    assert capsys.readouterr().out.count("wrote ") == 2


@pytest.mark.parametrize("file_name", sorted(LOADERS))
def test_bundled_files_are_small_plain_csv(file_name: str) -> None:
    content = (PACKAGE / file_name).read_bytes()
    assert len(content) < 1_000_000
    assert content.startswith(b"Date,Open,High,Low,Close,Volume\n")
    assert b"\r" not in content


@pytest.mark.parametrize(
    ("loader", "rows", "first", "last"),
    [
        (load_daily, 2_500, "2015-01-02 00:00:00", "2024-08-01 00:00:00"),
        (load_hourly, 10_000, "2019-01-02 09:00:00", "2023-10-17 16:00:00"),
    ],
)
def test_shape_index_and_dtypes(loader: Loader, rows: int, first: str, last: str) -> None:
    df = loader()
    assert df.shape == (rows, 5)
    assert list(df.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert (df.dtypes == np.float64).all()
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.name == "Date"
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert (str(df.index[0]), str(df.index[-1])) == (first, last)


@pytest.mark.parametrize("loader", [load_daily, load_hourly])
def test_loaders_hand_out_fresh_copies(loader: Loader) -> None:
    first = loader()
    first.iloc[:, :] = -1.0
    second = loader()
    assert second is not first
    assert (second[["Open", "High", "Low", "Close"]] > 0).all().all()


@pytest.mark.parametrize("loader", [load_daily, load_hourly])
def test_prices_are_consistent_positive_cents(loader: Loader) -> None:
    df = loader()
    assert (df[["Open", "High", "Low", "Close", "Volume"]] > 0).all().all()
    assert (df["High"] >= df[["Open", "Close"]].max(axis=1)).all()
    assert (df["Low"] <= df[["Open", "Close"]].min(axis=1)).all()
    cents = df[["Open", "High", "Low", "Close"]].to_numpy() * 100
    np.testing.assert_allclose(cents, np.round(cents), atol=1e-6)


@pytest.mark.parametrize("loader", [load_daily, load_hourly])
def test_there_are_up_years_and_down_years(loader: Loader) -> None:
    df = loader()
    year_end = df["Close"].groupby(df.index.year).last()
    yearly = year_end / year_end.shift().fillna(df["Open"].iloc[0]) - 1
    assert (yearly > 0.05).any() and (yearly < -0.05).any()


@pytest.mark.parametrize("loader", [load_daily, load_hourly])
def test_volatility_regimes_cluster_and_drive_volume(loader: Loader) -> None:
    df = loader()
    returns = log_returns(df)
    rolling = returns.rolling(60).std().dropna()
    assert rolling.max() > 2.5 * rolling.min()  # calm and turbulent spells; iid noise gives ~1.5
    assert returns.abs().autocorr(1) > 0.1  # volatility clustering; ~0 without it
    assert np.corrcoef(np.log(df["Volume"].iloc[1:]), returns.abs())[0, 1] > 0.3


def test_daily_bars_gap_from_the_previous_close() -> None:
    df = load_daily()
    gapped = df["Open"].iloc[1:].to_numpy() != df["Close"].iloc[:-1].to_numpy()
    assert gapped.mean() > 0.9


def test_hourly_bars_gap_only_at_the_session_open() -> None:
    df = load_hourly()
    gapped = pd.Series(df["Open"].to_numpy() != df["Close"].shift().to_numpy(), index=df.index).iloc[1:]
    at_open = gapped.index.hour == 9
    assert not gapped[~at_open].any()
    assert gapped[at_open].mean() > 0.9
    assert sorted(set(df.index.hour)) == list(range(9, 17))
    assert set(df.index.day_of_week) == {0, 1, 2, 3, 4}


def test_datasets_public_api() -> None:
    assert datasets.__all__ == sorted(datasets.__all__) == ["load_daily", "load_hourly", "read_ohlcv"]
    for name in datasets.__all__:
        function = getattr(datasets, name)
        assert callable(function) and ">>> " in (function.__doc__ or ""), name


# --- read_ohlcv -----------------------------------------------------------------------------------

DAILY_SAMPLE = load_daily().iloc[:6]


def two_bars(index: pd.Index, volume: list[float] | None = None, **extra: list) -> pd.DataFrame:
    """The two bars every odd file below holds, as read_ohlcv should return them."""
    columns = {"Open": [10.0, 11.0], "High": [12.0, 13.0], "Low": [9.0, 10.0], "Close": [11.0, 12.0]}
    return pd.DataFrame({**columns, "Volume": volume or [np.nan, np.nan], **extra}, index=index)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    DAILY_SAMPLE.to_csv(path)
    pd.testing.assert_frame_equal(read_ohlcv(path), DAILY_SAMPLE)
    pd.testing.assert_frame_equal(read_ohlcv(str(path)), DAILY_SAMPLE)


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".PARQUET"])
@pytest.mark.parametrize("as_column", [False, True], ids=["index", "date-column"])
def test_parquet_round_trip(tmp_path: Path, suffix: str, as_column: bool) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / f"prices{suffix}"
    (DAILY_SAMPLE.reset_index() if as_column else DAILY_SAMPLE).to_parquet(path)
    pd.testing.assert_frame_equal(read_ohlcv(path), DAILY_SAMPLE)


def test_parquet_without_pyarrow_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyarrow")  # to write the file
    path = tmp_path / "prices.parquet"
    DAILY_SAMPLE.to_parquet(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` raise ImportError
    message = "read_ohlcv needs pyarrow to read Parquet files. Install it with `pip install pyarrow`."
    with pytest.raises(ImportError, match=exactly(message)):
        read_ohlcv(path)


DAYS = pd.DatetimeIndex(["2024-01-02", "2024-01-03"])
ODD_FILES = {
    "aliases-and-spaces": (
        "timestamp, o ,h,l,c,vol,Adj Close\n"
        "2024-01-02,10,12,9,11,100,10.9\n"
        "2024-01-03,11,13,10,12,200,11.9\n",
        {},
        two_bars(DAYS.rename("timestamp"), [100.0, 200.0], **{"Adj Close": [10.9, 11.9]}),
    ),
    "date-and-time-columns": (
        "DATE,TIME,Open,High,Low,Close\n2024-01-02,09:30,10,12,9,11\n2024-01-02,10:30,11,13,10,12\n",
        {},
        two_bars(pd.DatetimeIndex(["2024-01-02 09:30", "2024-01-02 10:30"], name="DATE")),
    ),
    "date-column-last": (
        "Open,High,Low,Close,Datetime\n10,12,9,11,2024-01-02\n11,13,10,12,2024-01-03\n",
        {},
        two_bars(DAYS.rename("Datetime")),
    ),
    "unnamed-first-column": (
        ",OPEN,HIGH,LOW,CLOSE\n2024-01-02,10,12,9,11\n2024-01-03,11,13,10,12\n",
        {},
        two_bars(DAYS),
    ),
    "semicolons": (
        "Date;Open;High;Low;Close\n2024-01-02;10;12;9;11\n2024-01-03;11;13;10;12\n",
        {"sep": ";"},
        two_bars(DAYS.rename("Date")),
    ),
    "no-dates": ("Open,High,Low,Close\n10,12,9,11\n11,13,10,12\n", {}, two_bars(pd.RangeIndex(2))),
    "index-col-given": (
        "Open,High,Low,Close,bar\n10,12,9,11,7\n11,13,10,12,8\n",
        {"index_col": "bar"},
        two_bars(pd.Index([7, 8], name="bar")),
    ),
}


@pytest.mark.parametrize(("text", "kwargs", "expected"), ODD_FILES.values(), ids=ODD_FILES.keys())
def test_odd_files(tmp_path: Path, text: str, kwargs: dict, expected: pd.DataFrame) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(text)
    pd.testing.assert_frame_equal(read_ohlcv(path, **kwargs), expected)


def test_unsorted_file_is_sorted_with_a_warning_at_the_callers_line(tmp_path: Path) -> None:
    path = tmp_path / "unsorted.csv"
    path.write_text("Date,Open,High,Low,Close\n2024-01-03,11,13,10,12\n2024-01-02,10,12,9,11\n")
    with pytest.warns(UserWarning) as record:
        df = read_ohlcv(path)
    pd.testing.assert_frame_equal(df, two_bars(DAYS.rename("Date")))
    assert str(record[0].message) == (
        "The index of the 'path' parameter of read_ohlcv is not in ascending order; using a sorted copy."
    )
    assert record[0].filename == __file__


READ_ERRORS = {
    "not-a-path": (
        3,
        TypeError,
        "The 'path' parameter of read_ohlcv must be a str or os.PathLike. Got int instead.",
    ),
    "no-such-file": (
        "no-such-file.csv",
        FileNotFoundError,
        "The 'path' parameter of read_ohlcv must be an existing file. Got 'no-such-file.csv' instead.",
    ),
    "nan": (
        "Date,Open,High,Low,Close\n2024-01-02,10,12,9,11\n2024-01-03,11,13,10,\n",
        ValueError,
        "The 'path' parameter of read_ohlcv must be OHLC data without NaN in 'Open', 'High', 'Low', 'Close'. "
        "Got NaN in 'Close' at row 2024-01-03 instead. "
        "Drop them with df.dropna() or fill them with df.ffill().",
    ),
    "no-low": (
        "Date,Open,High,Close\n2024-01-02,10,12,11\n",
        ValueError,
        "The 'path' parameter of read_ohlcv must be OHLC data with columns 'Open', 'High', 'Low', 'Close' "
        "and optionally 'Volume'. Got columns ['Open', 'High', 'Close'] instead.",
    ),
    "two-closes": (
        "Date,close,CLOSE,Open,High,Low\n2024-01-02,11,11,10,12,9\n",
        ValueError,
        "The 'path' parameter of read_ohlcv must be OHLC data with one column per price field. "
        "Got 'close', 'CLOSE' all naming 'Close' instead. Drop or rename all but one.",
    ),
    "repeated-date": (
        "Date,Open,High,Low,Close\n2024-01-02,10,12,9,11\n2024-01-02,10,12,9,11\n",
        ValueError,
        "The 'path' parameter of read_ohlcv must be OHLC data with unique index labels. "
        "Got duplicates at label 2024-01-02 instead. Keep the first of each with df[~df.index.duplicated()].",
    ),
}


@pytest.mark.parametrize(("content", "exception", "message"), READ_ERRORS.values(), ids=READ_ERRORS.keys())
def test_read_ohlcv_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: object, exception: type, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = content
    if isinstance(content, str) and "\n" in content:
        path = tmp_path / "bad.csv"
        path.write_text(content)
    with pytest.raises(exception, match=exactly(message)):
        read_ohlcv(path)  # type: ignore[arg-type]


# --- random_ohlc_data -----------------------------------------------------------------------------

EXAMPLE = load_daily().iloc[:300]


def test_random_frames_are_reproducible_and_new_each_time() -> None:
    first, second = random_ohlc_data(EXAMPLE, random_state=7), random_ohlc_data(EXAMPLE, random_state=7)
    frames = [next(first) for _ in range(3)]
    for frame in frames:
        pd.testing.assert_frame_equal(frame, next(second))
    assert not frames[0].equals(frames[1])
    assert not frames[0].equals(next(random_ohlc_data(EXAMPLE, random_state=8)))


def test_two_bar_example_worked_by_hand() -> None:
    # bar 0: O=100 H=110 L=90 C=105; bar 1 opens at 106, a gap of 106/105 over bar 0's close.
    example = pd.DataFrame(
        {"Open": [100.0, 106.0], "High": [110.0, 108.0], "Low": [90.0, 100.0], "Close": [105.0, 102.0]},
        index=DAYS,
    )
    # In order, the example comes back. Swapped, bar 1's shape starts at 100 (H = 100 * 108/106, ...),
    # and bar 0's shape follows at that close times the gap 106/105 (H = O * 1.1, L = O * 0.9, C = O * 1.05).
    close_0 = 100 * 102 / 106
    open_1 = close_0 * 106 / 105
    swapped = [
        [100.0, 100 * 108 / 106, 100 * 100 / 106, close_0],
        [open_1, open_1 * 1.1, open_1 * 0.9, open_1 * 1.05],
    ]
    seen = set()
    for frame, _ in zip(random_ohlc_data(example, random_state=0), range(20), strict=False):
        prices = frame[["Open", "High", "Low", "Close"]].to_numpy()
        is_swapped = not np.allclose(prices, example.to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(prices, swapped if is_swapped else example.to_numpy(), rtol=1e-12)
        seen.add(is_swapped)
    assert seen == {False, True}


def test_full_frame_reshuffles_the_examples_bars() -> None:
    frame = next(random_ohlc_data(EXAMPLE, random_state=1))
    pd.testing.assert_index_equal(frame.index, EXAMPLE.index)
    assert list(frame.columns) == list(EXAMPLE.columns)

    def bars(df: pd.DataFrame) -> np.ndarray:  # each bar's shape relative to its Open, with its volume
        shape = df[["High", "Low", "Close"]].to_numpy() / df[["Open"]].to_numpy()
        rows = np.column_stack([shape, df["Volume"]])
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_allclose(bars(frame), bars(EXAMPLE), rtol=1e-12)
    # The gaps between bars keep the example's order, and the path starts at the example's first Open.
    gaps = frame["Open"].iloc[1:].to_numpy() / frame["Close"].iloc[:-1].to_numpy()
    example_gaps = EXAMPLE["Open"].iloc[1:].to_numpy() / EXAMPLE["Close"].iloc[:-1].to_numpy()
    np.testing.assert_allclose(gaps, example_gaps, rtol=1e-12)
    assert frame["Open"].iloc[0] == EXAMPLE["Open"].iloc[0]


def test_full_frame_matches_backtesting_py_where_both_are_defined() -> None:
    ours = next(random_ohlc_data(EXAMPLE, random_state=3))
    theirs = next(oracle_random_ohlc_data(EXAMPLE, random_state=3))
    pd.testing.assert_index_equal(ours.index, theirs.index)
    assert list(ours.columns) == list(theirs.columns)
    # Both shuffle whole bars: the same volumes, in another order.
    assert sorted(ours["Volume"]) == sorted(theirs["Volume"]) == sorted(EXAMPLE["Volume"])
    assert not ours["Volume"].equals(EXAMPLE["Volume"])


@pytest.mark.parametrize(("frac", "rows"), [(0.5, 150), (1.0, 300), (2.5, 750)])
def test_frac_sets_the_length_and_frames_stay_valid(frac: float, rows: int) -> None:
    frame = next(random_ohlc_data(EXAMPLE, frac=frac, random_state=0))
    assert len(frame) == rows
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    pd.testing.assert_index_equal(frame.index[: len(EXAMPLE)], EXAMPLE.index[:rows])
    assert (frame["High"] >= frame[["Open", "Close"]].max(axis=1)).all()
    assert (frame["Low"] <= frame[["Open", "Close"]].min(axis=1)).all()
    assert (frame[["Open", "High", "Low", "Close"]] > 0).all().all()
    if frac <= 1:  # drawn without replacement: no bar twice
        assert frame["Volume"].is_unique == EXAMPLE["Volume"].is_unique


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # period = span 13 - 10 + last step 2 = 5, so the labels repeat shifted by 5.
        (pd.Index([10, 11, 13]), pd.Index([10, 11, 13, 15, 16, 18])),
        # Fri, Mon, Tue: period = 4 days + 1 day = 5 days, so the weekly pattern repeats.
        (
            pd.DatetimeIndex(["2024-01-05", "2024-01-08", "2024-01-09"], name="Date"),
            pd.DatetimeIndex(
                ["2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10", "2024-01-13", "2024-01-14"],
                name="Date",
            ),
        ),
        # Names cannot be extended: the frame is numbered instead.
        (pd.Index(["a", "b", "c"]), pd.RangeIndex(6)),
    ],
    ids=["integers", "dates", "names"],
)
def test_oversampling_extends_the_index_by_whole_periods(labels: pd.Index, expected: pd.Index) -> None:
    example = pd.DataFrame(
        {"Open": [1.0, 2.0, 3.0], "High": [2.0, 3.0, 4.0], "Low": [1.0, 2.0, 3.0], "Close": [2.0, 3.0, 4.0]},
        index=labels,
    )
    frame = next(random_ohlc_data(example, frac=2, random_state=0))
    pd.testing.assert_index_equal(frame.index, expected, exact=True)


def test_random_ohlc_data_leaves_the_example_alone() -> None:
    example = EXAMPLE.copy(deep=True)
    next(random_ohlc_data(example, random_state=0))
    pd.testing.assert_frame_equal(example, EXAMPLE)


RANDOM_ERRORS = {
    "not-a-frame": (
        {"example_data": [1, 2]},
        TypeError,
        "The 'example_data' parameter of random_ohlc_data must be a pandas DataFrame with columns 'Open', "
        "'High', 'Low', 'Close' and optionally 'Volume'. Got list instead.",
    ),
    "one-row": (
        {"example_data": EXAMPLE.iloc[:1]},
        ValueError,
        "The 'example_data' parameter of random_ohlc_data must be OHLC data with at least 2 rows. "
        "Got 1 row instead.",
    ),
    "frac-text": (
        {"frac": "1"},
        TypeError,
        "The 'frac' parameter of random_ohlc_data must be a finite number > 0. Got '1' instead.",
    ),
    "frac-bool": (
        {"frac": True},
        TypeError,
        "The 'frac' parameter of random_ohlc_data must be a finite number > 0. Got True instead.",
    ),
    "frac-zero": (
        {"frac": 0},
        ValueError,
        "The 'frac' parameter of random_ohlc_data must be a finite number > 0. Got 0 instead.",
    ),
    "frac-nan": (
        {"frac": float("nan")},
        ValueError,
        "The 'frac' parameter of random_ohlc_data must be a finite number > 0. Got nan instead.",
    ),
    "frac-too-small": (  # round(0.001 * 300) = 0 bars
        {"frac": 0.001},
        ValueError,
        "The 'frac' parameter of random_ohlc_data must be at least 1/len(example_data) = 0.00333. "
        "Got 0.001 instead.",
    ),
    "seed-float": (
        {"random_state": 1.5},
        TypeError,
        "The 'random_state' parameter of random_ohlc_data must be an int >= 0 or None. Got 1.5 instead.",
    ),
    "seed-negative": (
        {"random_state": -1},
        ValueError,
        "The 'random_state' parameter of random_ohlc_data must be an int >= 0 or None. Got -1 instead.",
    ),
}


@pytest.mark.parametrize(("kwargs", "exception", "message"), RANDOM_ERRORS.values(), ids=RANDOM_ERRORS.keys())
def test_random_ohlc_data_errors_come_at_the_call(kwargs: dict, exception: type, message: str) -> None:
    kwargs = {"example_data": EXAMPLE, **kwargs}
    with pytest.raises(exception, match=exactly(message)):
        random_ohlc_data(**kwargs)  # no next(): bad arguments fail before any frame is asked for


def test_random_ohlc_data_warning_points_at_the_caller() -> None:
    with pytest.warns(UserWarning) as record:
        random_ohlc_data(EXAMPLE.iloc[::-1], random_state=0)
    assert record[0].filename == __file__
