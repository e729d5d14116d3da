"""Overhead and quality of ``run_search(method='skopt')`` on a toy 4-parameter objective.

Prints, as medians over 5 seeds:
- the time spent outside the objective per evaluation (ms), 200 tries, in-process (n_jobs=1);
- the rank of the best value found among all combinations of the grid, as a percentile
  (0.1 means the best found is within the best 0.1% of the grid), next to random search's.

Run: python benchmarks/bench_skopt.py [--estimator et] [--tries 200] [--seeds 5] [--constrained]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from backtestkit.optimize import _skopt, run_search

GRID = {
    "fast": list(range(5, 105, 5)),  # 20 values
    "slow": list(range(20, 420, 20)),  # 20 values
    "stop": [round(0.5 + 0.25 * i, 2) for i in range(15)],  # 15 values
    "mode": ["a", "b", "c", "d"],  # 4 categories
}
OPTIMUM = {"fast": 30, "slow": 280, "stop": 2.0}


def slow_enough(p) -> bool:
    """A constraint for --constrained: the slow period at least 3 times the fast one."""
    return p.slow >= 3 * p.fast


def toy(params: dict) -> float:
    """A smooth bowl with ripples and a categorical offset; the maximum is near OPTIMUM, mode 'c'."""
    x = (params["fast"] - OPTIMUM["fast"]) / 100
    y = (params["slow"] - OPTIMUM["slow"]) / 400
    z = (params["stop"] - OPTIMUM["stop"]) / 4
    offset = {"a": 0.0, "b": 0.05, "c": 0.1, "d": 0.02}[params["mode"]]
    return offset - (x**2 + 2 * y**2 + 1.5 * z**2) + 0.02 * np.sin(25 * x) * np.cos(15 * y)


class Timed:
    """The objective, accumulating the time spent inside it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, params: dict) -> float:
        start = time.perf_counter()
        value = toy(params)
        self.seconds += time.perf_counter() - start
        return value


def percentile_rank(value: float, all_values: np.ndarray) -> float:
    """Share (%) of the grid's combinations strictly better than ``value``."""
    return 100 * np.count_nonzero(all_values > value) / all_values.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", default="et")
    parser.add_argument("--tries", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--constrained", action="store_true", help="search under a constraint")
    parser.add_argument("--trees", type=int, help="override the forest size (tuning)")
    parser.add_argument("--points", type=int, help="override the acquisition sample size (tuning)")
    args = parser.parse_args()
    _skopt.N_TREES = args.trees or _skopt.N_TREES
    _skopt.N_POINTS = args.points or _skopt.N_POINTS

    constraint = slow_enough if args.constrained else None
    grid = run_search(toy, GRID, known_params=GRID, constraint=constraint, n_jobs=1, show_progress=False)
    all_values = grid.heatmap().to_numpy()
    overheads, ranks, random_ranks = [], [], []
    for seed in range(args.seeds):
        objective = Timed()
        start = time.perf_counter()
        result = run_search(
            objective,
            GRID,
            known_params=GRID,
            method="skopt",
            max_tries=args.tries,
            random_state=seed,
            n_jobs=1,
            show_progress=False,
            estimator=args.estimator,
            constraint=constraint,
        )
        elapsed = time.perf_counter() - start
        overheads.append(1000 * (elapsed - objective.seconds) / result.n_evaluated)
        ranks.append(percentile_rank(result.best_value, all_values))
        sample = np.random.default_rng(seed).choice(all_values, result.n_evaluated, replace=False)
        random_ranks.append(percentile_rank(sample.max(), all_values))
    share = 100 * args.tries / all_values.size
    where = " admissible under slow >= 3 * fast" if args.constrained else ""
    print(f"grid: {all_values.size} combinations{where}; {args.tries} tries = {share:.2f}% of them")
    print(
        f"estimator={args.estimator!r} ({_skopt.N_TREES} trees, {_skopt.N_POINTS} acquisition points), "
        f"median over {args.seeds} seeds:"
    )
    print(
        f"  overhead outside the objective: {np.median(overheads):.1f} ms/evaluation "
        f"(per seed: {', '.join(f'{v:.1f}' for v in overheads)})"
    )
    print(
        f"  best found ranks in the top {np.median(ranks):.3f}% of the grid "
        f"(per seed: {', '.join(f'{v:.3f}' for v in ranks)})"
    )
    print(f"  random search with as many tries: top {np.median(random_ranks):.3f}%")


if __name__ == "__main__":
    main()
