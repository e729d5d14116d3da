"""The ``_trades`` frame of a run: one row per closed trade, built column by column."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd


def trades_frame(trades: list, index: pd.Index, indicators: list[np.ndarray], *,
                 full: bool = True) -> pd.DataFrame:
    """The ``_trades`` frame: one row per closed trade, then each indicator at entry and exit.

    ``full=False`` gives only the numeric columns the stats read (EntryBar, ExitBar, PnL, Commission,
    ReturnPct, Duration): all an optimisation by a stats key needs, at a fraction of the cost.
    P/L and return are computed from the columns with the formulas of ``Trade.pl`` and
    ``Trade.pl_pct``, operation for operation, so they equal those properties exactly.
    """
    def field(name: str) -> list:  # a list per column, not a tuple per row: less work for the GC
        return list(map(attrgetter(name), trades))

    sizes = np.array(field("_size"))  # whole units: int, or float once a partial close made them so
    size = sizes.astype(float)
    entry_bars, exit_bars = (np.array(field(name), dtype=int) for name in ("_entry_bar", "_exit_bar"))
    entry, exit_, fee = (np.array(field(name), dtype=float)
                         for name in ("_entry_price", "_exit_price", "_fees"))
    pnl = size * (exit_ - entry) - fee
    return_pct = np.copysign(1.0, size) * (exit_ / entry - 1) - fee / (np.abs(size) * entry)
    entry_times, exit_times = index[entry_bars], index[exit_bars]
    try:
        durations = exit_times - entry_times
    except TypeError:  # labels that do not subtract (names): durations in bars
        durations = pd.Index(exit_bars - entry_bars)
    if not full:
        return pd.DataFrame({"EntryBar": entry_bars, "ExitBar": exit_bars, "PnL": pnl, "Commission": fee,
                             "ReturnPct": return_pct, "Duration": durations})
    columns: dict[str, Any] = {
        "Size": sizes if trades else [],  # empty: the dtype pandas gives an empty list
        "EntryBar": entry_bars,
        "ExitBar": exit_bars,
        "EntryPrice": entry,
        "ExitPrice": exit_,
        "SL": field("_sl_value"),
        "TP": field("_tp_value"),
        "PnL": pnl,
        "Commission": fee,
        "ReturnPct": return_pct,
        "EntryTime": entry_times,
        "ExitTime": exit_times,
        "Duration": durations,
        "Tag": field("_tag"),
    }
    for array in indicators if trades else ():
        name, values = array.name, np.asarray(array)
        rows = ([(f"{name}", values)] if values.ndim == 1
                else [(f"{name}_{j}", row) for j, row in enumerate(values)])
        for label, row in rows:
            columns[f"Entry_{label}"] = row[entry_bars]
            columns[f"Exit_{label}"] = row[exit_bars]
    return pd.DataFrame(columns)
