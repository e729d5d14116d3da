"""Optimiser speed, search quality and memory: backtestkit's Backtest.optimize, with backtesting.py 0.6.6.

    python benchmarks/bench_optimize.py             # full run (about 10 minutes on 2 busy cores)
    python benchmarks/bench_optimize.py --repeat 5  # more timed rounds of the grid comparison
    python benchmarks/bench_optimize.py --quick     # smoke mode: tiny sizes, targets not judged

Targets:
  1. grid search, SmaCross on GOOG, ~900 combinations, all cores   oracle median / ours median >= 5x
     1b. the same grid on one core (n_jobs=1)                      <= 1.5 ms per combination
     1c. the oracle's CPU time per combination / ours on one core  >= 15x
  2. skopt search, 4 parameters, >= 5,000 admissible combinations  median rank over 5 seeds in the top 1%
  3. skopt time outside the backtests (n_jobs=1)                  median <= 20 ms per evaluation
  4. grid of 25k then 100k combinations, return_heatmap=True      peak RSS grows by <= 4x the heatmap's
                                                                   growth + 8 MiB
     (judged on the default, which keeps every stat of every trial; the same grids with metrics=[]
     are shown too)
The grid comparison is timed only if both libraries evaluate as many combinations and find the same
best parameters and value; any failed check makes the exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from _common import (
    LABELS,
    ORACLE,
    OURS,
    RTOL,
    Library,
    child_pids,
    child_report,
    cpu_seconds,
    environment_line,
    format_seconds,
    format_table,
    load_library,
    peak_rss_mib,
    process_peak_mib,
    sma,
    sma_cross_strategy,
    synthetic_ohlcv,
    time_alternating,
)
from _grid_extras import CPU_RATIO, PER_COMBINATION_MS, OneCore, one_core, phases_line, vectorbt_line
from bench_engine import positive_int

GRID_OBJECTIVE = "Equity Final [$]"
QUALITY_OBJECTIVE = "Sharpe Ratio"  # SQN's landscape has a few huge negative outliers; Sharpe's is smoother
MEMORY_BARS = 120
SERIAL = "ours, n_jobs=1"  # the reference timing of section 1, next to LABELS' "oracle" and "ours"


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between the full run and ``--quick``."""

    goog_bars: int  # GOOG's first bars used by section 1 (0: all 2,148)
    n1: range
    n2: range
    repeat: int
    quality: dict[str, list[float]]  # section 2's candidates (constraint n1 < n2)
    tries: int
    seeds: int
    default_evals: int  # evaluations of scikit-optimize's default Optimizer (section 3)
    memory: tuple[int, int, int, int]  # section 4: entries, holds, sizes (small grid), sizes (large grid)


FULL = Sizes(
    goog_bars=0, n1=range(5, 60, 2), n2=range(10, 200, 5), repeat=3,
    quality={"n1": list(range(5, 55, 5)), "n2": list(range(20, 170, 10)), "rsi_n": [7, 10, 14, 21, 28, 35],
             "sl_pct": [1, 1.5, 2, 3, 4, 5, 7, 10]},
    tries=200, seeds=5, default_evals=40, memory=(50, 50, 10, 40))
QUICK = Sizes(
    goog_bars=400, n1=range(5, 25, 5), n2=range(10, 40, 10), repeat=1,
    quality={"n1": [5, 10, 20], "n2": [20, 40, 80], "rsi_n": [7, 14], "sl_pct": [2, 5]},
    tries=12, seeds=2, default_evals=16, memory=(10, 10, 2, 8))


def below(p: Any) -> bool:
    """The constraint of sections 1 and 2: the fast average is shorter than the slow one."""
    return bool(p.n1 < p.n2)


def importable(strategy: type, name: str) -> type:
    """Register ``strategy`` as a global of this module, so the standard pickle can send it by name.

    backtesting.py ships the strategy class to its worker processes with the standard pickle, which
    cannot pickle a class made inside a function; under a module-level name the forked workers find
    it. (joblib, which we use, pickles classes with cloudpickle and needs no such help.)
    """
    strategy.__qualname__, strategy.__module__ = name, __name__
    globals()[name] = strategy
    return strategy


# --- 1. grid speed -------------------------------------------------------------------------------

