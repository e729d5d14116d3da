"""What several objectives, robust scoring and parameter strings cost: the Pareto front of a large
study, the per-run overhead of a second and third objective, the robust objective against running the
data sets one by one, and writing/reading parameter strings.

    python benchmarks/bench_pareto.py            # the full run (about a minute on 2 cores)
    python benchmarks/bench_pareto.py --quick    # smoke mode: tiny sizes, for tests

Targets: the front of a 100k-trial study of 2 or 3 objectives in < 1 s; more objectives cost only
what their functions cost (function objectives need the whole stats Series, frames included: compare
with one function objective); the robust objective over k data sets costs within 5%
of k separate runs; a parameter string round trip in < 100 us (it is on no per-run path).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from _common import (  # noqa: I001 -- _common first: it silences progress bars before tqdm loads
    OURS,
    environment_line,
    format_table,
    load_library,
    sma_cross_strategy,
    synthetic_ohlcv,
    time_alternating,
)

from backtestkit import Backtest, param_string, parse_params
from backtestkit._goal import goal_for
from backtestkit._robust import RobustObjective
from backtestkit.optimize._pareto import pareto_front


@dataclass(frozen=True)
class Sizes:
    trials: int  # trials of the study whose front is found
    bars: int  # bars of each data set
    runs: int  # runs timed per objective set-up
    repeat: int


FULL = Sizes(trials=100_000, bars=2_000, runs=40, repeat=5)
QUICK = Sizes(trials=2_000, bars=300, runs=4, repeat=1)


def front_times(sizes: Sizes) -> list[list[object]]:
    rng = np.random.default_rng(0)
    rows = []
    for k in (2, 3):
        scores = rng.normal(size=(sizes.trials, k))
        scores[rng.random(sizes.trials) < 0.05, 0] = np.nan  # some trials did not score
        keys = [(i,) for i in range(sizes.trials)]
        started = time.perf_counter()
        front = pareto_front(scores, keys)
        elapsed = time.perf_counter() - started
        rows.append([f"front of {sizes.trials:,} trials, {k} objectives", f"{elapsed:.3f} s",
                     f"{len(front):,} on the front"])
    return rows


def trades(stats) -> float:
    return stats["# Trades"]


def sharpe(stats) -> float:
    return stats["Sharpe Ratio"]


def objective_times(sizes: Sizes) -> list[list[object]]:
    library = load_library(OURS)
    strategy = sma_cross_strategy(library)
    datasets = [synthetic_ohlcv(sizes.bars, seed=seed) for seed in range(3)]
    bt = Backtest(datasets[0], strategy)
    engines = [Backtest(data, strategy)._engine for data in datasets]
    combos = [{"n1": n1, "n2": n2} for n1 in (5, 10) for n2 in range(20, 20 + 5 * sizes.runs // 2, 5)]
    # functions of the stats on both sides: a function objective sees the whole stats Series either way
    one = goal_for(sharpe, None).objective(bt._engine)
    several = goal_for([sharpe, trades], ["Volatility (Ann.) [%]"]).objective(bt._engine)
    separate = [goal_for("Sharpe Ratio", None).objective(engine) for engine in engines]
    robust = RobustObjective(engines, goal_for("Sharpe Ratio", None).score, "Sharpe Ratio", "min")
    calls = {
        "one objective (a function)": lambda: [one(p) for p in combos],
        "three objectives (two functions)": lambda: [several(p) for p in combos],
        "3 data sets, one by one": lambda: [[o(p) for o in separate] for p in combos],
        "3 data sets, robust (min)": lambda: [robust(p) for p in combos],
    }
    for call in calls.values():
        call()  # warm-up
    timings = time_alternating(calls, sizes.repeat)
    per_run = {name: timing.median / len(combos) * 1000 for name, timing in timings.items()}
    rows = [[name, f"{ms:.3f} ms a combination", ""] for name, ms in per_run.items()]
    several_ratio = per_run["three objectives (two functions)"] / per_run["one objective (a function)"]
    rows[1][2] = f"{several_ratio - 1:+.1%} vs one"
    robust_ratio = per_run["3 data sets, robust (min)"] / per_run["3 data sets, one by one"]
    rows[3][2] = f"{robust_ratio - 1:+.1%} vs one by one"
    return rows


def param_string_times(sizes: Sizes) -> list[list[object]]:
    params = {"n1": 10, "n2": 30, "sl": 0.025, "mode": "fast", "long_only": True, "trail": None}
    n = 2_000 if sizes is QUICK else 50_000
    started = time.perf_counter()
    for _ in range(n):
        parse_params(param_string(params))
    each = (time.perf_counter() - started) / n
    return [["param_string + parse_params, 6 parameters", f"{each * 1e6:.1f} us", param_string(params)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the tests")
    parser.add_argument("--repeat", type=int, default=None, help="timed rounds (default 5; 1 with --quick)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.repeat:
        sizes = Sizes(sizes.trials, sizes.bars, sizes.runs, args.repeat)
    print(environment_line([load_library(OURS)]))
    rows = front_times(sizes) + objective_times(sizes) + param_string_times(sizes)
    print(format_table(["measure", "time", "note"], rows))


if __name__ == "__main__":
    main()
