"""What a strategy sees of the price data and of its indicators, bar by bar.

Arrays handed to a strategy are numpy views truncated to the current bar. They are made when
accessed, never eagerly for every column and indicator on every bar, so a bar costs what the
strategy touches. Views carry no state of their own: their metadata lives on the full array they
view (numpy points every slice's ``base`` at the array that owns the metadata).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

OHLCV = ("Open", "High", "Low", "Close", "Volume")


class _Array(np.ndarray):
    """A numpy array that knows its name and index, and whose truth and float value is its last value."""

    def _meta(self) -> dict[str, Any]:
        meta = self.__dict__.get("_meta_")
        if meta is None:
            meta = getattr(self.base, "__dict__", {}).get("_meta_", {})
        return meta

    def __reduce__(self) -> tuple:
        """Pickles (and deep copies) keep the name and plot options, so results from another process plot."""
        rebuild, args, state = super().__reduce__()  # type: ignore[misc]
        return rebuild, args, (state, self._meta())

    def __setstate__(self, state: Any) -> None:
        array_state, meta = state if len(state) == 2 else (state, None)
        super().__setstate__(array_state)
        if meta is not None:
            self._meta_ = meta

    @property
    def name(self) -> Any:
        return self._meta().get("name")

    @property
    def _opts(self) -> dict[str, Any]:
        return self._meta().get("opts", {})

    def __bool__(self) -> bool:
        try:
            return bool(self[-1]) if self.ndim == 1 else bool(self[..., -1].all())
        except IndexError:
            return super().__bool__()

    def __float__(self) -> float:
        try:
            return float(self[-1]) if self.ndim == 1 else super().__float__()
        except IndexError:
            return super().__float__()

    def _index(self) -> pd.Index:
        index = self._meta().get("index")
        length = self.shape[-1] if self.ndim else 0
        return index[:length] if index is not None else pd.RangeIndex(length)

    @property
    def s(self) -> pd.Series:
        """The values as a pandas Series indexed by the data's timestamps (1-D arrays only)."""
        values = np.asarray(self)
        if values.ndim != 1:
            raise ValueError(f"{self.name!r} has {values.shape[0]} rows; use .df for a DataFrame.")
        return pd.Series(values, index=self._index(), name=self.name)

    @property
    def df(self) -> pd.DataFrame:
        """The values as a pandas DataFrame indexed by the data's timestamps (one column a row)."""
        values = np.atleast_2d(np.asarray(self))
        names = self.name
        if not isinstance(names, (list, tuple)) or len(names) != len(values):
            names = [f"{names}_{j}" if len(values) > 1 else names for j in range(len(values))]
        return pd.DataFrame(dict(zip(names, values, strict=True)), index=self._index())


def make_array(values: np.ndarray, *, name: Any, index: pd.Index, opts: dict | None = None) -> _Array:
    """Wrap a full-length array with its metadata."""
    array = np.asarray(values).view(_Array)
    array._meta_ = {"name": name, "index": index, "opts": opts or {}}
    return array


def _pip(close: np.ndarray) -> float:
    """The smallest price step: 10 ** -(median number of decimals in Close)."""
    sample = close[:: max(1, len(close) // 1000)]
    decimals = [len(f"{x:.10g}".partition(".")[2]) for x in sample if np.isfinite(x)]
    return float(10.0 ** -np.median(decimals)) if decimals else 1.0


class Data:
    """The price data as a strategy sees it: columns as arrays up to the current bar.

    ``data.Close`` (and any other column) is a numpy array whose last element is the current bar;
    ``len(data)`` is the number of bars seen so far; ``data.index`` and ``data.df`` are the pandas
    index and frame up to now.
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df.copy(deep=False)  # this run's: columns a strategy adds to data.df stay in it
        self._index_ = df.index
        self._arrays = {
            col: make_array(df[col].to_numpy(), name=col, index=df.index) for col in df.columns
        }
        self._open, self._high, self._low, self._close, self._volume = (self._arrays[c] for c in OHLCV)
        self._n = len(df)
        self._pip_value: float | None = None

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"<Data bars={self._n} columns={list(self._arrays)}>"

    @property
    def Open(self) -> _Array:  # noqa: N802 - traders' column names
        return self._open[: self._n]

    @property
    def High(self) -> _Array:  # noqa: N802
        return self._high[: self._n]

    @property
    def Low(self) -> _Array:  # noqa: N802
        return self._low[: self._n]

    @property
    def Close(self) -> _Array:  # noqa: N802
        return self._close[: self._n]

    @property
    def Volume(self) -> _Array:  # noqa: N802
        return self._volume[: self._n]

    def __getattr__(self, name: str) -> _Array:
        if name.startswith("__"):  # copy, pickle and friends probing for special methods
            raise AttributeError(name)
        array = self._column(name)
        if array is None:
            raise AttributeError(f"Column {name!r} not in data. Columns: {self._listing()}.")
        return array[: self._n]

    def __getitem__(self, name: str) -> _Array:
        array = self._column(name)
        if array is None:
            raise KeyError(f"Column {name!r} not in data. Columns: {self._listing()}.")
        return array[: self._n]

    def _column(self, name: str) -> _Array | None:
        """A column's full array; a column the strategy added to ``data.df`` (in init()) on first use."""
        arrays = self.__dict__.get("_arrays", {})
        array = arrays.get(name)
        if array is None and "_df" in self.__dict__ and name in self._df.columns:
            column = self._df[name]
            if isinstance(column, pd.Series) and len(column) == len(self._index_):
                array = arrays[name] = make_array(column.to_numpy(), name=name, index=self._index_)
        return array

    def _listing(self) -> str:
        return ", ".join(map(repr, dict.fromkeys([*self.__dict__.get("_arrays", {}), *self._df.columns])))

    @property
    def index(self) -> pd.Index:
        return self._index_[: self._n]

    @property
    def df(self) -> pd.DataFrame:
        return self._df.iloc[: self._n] if self._n < len(self._df) else self._df

    @property
    def pip(self) -> float:
        if self._pip_value is None:
            self._pip_value = _pip(self._close)
        return self._pip_value