Optimize = Callable[[], tuple[pd.Series, pd.Series]]  # one optimize() call: (best stats, heatmap)


def grid_calls(libraries: dict[str, Library], sizes: Sizes) -> tuple[dict[str, Optimize], Any]:
    """The three timed calls: the oracle on all cores, ours on all cores, ours in-process; and our
    Backtest."""
    goog = importlib.import_module("backtesting.test").GOOG  # after load_library: no progress bars
    data = goog.iloc[: sizes.goog_bars] if sizes.goog_bars else goog
    grid = {"n1": sizes.n1, "n2": sizes.n2, "maximize": GRID_OBJECTIVE, "return_heatmap": True}
    oracle = libraries[ORACLE].package.Backtest(
        data, importable(sma_cross_strategy(libraries[ORACLE]), "OracleSmaCross"))
    # the oracle's constraint is a lambda, as its docs show; it runs in the parent process only
    ours = libraries[OURS].package.Backtest(data, sma_cross_strategy(libraries[OURS]))
    return {
        LABELS[ORACLE]: lambda: oracle.optimize(constraint=lambda p: p.n1 < p.n2, **grid),
        LABELS[OURS]: lambda: ours.optimize(constraint=below, n_jobs=None, show_progress=False, **grid),
        SERIAL: lambda: ours.optimize(constraint=below, n_jobs=1, show_progress=False, **grid),
    }, ours


def as_dict(heatmap: pd.Series) -> dict[tuple[float, ...], float]:
    return {tuple(float(v) for v in key): float(value) for key, value in heatmap.items()}


def grid_check(results: dict[str, tuple[pd.Series, pd.Series]], seconds: dict[str, float]) -> bool:
    """Print what the first (warm-up) call of each library found; return whether they agree."""
    found = {}
    for label, (stats, heatmap) in results.items():
        strategy = stats["_strategy"]
        found[label] = (len(heatmap), (strategy.n1, strategy.n2), float(stats[GRID_OBJECTIVE]))
        print(f"  {label:>6}: {len(heatmap):,} combinations evaluated, best n1={strategy.n1}, "
              f"n2={strategy.n2}, {GRID_OBJECTIVE} {found[label][2]:,.2f} "
              f"(first call {format_seconds(seconds[label])})")
    (n_a, best_a, value_a), (n_b, best_b, value_b) = found.values()
    a, b = (as_dict(heatmap) for _, heatmap in results.values())
    same = sum(bool(np.isclose(a[k], b.get(k, np.nan), rtol=RTOL, atol=0, equal_nan=True)) for k in a)
    checks = [("same number of combinations", n_a == n_b),
              ("same best parameters", best_a == best_b),
              ("same best value", bool(np.isclose(value_a, value_b, rtol=RTOL, atol=0))),
              (f"heatmaps agree on {same:,} of {len(a):,} combinations", same == len(a) == len(b))]
    for text, ok in checks:
        print(f"  {'✓' if ok else '✗'} {text}")
    return all(ok for _, ok in checks)


