"""Section 1's per-combination view of the SmaCross grid: one core against the oracle's CPU time,
vectorbt's vectorised grid where it is installed, and where one of our runs spends its time."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from _common import format_seconds
from _phases import phase_line, phase_seconds

PER_COMBINATION_MS = 1.5  # one core, ours
CPU_RATIO = 15.0  # oracle's CPU per combination / ours on one core


@dataclass(frozen=True)
class OneCore:
    """Section 1 on one core: ours per combination, and the oracle's CPU per combination over it."""

    ms: float
    cpu_ratio: float


def one_core(seconds_ours: float, cpu_oracle: float, n_combinations: int) -> OneCore:
    """Print and return ours (n_jobs=1, wall median) and the oracle's CPU time, per combination."""
    ours, oracle = seconds_ours / n_combinations, cpu_oracle / n_combinations
    print(f"   one core, per combination: ours (n_jobs=1, wall) {format_seconds(ours)}; oracle "
          f"{format_seconds(oracle)} of CPU (all its workers); ratio {oracle / ours:.1f}x")
    return OneCore(ours * 1e3, oracle / ours)


def vectorbt_grids(close: pd.Series, pairs: list[tuple[int, int]],
                   with_stats: bool = False) -> dict[str, Callable[[], Any]] | None:
    """vectorbt's vectorised SmaCross grid over the same pairs (long on a cross up, flat on a cross
    down: a different strategy from ours, shown for scale), warmed up, by label: its final values
    only, as a grid search needs at the least, and with ``with_stats`` its stats for every
    combination too (``Portfolio.stats``), as each of our runs computes ours. None (and a note) when
    vectorbt is not installed."""
    if importlib.util.find_spec("vectorbt") is None:
        print("   vectorbt: not installed (pip install vectorbt to add it to this comparison)")
        return None
    import vectorbt as vbt

    def portfolio() -> Any:
        fast = vbt.MA.run(close, window=[a for a, _ in pairs], short_name="fast")
        slow = vbt.MA.run(close, window=[b for _, b in pairs], short_name="slow")
        entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
        return vbt.Portfolio.from_signals(close, entries, exits, init_cash=10_000)

    grids = {VECTORBT_FINAL: lambda: portfolio().final_value()}
    if with_stats:
        grids["vectorbt, with its stats"] = lambda: portfolio().stats(agg_func=None)
    for grid in grids.values():
        grid()  # the warm-up: numba compiles here
    return grids


VECTORBT_FINAL = "vectorbt, final values"


def vectorbt_version() -> str:
    return f"vectorbt {importlib.metadata.version('vectorbt')}"


def vectorbt_line(close: pd.Series, pairs: list[tuple[int, int]], repeat: int) -> float | None:
    """Print vectorbt's grid of final values (see :func:`vectorbt_grids`) per combination; returns its
    seconds per combination (None without vectorbt)."""
    grids = vectorbt_grids(close, pairs)
    if grids is None:
        return None
    seconds = _median_seconds(grids[VECTORBT_FINAL], repeat) / len(pairs)
    print(f"   {vectorbt_version()}, its vectorised grid (MA crosses, long only; for scale), per "
          f"combination: final values {format_seconds(seconds)}")
    return seconds


def phases_line(engine: Any, combinations: list[dict[str, Any]], repeat: int) -> None:
    """Where one of our grid runs spends its time (medians over ``repeat`` passes)."""
    passes = [phase_seconds(engine, combinations) for _ in range(repeat)]
    medians = {phase: statistics.median(p[phase] for p in passes) for phase in passes[0]}
    print(f"   one run of the grid, by phase ({len(combinations)} combinations, {repeat} passes, medians):\n"
          f"     {phase_line(medians)}")


def _median_seconds(call: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
