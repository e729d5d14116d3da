"""Search methods side by side: genetic, coarse-to-fine (Euler), random sampling and skopt, each with the
same budget of evaluations on a 4-parameter space, ranked against the full grid.

    python benchmarks/bench_methods.py            # full run (about 2-4 minutes on 2 busy cores)
    python benchmarks/bench_methods.py --seeds 3  # fewer seeds
    python benchmarks/bench_methods.py --quick    # smoke mode: tiny sizes, targets not judged

The space is bench_optimize.py's section 2: FilteredCross (SmaCross + RSI filter + stop-loss) on
load_daily(), n1 x n2 x rsi_n x sl_pct = 7,200 combinations of which 6,432 satisfy n1 < n2,
maximize='Sharpe Ratio'. The budget is 5% of the admissible grid (321 evaluations).

Targets (genetic and Euler):
  1. median over the seeds of the best found's rank: within the grid's top 1%
  2. evaluations: at most 5% of the admissible grid
  3. time outside the backtests (n_jobs=1), median: <= 2 ms per evaluation
Random sampling (method='grid' with max_tries) and method='skopt' get the same budget, for comparison.
Euler is deterministic (it draws nothing): it runs once and its row stands for every seed.
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

from _common import OURS, format_seconds, format_table, load_library
from bench_optimize import (
    FULL,
    QUALITY_OBJECTIVE,
    QUICK,
    below,
    filtered_cross_strategy,
    percentile,
    timed_backtest,
)

from backtestkit.optimize import Euler, Genetic

BUDGET_SHARE = 0.05  # of the admissible grid
TOP_SHARE = 1.0  # % of the grid the best found must rank in
OVERHEAD_MS = 2.0


@dataclass(frozen=True)
class Run:
    method: str
    seed: int
    best: float
    n_evaluated: int
    seconds: float
    overhead_ms: float


def methods(budget: int) -> dict[str, Callable[[], dict[str, Any]]]:
    """optimize() arguments of each method, for a budget of evaluations."""
    return {
        "genetic": lambda: {"method": Genetic(population_size=32, generations=20, max_tries=budget)},
        "euler": lambda: {"method": Euler(steps=3, keep=2, max_tries=budget)},
        "random": lambda: {"method": "grid", "max_tries": budget},
        "skopt": lambda: {"method": "skopt", "max_tries": budget},
    }


def run(backtest: Any, quality: dict[str, list[float]], name: str, kwargs: dict[str, Any], seed: int,
        values: Any) -> Run:
    """One search on one core; the overhead is its wall time minus the backtests' time, per evaluation."""
    clock = type(backtest).clock  # the class's: the engine adds to it (an instance attribute would not be)
    in_backtests = clock.seconds
    start = time.perf_counter()
    stats, heatmap = backtest.optimize(maximize=QUALITY_OBJECTIVE, constraint=below, random_state=seed,
                                       n_jobs=1, show_progress=False, return_heatmap=True,
                                       **kwargs, **quality)
    seconds = time.perf_counter() - start
    overhead = 1e3 * (seconds - (clock.seconds - in_backtests)) / len(heatmap)
    rank = percentile(float(stats[QUALITY_OBJECTIVE]), values)
    return Run(name, seed, rank, len(heatmap), seconds, overhead)


def benchmark(quality: dict[str, list[float]], seeds: int, quick: bool) -> int:
    library = load_library(OURS)
    data = importlib.import_module("backtestkit.datasets").load_daily()
    backtest = timed_backtest(library)(data, filtered_cross_strategy(library))
    start = time.perf_counter()
    _, heatmap = backtest.optimize(maximize=QUALITY_OBJECTIVE, constraint=below, n_jobs=None,
                                   show_progress=False, return_heatmap=True, **quality)
    values = heatmap.to_numpy()
    budget = max(4, int(BUDGET_SHARE * values.size))
    print(f"FilteredCross on load_daily() ({len(data):,} bars), maximize={QUALITY_OBJECTIVE!r}; "
          + ", ".join(f"{k}={v}" for k, v in quality.items()) + ", constraint n1 < n2")
    print(f"full grid: {values.size:,} admissible combinations in "
          f"{format_seconds(time.perf_counter() - start)} (all cores); budget {budget} evaluations "
          f"({100 * budget / values.size:.1f}%), n_jobs=1\n")
    runs: dict[str, list[Run]] = {}
    for name, kwargs in methods(budget).items():
        for seed in range(1 if name == "euler" else seeds):
            runs.setdefault(name, []).append(run(backtest, quality, name, kwargs(), seed, values))
    rows, verdicts = [], []
    for name, found in runs.items():
        rank = statistics.median(r.best for r in found)
        evals = statistics.median(r.n_evaluated for r in found)
        overhead = statistics.median(r.overhead_ms for r in found)
        rows.append([name, f"top {rank:.3f}%", ", ".join(f"{r.best:.2f}" for r in found), f"{evals:g}",
                     f"{100 * evals / values.size:.1f}%", f"{overhead:.2f} ms",
                     format_seconds(statistics.median(r.seconds for r in found))])
        if name in ("genetic", "euler"):
            verdicts += [(f"{name}: median rank within the top {TOP_SHARE:g}%", rank <= TOP_SHARE),
                         (f"{name}: at most {100 * BUDGET_SHARE:g}% of the grid's evaluations",
                          evals <= BUDGET_SHARE * values.size + 1),
                         (f"{name}: overhead <= {OVERHEAD_MS:g} ms per evaluation", overhead <= OVERHEAD_MS)]
    print(format_table(["method", "median rank", "rank per seed (%)", "evaluations", "of grid",
                        "overhead/eval", "wall"], rows))
    print()
    for label, ok in verdicts:
        print(f"{'PASS' if ok else 'MISS'} {label}" + ("  (quick: not judged)" if quick else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method (Euler runs once)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, for tests")
    args = parser.parse_args(argv)
    quality = QUICK.quality if args.quick else FULL.quality
    return benchmark(quality, 2 if args.quick else args.seeds, args.quick)


if __name__ == "__main__":
    sys.exit(main())