class CpuMeter:
    """Records, by name, the CPU time of each call it wraps: this process and its child processes."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def wrap(self, name: str, call: Optimize) -> Optimize:
        def measured() -> tuple[pd.Series, pd.Series]:
            before = cpu_seconds()
            result = call()
            self.samples.setdefault(name, []).append(cpu_seconds() - before)
            return result

        return measured


def grid_speed(libraries: dict[str, Library], sizes: Sizes, repeat: int) -> tuple[float, OneCore] | None:
    """Section 1; returns oracle median / ours median and the one-core figures, or None if the
    libraries disagree."""
    calls, ours = grid_calls(libraries, sizes)
    print(f"1. Grid search: SmaCross on GOOG, n1={sizes.n1}, n2={sizes.n2}, constraint n1 < n2, "
          f"maximize={GRID_OBJECTIVE!r}")
    print("   oracle: all cores (its default); ours: n_jobs=None (all cores), show_progress=False")
    results, seconds = {}, {}
    for label in (LABELS[ORACLE], LABELS[OURS]):  # the warm-up; ours starts its worker processes here
        start = time.perf_counter()
        results[label] = calls[label]()
        seconds[label] = time.perf_counter() - start
    if not grid_check(results, seconds):
        print("  The libraries disagree: timing them would not be a fair comparison.\n")
        return None
    meter = CpuMeter()
    timings = time_alternating({label: meter.wrap(label, call) for label, call in calls.items()}, repeat)
    oracle = timings[LABELS[ORACLE]].median
    cpu = {label: statistics.median(samples) for label, samples in meter.samples.items()}
    rows = [[label, format_seconds(t.median), format_seconds(t.min), f"{oracle / t.median:.1f}x",
             format_seconds(cpu[label]), f"{cpu[LABELS[ORACLE]] / cpu[label]:.1f}x"]
            for label, t in timings.items()]
    print(f"\n{format_table(['library', 'median', 'min', 'speed-up', 'CPU median', 'CPU ratio'], rows)}")
    print(f"   {repeat} rounds alternating; speed-up = oracle median / median (wall clock); CPU = user + "
          "system time of the process and\n   its workers: the work done, whatever else runs on the "
          "machine")
    pairs = [(a, b) for a in sizes.n1 for b in sizes.n2 if a < b]
    serial = one_core(timings[SERIAL].median, cpu[LABELS[ORACLE]], len(pairs))
    vectorbt_line(ours._data.Close, pairs, repeat)
    phases_line(ours._engine, [{"n1": a, "n2": b} for a, b in pairs], repeat)
    print()
    return oracle / timings[LABELS[OURS]].median, serial


# --- 2. and 3. skopt quality and overhead ---------------------------------------------------------

def rsi(close: Any, n: int) -> pd.Series:
    """Relative strength index (0-100) over ``n`` bars, from rolling means of gains and of losses."""
    change = pd.Series(close).diff()
    gain, loss = change.clip(lower=0).rolling(n).mean(), (-change).clip(lower=0).rolling(n).mean()
    return 100 * gain / (gain + loss)


def filtered_cross_strategy(library: Library) -> type:
    """SmaCross with an RSI filter on entries and a stop-loss ``sl_pct`` % away: 4 parameters."""
    crossover = library.lib.crossover

    class FilteredCross(library.package.Strategy):
        n1, n2, rsi_n, sl_pct = 10, 40, 14, 3.0

        def init(self) -> None:
            self.sma1 = self.I(sma, self.data.Close, self.n1)
            self.sma2 = self.I(sma, self.data.Close, self.n2)
            self.rsi = self.I(rsi, self.data.Close, self.rsi_n)

        def next(self) -> None:
            price = self.data.Close[-1]
            if crossover(self.sma1, self.sma2):
                self.position.close()
                if self.rsi[-1] < 70:  # not overbought
                    self.buy(sl=price * (1 - self.sl_pct / 100))
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                if self.rsi[-1] > 30:  # not oversold
                    self.sell(sl=price * (1 + self.sl_pct / 100))

    return FilteredCross


class Clock:
    """Seconds accumulated by the backtests of a :func:`timed_backtest`, shared by its copies."""

    def __init__(self) -> None:
        self.seconds = 0.0


def timed_backtest(library: Library) -> type:
    """Our Backtest, timing the one call the optimiser's objective makes for every combination.

    Per combination the objective runs the engine (``Engine.numbers`` for a stats key, ``Engine.stats``
    for a callable: the simulation and the stats);
    the rest of it (a warnings context, the metrics as an array, the objective) is left in the
    overhead, so the overhead is if anything overstated. The Backtest's engine travels to the
    workers; its copies share ``clock``. The final re-run of the best combination is timed likewise.
    """
    from backtestkit._engine import Engine

    class TimedEngine(Engine):
        clock = Clock()

        def stats(self, params: dict[str, Any]) -> Any:
            return self._timed(super().stats, params)

        def numbers(self, params: dict[str, Any], keys: Any = None) -> Any:
            return self._timed(super().numbers, params, keys)

        def _timed(self, run: Callable[..., Any], params: dict[str, Any], *keys: Any) -> Any:
            start = time.perf_counter()
            try:
                return run(params, *keys)
            finally:
                self.clock.seconds += time.perf_counter() - start

    class TimedBacktest(library.package.Backtest):
        clock = TimedEngine.clock

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._engine.__class__ = TimedEngine

    return TimedBacktest


def percentile(value: float, values: np.ndarray) -> float:
    """Share (%) of ``values`` strictly better than ``value``: 0 is the grid's best (NaN ranks last)."""
    return 100.0 if np.isnan(value) else 100 * np.count_nonzero(values > value) / values.size


