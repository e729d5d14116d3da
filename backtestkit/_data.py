"""What a strategy sees of the price data and of its indicators, bar by bar.

Arrays handed to a strategy are numpy views truncated to the current bar. They are made when
accessed, never eagerly for every column and indicator on every bar, so a bar costs what the
strategy touches. Views carry no state of their own: their metadata lives on the full array they
view (numpy points every slice's ``base`` at the array that owns the metadata).
"""

from __future__ import annotations

import copy
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

    def __init__(self, df: pd.DataFrame, arrays: dict[str, _Array] | None = None) -> None:
        self._source = df  # copied (shallowly) on first use of data.df, see _frame()
        self._index_ = df.index
        if arrays is None:  # else the columns of an earlier run on this frame (they are read-only)
            arrays = {col: make_array(df[col].to_numpy(), name=col, index=df.index) for col in df.columns}
        self._arrays = dict(arrays)
        self._open, self._high, self._low, self._close, self._volume = (self._arrays[c] for c in OHLCV)
        self._bar = [len(df)]  # bars seen so far: the engine moves it, live indicator views read it
        self._pip_value: float | None = None

    def __len__(self) -> int:
        return self._bar[0]

    def __repr__(self) -> str:
        return f"<Data bars={self._bar[0]} columns={list(self._arrays)}>"

    @property
    def Open(self) -> _Array:  # noqa: N802 - traders' column names
        return self._open[: self._bar[0]]

    @property
    def High(self) -> _Array:  # noqa: N802
        return self._high[: self._bar[0]]

    @property
    def Low(self) -> _Array:  # noqa: N802
        return self._low[: self._bar[0]]

    @property
    def Close(self) -> _Array:  # noqa: N802
        return self._close[: self._bar[0]]

    @property
    def Volume(self) -> _Array:  # noqa: N802
        return self._volume[: self._bar[0]]

    def __getattr__(self, name: str) -> _Array:
        if name.startswith("__"):  # copy, pickle and friends probing for special methods
            raise AttributeError(name)
        array = self._column(name)
        if array is None:
            raise AttributeError(f"Column {name!r} not in data. Columns: {self._listing()}.")
        return array[: self._bar[0]]

    def __getitem__(self, name: str) -> _Array:
        array = self._column(name)
        if array is None:
            raise KeyError(f"Column {name!r} not in data. Columns: {self._listing()}.")
        return array[: self._bar[0]]

    def _column(self, name: str) -> _Array | None:
        """A column's full array; a column the strategy added to ``data.df`` (in init()) on first use."""
        arrays = self.__dict__.get("_arrays", {})
        array = arrays.get(name)
        if array is None and "_df" in self.__dict__ and name in self._df.columns:  # added to data.df
            column = self._df[name]
            if isinstance(column, pd.Series) and len(column) == len(self._index_):
                array = arrays[name] = make_array(column.to_numpy(), name=name, index=self._index_)
        return array

    def _listing(self) -> str:
        names = [*self.__dict__.get("_arrays", {}), *self._frame().columns]
        return ", ".join(map(repr, dict.fromkeys(names)))

    def _frame(self) -> pd.DataFrame:
        """This run's frame: a shallow copy of the data, made on first use, so that columns a strategy
        adds to ``data.df`` stay in this run (and a run that never asks costs no copy)."""
        frame = self.__dict__.get("_df")
        if frame is None:
            frame = self._df = self._source.copy(deep=False)
        return frame

    @property
    def index(self) -> pd.Index:
        return self._index_[: self._bar[0]]

    @property
    def df(self) -> pd.DataFrame:
        frame = self._frame()
        return frame.iloc[: self._bar[0]] if self._bar[0] < len(frame) else frame

    @property
    def pip(self) -> float:
        if self._pip_value is None:
            self._pip_value = _pip(self._close)
        return self._pip_value


def _now(value: Any) -> Any:
    """A live array as the plain view it stands for (anything else as it is), also inside lists."""
    if type(value) is LiveArray:
        return value._full[: value._bar[0]]
    if type(value) in (list, tuple):
        return type(value)(map(_now, value))
    return value


