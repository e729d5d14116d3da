"""The ``_trades`` frame of a run: one row per closed trade, built column by column."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd


def _field(trades: list, name: str) -> list:
    """One attribute of every trade: a list per column, not a tuple per row (less work for the GC)."""
    return list(map(attrgetter(name), trades))


def trade_durations(index: pd.Index, entry_bars: np.ndarray, exit_bars: np.ndarray) -> Any:
    """Exit time minus entry time of each trade: timedelta64 on a DatetimeIndex (computed on the
    integer clock, as pandas subtracts), index differences on another index, else bar counts."""
    if isinstance(index, pd.DatetimeIndex):
        return (index.asi8[exit_bars] - index.asi8[entry_bars]).view(f"m8[{index.unit}]")
    try:
        return (index[exit_bars] - index[entry_bars]).to_numpy()
    except TypeError:  # labels that do not subtract (names): durations in bars
        return exit_bars - entry_bars


def stats_columns(trades: list, index: pd.Index) -> MutableMapping[str, np.ndarray]:
    """The columns of the closed trades that the stats read, as arrays: EntryBar, ExitBar, PnL,
    Commission, ReturnPct, Duration, plus the sizes and prices the full frame shows."""
    if not trades:  # no list to read: the dtypes the lists below give when empty
        return _no_trades(index)
    sizes = np.array(_field(trades, "_size"))  # whole units: int, or float once a partial close made them so
    entry_bars, exit_bars = (np.array(_field(trades, name), dtype=int)
                             for name in ("_entry_bar", "_exit_bar"))
    entry, exit_, fee = (np.array(_field(trades, name), dtype=float)
                         for name in ("_entry_price", "_exit_price", "_fees"))
    return trade_columns(sizes, entry_bars, exit_bars, entry, exit_, fee, index)


def trade_columns(sizes: np.ndarray, entry_bars: np.ndarray, exit_bars: np.ndarray, entry: np.ndarray,
                  exit_: np.ndarray, fee: np.ndarray, index: pd.Index) -> MutableMapping[str, np.ndarray]:
    """:func:`stats_columns` from the trades' sizes, bars, prices and commissions."""
    if not len(sizes):
        return _no_trades(index)
    return _Columns(sizes, entry_bars, exit_bars, entry, exit_, fee, index)


class _Columns(MutableMapping):
    """:func:`trade_columns`' columns, in their order, the PnL, ReturnPct and Duration worked out when
    first read (a search's run that keeps a few stats reads none of them), from the arrays given: a
    column replaced before (a window's bars counted from its start) does not change them.

    P/L and return are computed with the formulas of ``Trade.pl`` and ``Trade.pl_pct``, operation
    for operation, so they equal those properties exactly.
    """

    _ORDER = ("Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice", "PnL", "Commission", "ReturnPct",
              "Duration")

    def __init__(self, sizes: np.ndarray, entry_bars: np.ndarray, exit_bars: np.ndarray, entry: np.ndarray,
                 exit_: np.ndarray, fee: np.ndarray, index: pd.Index) -> None:
        self._columns: dict[str, Any] = {"Size": sizes, "EntryBar": entry_bars, "ExitBar": exit_bars,
                                         "EntryPrice": entry, "ExitPrice": exit_, "Commission": fee}
        self._given = (sizes.astype(float), entry_bars, exit_bars, entry, exit_, fee, index)

    def __getitem__(self, key: str) -> Any:
        found = self._columns.get(key)
        if found is None:
            found = self._columns[key] = self._derived(key)
        return found

    def _derived(self, key: str) -> np.ndarray:
        size, entry_bars, exit_bars, entry, exit_, fee, index = self._given
        if key == "PnL":
            return size * (exit_ - entry) - fee
        if key == "ReturnPct":
            return np.copysign(1.0, size) * (exit_ / entry - 1) - fee / (np.abs(size) * entry)
        if key == "Duration":
            return trade_durations(index, entry_bars, exit_bars)
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._columns[key] = value

    def __delitem__(self, key: str) -> None:
        raise TypeError("The trade columns are fixed; replace a column instead.")

    def __iter__(self) -> Iterator[str]:
        return iter(self._ORDER)

    def __contains__(self, key: object) -> bool:
        return key in self._ORDER

    def __len__(self) -> int:
        return len(self._ORDER)


def _no_trades(index: pd.Index) -> dict[str, np.ndarray]:
    """:func:`stats_columns` of no trades: shared empty arrays (nothing can change one in place), and
    the durations of the last index asked for kept, as every run of a search asks for the same one."""
    last = _NO_DURATIONS[0]
    if last is None or last[0] is not index:
        last = _NO_DURATIONS[0] = index, trade_durations(index, _NO_BARS, _NO_BARS)
    return {"Size": _NO_FLOATS, "EntryBar": _NO_BARS, "ExitBar": _NO_BARS, "EntryPrice": _NO_FLOATS,
            "ExitPrice": _NO_FLOATS, "PnL": _NO_FLOATS, "Commission": _NO_FLOATS, "ReturnPct": _NO_FLOATS,
            "Duration": last[1]}


_NO_FLOATS, _NO_BARS = np.empty(0), np.empty(0, dtype=int)
_NO_DURATIONS: list[Any] = [None]  # (an index, the durations of no trades on it): one item, for threads


def trades_frame(trades: list, index: pd.Index, indicators: list[np.ndarray]) -> pd.DataFrame:
    """The ``_trades`` frame: one row per closed trade, then each indicator at entry and exit."""
    return frame_of(stats_columns(trades, index), _field(trades, "_sl_value"), _field(trades, "_tp_value"),
                    _field(trades, "_tag"), index, indicators)


def frame_of(found: Mapping[str, np.ndarray], sl: list, tp: list, tags: list, index: pd.Index,
             indicators: list[np.ndarray]) -> pd.DataFrame:
    """:func:`trades_frame` from :func:`trade_columns`' columns and each trade's SL, TP and tag."""
    entry_bars, exit_bars = found["EntryBar"], found["ExitBar"]
    any_trades = len(entry_bars) > 0
    columns: dict[str, Any] = {
        "Size": found["Size"] if any_trades else [],  # empty: the dtype pandas gives an empty list
        "EntryBar": entry_bars,
        "ExitBar": exit_bars,
        "EntryPrice": found["EntryPrice"],
        "ExitPrice": found["ExitPrice"],
        "SL": sl,
        "TP": tp,
        "PnL": found["PnL"],
        "Commission": found["Commission"],
        "ReturnPct": found["ReturnPct"],
        "EntryTime": index[entry_bars],
        "ExitTime": index[exit_bars],
        "Duration": found["Duration"],
        "Tag": tags,
    }
    for array in indicators if any_trades else ():
        name, values = array.name, np.asarray(array)
        rows = ([(f"{name}", values)] if values.ndim == 1
                else [(f"{name}_{j}", row) for j, row in enumerate(values)])
        for label, row in rows:
            columns[f"Entry_{label}"] = row[entry_bars]
            columns[f"Exit_{label}"] = row[exit_bars]
    return pd.DataFrame(columns)