@dataclass(frozen=True)
class Search:
    """One skopt run: what it found and where the time went."""

    seed: int
    best: float
    params: dict[str, Any]
    n_evaluated: int
    seconds: float
    overhead_ms: float  # per evaluation, outside the backtests
    heatmap: pd.Series


def skopt_run(backtest: Any, sizes: Sizes, seed: int, n_jobs: int = 1) -> Search:
    """One skopt search; with n_jobs=1 the wall time minus the backtests' time is the overhead."""
    backtest.clock = Clock()  # the objective's copy of the Backtest shares this one
    start = time.perf_counter()
    stats, heatmap = backtest.optimize(
        maximize=QUALITY_OBJECTIVE, constraint=below, method="skopt", max_tries=sizes.tries,
        random_state=seed, n_jobs=n_jobs, show_progress=False, return_heatmap=True, **sizes.quality)
    seconds = time.perf_counter() - start
    strategy = stats["_strategy"]
    params = {name: getattr(strategy, name) for name in sizes.quality}
    overhead = 1e3 * (seconds - backtest.clock.seconds) / len(heatmap)
    return Search(seed, float(stats[QUALITY_OBJECTIVE]), params, len(heatmap), seconds, overhead, heatmap)


def random_search_percentile(values: np.ndarray, tries: int, n_searches: int = 1_000) -> float:
    """Median rank (%) of the best of ``tries`` uniform draws from the grid, over simulated searches."""
    rng = np.random.default_rng(0)
    return statistics.median(percentile(np.nanmax(values[rng.choice(values.size, tries, replace=False)]),
                                        values) for _ in range(n_searches))


def full_grid(backtest: Any, sizes: Sizes) -> pd.Series:
    start = time.perf_counter()
    _, heatmap = backtest.optimize(maximize=QUALITY_OBJECTIVE, constraint=below, n_jobs=None,
                                   show_progress=False, return_heatmap=True, **sizes.quality)
    n_grid = int(np.prod([len(v) for v in sizes.quality.values()]))
    print(f"   full grid (ours, all cores): {len(heatmap):,} admissible of {n_grid:,} combinations in "
          f"{format_seconds(time.perf_counter() - start)}; {QUALITY_OBJECTIVE} from "
          f"{heatmap.min():.3f} to {heatmap.max():.3f}, median {heatmap.median():.3f}, "
          f"{int(heatmap.isna().sum())} NaN")
    return heatmap


def search_rows(searches: list[Search], heatmap: pd.Series) -> list[list[str]]:
    """One row per search; '= grid' checks its best value against the full grid's at the same point."""
    grid, values, rows = as_dict(heatmap), heatmap.to_numpy(), []
    for s in searches:
        key = tuple(float(v) for v in s.params.values())
        same = bool(np.isclose(grid.get(key, np.nan), s.best, rtol=RTOL, atol=0))
        rows.append([str(s.seed), f"{s.best:.4f}", ", ".join(f"{k}={v}" for k, v in s.params.items()),
                     f"{'✓' if same else '✗'}", f"{percentile(s.best, values):.3f}%", str(s.n_evaluated),
                     format_seconds(s.seconds), f"{s.overhead_ms:.1f} ms"])
    return rows