class LiveArray:
    """A 1-D indicator as ``next()`` sees it: its values up to the current bar, read in place.

    A numpy view ends at a fixed length, so following the bars would take a new slice every bar;
    this object reads the bar counter instead. ``[-1]`` and ``[-2]`` index the full array directly
    (numpy scalars, as a view gives), and ``lib.crossover`` reads float64 values as Python floats
    through a memoryview. Everything else (slices, arithmetic, numpy functions, ``.s``, ``.name``,
    ``isinstance(x, np.ndarray)``) acts on the view ``full[:n]`` it stands for, as in backtesting.py.
    Only ``type()`` tells them apart.
    """

    __slots__ = ("_bar", "_floats", "_full")
    __hash__ = None  # type: ignore[assignment] - like an array: == compares element-wise

    def __init__(self, full: _Array, bar: list[int]) -> None:
        self._full, self._bar = full, bar
        plain = full.view(np.ndarray)
        self._floats = memoryview(plain) if plain.dtype == np.float64 and plain.flags.c_contiguous else None

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance() checks see the array this stands for
        return _Array

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is int and key < 0:
            n = self._bar[0]
            if key >= -n:
                return self._full[n + key]
        return self._full[: self._bar[0]][key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._full[: self._bar[0]][key] = _now(value)

    def __dir__(self) -> list[str]:
        return dir(self._full[: self._bar[0]])

    def __len__(self) -> int:
        return self._bar[0]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.array(self._full[: self._bar[0]], dtype=dtype, copy=copy)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if "out" in kwargs:
            kwargs["out"] = _now(kwargs["out"])
        return getattr(ufunc, method)(*_now(inputs), **kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        return func(*_now(args), **{key: _now(value) for key, value in kwargs.items()})

    def __copy__(self) -> _Array:
        return copy.copy(self._full[: self._bar[0]])

    def __deepcopy__(self, memo: dict) -> _Array:
        return copy.deepcopy(self._full[: self._bar[0]], memo)

    def __reduce__(self) -> tuple:
        return self._full[: self._bar[0]].__reduce__()


def _delegate(name: str) -> Any:
    """A special method of LiveArray that applies the array's method to the view it stands for."""
    method = getattr(_Array, name)

    def delegated(self: LiveArray, *args: Any) -> Any:
        return method(self._full[: self._bar[0]], *_now(args))

    delegated.__name__ = name
    return delegated


def _delegate_attribute(name: str) -> property:
    """An attribute of LiveArray that is the view's (a property, not ``__getattr__``, which would slow
    every attribute read, the hot ones of ``lib.crossover`` included)."""

    def get(self: LiveArray) -> Any:
        return getattr(self._full[: self._bar[0]], name)

    return property(get, doc=f"The view's ``{name}``.")


def _delegate_in_place(name: str) -> Any:
    """``live += x``: in place on the view (and so on the full array, as with a view), keeping ``live``."""
    method = getattr(_Array, name)

    def in_place(self: LiveArray, other: Any) -> LiveArray:
        method(self._full[: self._bar[0]], _now(other))
        return self

    in_place.__name__ = name
    return in_place


_OPERATORS = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift")
for _name in (
    *(f"__{op}__" for op in _OPERATORS), *(f"__r{op}__" for op in _OPERATORS), "__divmod__",
    "__rdivmod__", "__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__", "__neg__", "__pos__",
    "__abs__", "__invert__", "__bool__", "__float__", "__int__", "__complex__", "__index__", "__iter__",
    "__contains__", "__repr__", "__str__", "__format__",
):
    setattr(LiveArray, _name, _delegate(_name))
for _name in (f"__i{op}__" for op in _OPERATORS):
    setattr(LiveArray, _name, _delegate_in_place(_name))
for _name in dir(_Array):
    if not _name.startswith("__") and not hasattr(LiveArray, _name):
        setattr(LiveArray, _name, _delegate_attribute(_name))
del _name