def skopt_quality(library: Library, sizes: Sizes) -> tuple[list[Search], pd.Series, bool]:
    """Section 2 (and the runs section 3 measures); returns the searches, the full grid, all checks ok."""
    data = importlib.import_module("backtestkit.datasets").load_daily()
    backtest = timed_backtest(library)(data, filtered_cross_strategy(library))
    print(f"2. skopt search quality: FilteredCross (SmaCross + RSI filter + stop-loss) on load_daily() "
          f"({len(data):,} bars), maximize={QUALITY_OBJECTIVE!r}")
    print("   " + ", ".join(f"{k}={v}" for k, v in sizes.quality.items()) + ", constraint n1 < n2")
    heatmap = full_grid(backtest, sizes)
    values = heatmap.to_numpy()
    # seed 0 on all cores first: the invariance check, and the warm-up (scikit-optimize gets imported)
    parallel = skopt_run(backtest, sizes, 0, n_jobs=-1)
    searches = [skopt_run(backtest, sizes, seed) for seed in range(sizes.seeds)]
    rows = search_rows(searches, heatmap)
    print(f"   method='skopt', max_tries={sizes.tries} ({100 * sizes.tries / values.size:.1f}% of the "
          f"admissible grid), n_jobs=1, one run per seed:\n")
    print(format_table(["seed", "best found", "at", "= grid", "rank (top)", "evaluations", "wall",
                        "overhead/eval"], rows))
    invariant = parallel.heatmap.equals(searches[0].heatmap)
    best = [percentile(s.best, values) for s in searches]
    print(f"\n   median rank of the best found: top {statistics.median(best):.3f}% of the grid; found the "
          f"grid's best in {sum(p == 0 for p in best)} of {len(best)} seeds")
    print(f"   random search with as many tries (1,000 simulated searches): median top "
          f"{random_search_percentile(values, sizes.tries):.3f}%")
    print(f"   {'✓' if invariant else '✗'} seed 0 with n_jobs=-1 evaluates the same combinations with the "
          "same values as with n_jobs=1\n")
    return searches, heatmap, invariant and all(row[3] == "✓" for row in rows)


def same_points_grid_ms(backtest: Any, sizes: Sizes, search: Search) -> float:
    """Cross-check of the overhead: (skopt wall - wall of a grid over the same points) per evaluation.

    The grid's constraint admits exactly the points skopt evaluated, so both run the same backtests;
    what remains is skopt's overhead minus the grid's own (its constraint runs over the whole grid).
    """
    evaluated = set(search.heatmap.index)
    names = list(sizes.quality)
    start = time.perf_counter()
    backtest.optimize(maximize=QUALITY_OBJECTIVE, n_jobs=1, show_progress=False,
                      constraint=lambda p: tuple(p[n] for n in names) in evaluated, **sizes.quality)
    return 1e3 * (search.seconds - (time.perf_counter() - start)) / search.n_evaluated


def skopt_default_ms(sizes: Sizes, heatmap: pd.Series, n_evals: int) -> float:
    """ms per evaluation of scikit-optimize's own Optimizer(base_estimator='ET'), ask(n_points=8)/tell.

    Same space as ours models it (an Integer over each parameter's candidate positions), the same
    constraint as its ``space_constraint``; the objective looks the value up in the full grid, and the
    look-ups' time is subtracted, so what is left is skopt's own time.
    """
    from skopt import Optimizer
    from skopt.space import Integer

    cands = list(sizes.quality.values())
    grid = as_dict(heatmap)
    worst = -np.nanmin(heatmap.to_numpy())  # skopt minimises: NaN is told as the worst value seen
    optimizer = Optimizer([Integer(0, len(c) - 1) for c in cands], base_estimator="ET", random_state=0,
                          space_constraint=lambda x: cands[0][x[0]] < cands[1][x[1]])
    lookups, start = 0.0, time.perf_counter()
    while len(optimizer.Xi) < n_evals:
        points = optimizer.ask(n_points=min(8, n_evals - len(optimizer.Xi)))
        tic = time.perf_counter()
        keys = [tuple(float(c[i]) for c, i in zip(cands, x, strict=True)) for x in points]
        values = [-grid.get(key, np.nan) for key in keys]
        values = [worst if np.isnan(v) else v for v in values]
        lookups += time.perf_counter() - tic
        optimizer.tell(points, values)
    return 1e3 * (time.perf_counter() - start - lookups) / len(optimizer.Xi)


def skopt_overhead(library: Library, sizes: Sizes, searches: list[Search], heatmap: pd.Series) -> float:
    """Section 3; returns our median overhead in ms per evaluation."""
    ours = statistics.median(s.overhead_ms for s in searches)
    data = importlib.import_module("backtestkit.datasets").load_daily()
    backtest = library.package.Backtest(data, filtered_cross_strategy(library))
    cross_check = same_points_grid_ms(backtest, sizes, searches[0])
    default = skopt_default_ms(sizes, heatmap, sizes.default_evals)
    print(f"3. skopt overhead: time outside the backtests per evaluation, max_tries={sizes.tries}, n_jobs=1")
    print("   method: each run's wall time minus the time its backtests took (Engine.numbers, timed in a "
          "subclass), per evaluation")
    print(f"   ours: median {ours:.1f} ms/evaluation over {len(searches)} runs "
          f"({', '.join(f'{s.overhead_ms:.1f}' for s in searches)})")
    print(f"   cross-check, seed 0: its wall time minus a grid's over the same {searches[0].n_evaluated} "
          f"points, n_jobs=1: {cross_check:.1f} ms/evaluation")
    print(f"   scikit-optimize's default, Optimizer(base_estimator='ET') with ask(n_points=8)/tell, same "
          f"space: {default:.1f} ms/evaluation over {sizes.default_evals} evaluations "
          f"({default / ours:.0f}x ours)\n")
    return ours


# --- 4. memory -------------------------------------------------------------------------------------

def hold_strategy(library: Library) -> type:
    """A cheap run with one trade: buy a ``size`` share of the equity at bar ``entry``, sell ``hold``
    bars later."""

    class Hold(library.package.Strategy):
        entry, hold, size = 10, 5, 0.5

        def init(self) -> None:
            pass

        def next(self) -> None:
            n = len(self.data)
            if n == self.entry:
                self.buy(size=self.size)
            elif n == self.entry + self.hold:
                self.position.close()

    return Hold


def memory_child(stage: str, entries: int, holds: int, n_sizes: int) -> None:
    """Child process body: import ours and build the Backtest; ``run`` also optimises over
    ``entries * holds * n_sizes`` combinations on 2 workers (``lean``: the same, keeping only the
    objective and # Trades of each trial, ``metrics=[]``). Prints ``name value`` lines."""
    library = load_library(OURS)
    backtest = library.package.Backtest(synthetic_ohlcv(MEMORY_BARS), hold_strategy(library))
    if stage in ("run", "lean"):
        start = time.perf_counter()
        _, heatmap = backtest.optimize(
            entry=range(5, 5 + entries), hold=range(1, 1 + holds),
            size=[k / 100 for k in range(1, 1 + n_sizes)], maximize=GRID_OBJECTIVE, n_jobs=2,
            show_progress=False, return_heatmap=True, **({"metrics": []} if stage == "lean" else {}))
        print(f"seconds {time.perf_counter() - start}")
        print(f"combinations {len(heatmap)}")
        print(f"heatmap_mib {heatmap.memory_usage(deep=True) / 2**20}")
        print(f"run_kib {backtest.run().memory_usage(deep=True) / 2**10}")  # one run's stats, frames included
        workers = [process_peak_mib(pid) for pid in child_pids()]  # joblib keeps its workers for a while
        print(f"workers_mib {max((p for p in workers if p is not None), default=float('nan'))}")
    # VmHWM where there is /proc: a child's ru_maxrss starts at least at its parent's RSS
    print(f"main_mib {process_peak_mib() or peak_rss_mib()}")


def memory_section(sizes: Sizes) -> tuple[float, float, float]:
    """Section 4; returns the peak's growth from the small to the large grid by default and with
    ``metrics=[]``, and its limit, in MiB."""
    entries, holds, small, large = sizes.memory
    print(f"4. Memory: Hold (one trade a run) on {MEMORY_BARS} synthetic bars, grid entry x hold x size = "
          f"{entries} x {holds} x ({small} or {large}), n_jobs=2, return_heatmap=True")
    baseline = child_report([__file__, "--memory-child", "baseline", "0", "0", "0"])["main_mib"]
    reports = {(stage, n): child_report([__file__, "--memory-child", stage, str(entries), str(holds), str(n)])
               for stage in ("run", "lean") for n in (small, large)}
    rows = [["baseline (import, build the Backtest)", "", "", "", f"{baseline:.0f}", "", ""]]
    rows += [[f"optimize, {r['combinations']:,.0f} combinations{', metrics=[]' * (stage == 'lean')}",
              format_seconds(r["seconds"]), f"{r['heatmap_mib']:.2f}", f"{r['run_kib']:.1f}",
              f"{r['main_mib']:.0f}", f"{r['main_mib'] - baseline:.0f}", f"{r['workers_mib']:.0f}"]
             for (stage, _), r in reports.items()]
    print(format_table(["child process", "time", "heatmap MiB", "one run's stats KiB", "peak RSS MiB",
                        "over baseline", "largest worker's peak MiB"], rows))
    small_run, large_run = reports["run", small], reports["run", large]
    lean_growth = reports["lean", large]["main_mib"] - reports["lean", small]["main_mib"]
    extra = large_run["combinations"] - small_run["combinations"]
    growth = large_run["main_mib"] - small_run["main_mib"]
    limit = 4 * (large_run["heatmap_mib"] - small_run["heatmap_mib"]) + 8
    heatmap_bytes = large_run["heatmap_mib"] * 2**20 / large_run["combinations"]
    print(f"   {extra:,.0f} more combinations: peak +{growth:.1f} MiB ({growth * 2**20 / extra:.0f} bytes a "
          f"combination; the heatmap takes {heatmap_bytes:.0f}), "
          f"limit {limit:.1f} MiB; keeping every run's stats would take "
          f"{extra * large_run['run_kib'] / 2**10:,.0f} MiB more; with metrics=[], the peak grows "
          f"{lean_growth:.1f} MiB ({lean_growth * 2**20 / extra:.0f} bytes a combination)\n")
    return growth, lean_growth, limit


# --- the whole benchmark -----------------------------------------------------------------------------

def verdict_rows(grid: tuple[float, OneCore] | None, searches: list[Search], heatmap: pd.Series,
                 overhead: float, memory: tuple[float, float, float]) -> list[list[str]]:
    best = statistics.median(percentile(s.best, heatmap.to_numpy()) for s in searches)
    growth, lean_growth, limit = memory
    rows = [
        ["1. grid speed, all cores", "n/a (disagree)" if grid is None else f"{grid[0]:.1f}x", ">= 5x",
         grid is not None and grid[0] >= 5],
        ["1b. grid, one core, per combination", "n/a" if grid is None else f"{grid[1].ms:.2f} ms",
         f"<= {PER_COMBINATION_MS} ms", grid is not None and grid[1].ms <= PER_COMBINATION_MS],
        ["1c. one core vs the oracle's CPU", "n/a" if grid is None else f"{grid[1].cpu_ratio:.1f}x",
         f">= {CPU_RATIO:g}x", grid is not None and grid[1].cpu_ratio >= CPU_RATIO],
        ["2. skopt quality, median rank", f"top {best:.3f}%", "top 1%", best <= 1],
        ["3. skopt overhead, median", f"{overhead:.1f} ms/eval", "<= 20 ms/eval", overhead <= 20],
        ["4. memory growth, small -> large grid", f"{growth:.1f} MiB", f"<= {limit:.1f} MiB",
         growth <= limit],
        ["4b. the same, metrics=[]", f"{lean_growth:.1f} MiB", f"<= {limit:.1f} MiB", lean_growth <= limit],
    ]
    return [[*row[:3], "PASS" if row[3] else "MISS"] for row in rows]


def benchmark(sizes: Sizes, repeat: int, quick: bool) -> int:
    """The whole benchmark; returns the exit status (1 if a correctness check failed, else 0)."""
    libraries = {name: load_library(name) for name in (ORACLE, OURS)}
    print("backtestkit optimiser benchmark: backtestkit (ours) vs backtesting.py (oracle)")
    print(environment_line(list(libraries.values())) + "\n")
    grid = grid_speed(libraries, sizes, repeat)
    searches, heatmap, ok = skopt_quality(libraries[OURS], sizes)
    overhead = skopt_overhead(libraries[OURS], sizes, searches, heatmap)
    memory = memory_section(sizes)
    rows = verdict_rows(grid, searches, heatmap, overhead, memory)
    print(format_table(["target", "measured", "goal", "verdict"], rows))
    if quick:
        print("(quick mode: sizes far too small to judge the targets; run without --quick)")
    return 0 if grid is not None and ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help=f"timed rounds of the grid comparison (default {FULL.repeat}, "
                             f"{QUICK.repeat} with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, for tests")
    parser.add_argument("--memory-child", nargs=4, metavar=("STAGE", "ENTRIES", "HOLDS", "SIZES"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        stage, *counts = args.memory_child
        memory_child(stage, *map(int, counts))
        return 0
    sizes = QUICK if args.quick else FULL
    return benchmark(sizes, args.repeat or sizes.repeat, args.quick)


if __name__ == "__main__":
    sys.exit(main())
