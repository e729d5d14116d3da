"""Engine speed and memory, backtestkit against backtesting.py 0.6.6, side by side in one run.

    python benchmarks/bench_engine.py              # full run, 5 timed rounds (a few minutes)
    python benchmarks/bench_engine.py --repeat 9   # more rounds on a noisy machine
    python benchmarks/bench_engine.py --quick      # smoke mode: few bars, 2 rounds, targets not judged

Targets (speed-up = oracle median / ours median):
  1. empty strategy, 100k synthetic 1-minute bars (engine overhead)  >= 15x
  2. SmaCross 10/20 on backtesting.py's GOOG                          >= 4x
  3. SmaCross 10/20 on 200k synthetic bars                            >= 8x
  4. peak memory of a 1M-bar SmaCross run                             ours <= oracle
  5. empty strategy on 10 bars, one optimiser run (stats without frames)  <= 0.15 ms
Before timing, every workload is run once by each library (the warm-up) and must give the same number
of trades and final equity; otherwise nothing is timed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from _common import (
    LABELS,
    ORACLE,
    OURS,
    Library,
    Timing,
    child_peak_mib,
    empty_strategy,
    environment_line,
    floor_loop,
    format_seconds,
    format_table,
    load_library,
    outcome,
    peak_rss_mib,
    same_outcome,
    sma_cross_strategy,
    synthetic_ohlcv,
    time_alternating,
)
from _phases import phase_line, phase_seconds


@dataclass(frozen=True)
class Sizes:
    """Bars per synthetic workload, and the default number of timed rounds."""

    empty: int
    synthetic: int
    memory: int
    repeat: int


FULL = Sizes(empty=100_000, synthetic=200_000, memory=1_000_000, repeat=5)
QUICK = Sizes(empty=5_000, synthetic=10_000, memory=20_000, repeat=2)


@dataclass(frozen=True)
class Workload:
    """One timed comparison: a strategy factory run on a data set, and the speed-up it must reach."""

    name: str
    data: pd.DataFrame
    make: Callable[[Library], type]
    target: float


Calls = dict[str, Callable[[], pd.Series]]  # library name -> Backtest(...).run() of one workload
Timed = list[tuple[Workload, dict[str, Timing]]]  # each workload's timings, per library name


def workloads(sizes: Sizes) -> list[Workload]:
    goog = importlib.import_module("backtesting.test").GOOG  # after load_library: no progress bars
    return [
        Workload("empty strategy", synthetic_ohlcv(sizes.empty), empty_strategy, 15.0),
        Workload("SmaCross, GOOG", goog, sma_cross_strategy, 4.0),
        Workload("SmaCross", synthetic_ohlcv(sizes.synthetic), sma_cross_strategy, 8.0),
    ]


def runner(library: Library, workload: Workload) -> Callable[[], pd.Series]:
    """A call that builds the Backtest and runs it: what a user pays for ``Backtest(...).run()``."""
    strategy = workload.make(library)
    return lambda: library.package.Backtest(workload.data, strategy).run()


def check(workload: Workload, calls: Calls) -> bool:
    """Warm-up run of each library; print and return whether trades and final equity agree."""
    results = {name: outcome(call()) for name, call in calls.items()}
    ok = same_outcome(results[ORACLE], results[OURS])
    details = ", ".join(f"{LABELS[name]} {trades} trades, ${equity:,.2f}"
                        for name, (trades, equity) in results.items())
    print(f"  {'✓' if ok else '✗'} {workload.name}, {len(workload.data):,} bars: {details}")
    return ok


def speed_rows(timed: Timed) -> list[list[str]]:
    rows = []
    for workload, timings in timed:
        oracle, ours = timings[ORACLE], timings[OURS]
        rows.append([workload.name, f"{len(workload.data):,}",
                     format_seconds(oracle.median), format_seconds(oracle.min),
                     format_seconds(ours.median), format_seconds(ours.min),
                     f"{oracle.median / ours.median:.1f}x", f">= {workload.target:g}x"])
    return rows


def per_bar_line(workload: Workload, timings: dict[str, Timing], repeat: int) -> str:
    """µs per bar of the empty strategy for each library, against a bare loop calling an empty method."""
    n_bars = len(workload.data)
    floor = time_alternating({"floor": lambda: floor_loop(n_bars)}, repeat)["floor"].median
    us = {name: timings[name].median / n_bars * 1e6 for name in (ORACLE, OURS)}
    return (f"Per bar, empty strategy: floor (bare loop calling an empty method) "
            f"{floor / n_bars * 1e6:.3f} µs, ours {us[OURS]:.2f} µs, oracle {us[ORACLE]:.2f} µs")


def memory_peaks(n_bars: int) -> dict[str, float]:
    """Extra peak RSS (MiB) of a SmaCross run per library: run child minus import-and-build-data child."""
    extra = {}
    for name in (ORACLE, OURS):
        peaks = {stage: child_peak_mib([__file__, "--memory-child", name, str(n_bars), stage])
                 for stage in ("baseline", "run")}
        print(f"  {LABELS[name]:>6}: baseline {peaks['baseline']:.0f} MiB, run {peaks['run']:.0f} MiB, "
              f"extra {peaks['run'] - peaks['baseline']:.0f} MiB")
        extra[name] = peaks["run"] - peaks["baseline"]
    return extra


def memory_child(name: str, n_bars: int, stage: str) -> None:
    """Child process body: import one library, build the data, maybe run; print the peak RSS in MiB."""
    library = load_library(name)
    data = synthetic_ohlcv(n_bars)
    if stage == "run":
        library.package.Backtest(data, sma_cross_strategy(library)).run()
    print(f"{peak_rss_mib():.3f}")


TINY_BARS, TINY_RUNS, TINY_TARGET_MS = 10, 200, 0.15


def tiny_runs(libraries: dict[str, Library], repeat: int) -> float:
    """The fixed cost of a run: an empty strategy on 10 bars, per run, by Backtest.run (each library)
    and as one run of an optimisation (ours: stats without frames); returns the latter in ms."""
    from backtestkit._cache import sharing

    goog = importlib.import_module("backtesting.test").GOOG.iloc[:TINY_BARS]
    backtests = {name: library.package.Backtest(goog, empty_strategy(library))
                 for name, library in libraries.items()}
    engine = backtests[OURS]._engine

    def optimiser_run() -> None:
        with sharing():
            engine.numbers({})

    calls = {**{LABELS[name]: backtest.run for name, backtest in backtests.items()},
             "ours, optimiser run": optimiser_run}
    batched = {label: (lambda call=call: [call() for _ in range(TINY_RUNS)]) for label, call in calls.items()}
    for call in batched.values():
        call()  # the warm-up
    timings = time_alternating(batched, repeat)
    per_run = {label: timing.median / TINY_RUNS for label, timing in timings.items()}
    print(f"Fixed cost of a run: empty strategy on {TINY_BARS} bars, medians of {repeat} rounds of "
          f"{TINY_RUNS} runs, per run:")
    print("  " + ", ".join(f"{label} {format_seconds(seconds)}" for label, seconds in per_run.items()))
    print(f"  one optimiser run by phase: {phase_line(phase_seconds(engine, [{}] * TINY_RUNS))}\n")
    return per_run["ours, optimiser run"] * 1e3


def verdicts(timed: Timed, memory: dict[str, float], memory_bars: int, tiny_ms: float) -> list[str]:
    lines = []
    for workload, timings in timed:
        ratio = timings[ORACLE].median / timings[OURS].median
        verdict = "PASS" if ratio >= workload.target else "MISS"
        lines.append(f"{verdict}  {workload.name}, {len(workload.data):,} bars: {ratio:.1f}x "
                     f"(target >= {workload.target:g}x)")
    verdict = "PASS" if memory[OURS] <= memory[ORACLE] else "MISS"
    lines.append(f"{verdict}  peak memory, SmaCross, {memory_bars:,} bars: ours {memory[OURS]:.0f} MiB, "
                 f"oracle {memory[ORACLE]:.0f} MiB (target: ours <= oracle)")
    verdict = "PASS" if tiny_ms <= TINY_TARGET_MS else "MISS"
    lines.append(f"{verdict}  empty strategy, {TINY_BARS} bars, one optimiser run: {tiny_ms:.3f} ms "
                 f"(target <= {TINY_TARGET_MS} ms)")
    return lines


def fair_workloads(sizes: Sizes, libraries: dict[str, Library]) -> list[tuple[Workload, Calls]] | None:
    """Each workload with its calls per library, or None if the libraries disagree on any of them."""
    print("Fairness check (warm-up run: same # trades and final equity)")
    compared = []
    for workload in workloads(sizes):
        calls = {name: runner(library, workload) for name, library in libraries.items()}
        if not check(workload, calls):
            print("The libraries disagree; timing them would not be a fair comparison.", file=sys.stderr)
            return None
        compared.append((workload, calls))
    return compared


def memory_section(n_bars: int) -> dict[str, float]:
    print(f"Peak memory, SmaCross on {n_bars:,} bars (peak RSS of a child process that runs it, minus "
          "a baseline child that only imports the library and builds the data)")
    memory = memory_peaks(n_bars)
    ratio = f"{memory[ORACLE] / memory[OURS]:.1f}x" if memory[OURS] >= 1 else "n/a (ours under 1 MiB)"
    print(f"  ratio oracle / ours: {ratio}\n")
    return memory


def benchmark(sizes: Sizes, repeat: int, quick: bool) -> int:
    """The whole benchmark; returns the exit status (1 if the libraries disagree, else 0)."""
    libraries = {name: load_library(name) for name in (ORACLE, OURS)}
    print("backtestkit engine benchmark: backtestkit (ours) vs backtesting.py (oracle)")
    print(environment_line(list(libraries.values())))
    print(f"Each timing: one warm-up, then {repeat} rounds alternating the libraries; "
          "speed-up = oracle median / ours median\n")
    compared = fair_workloads(sizes, libraries)
    if compared is None:
        return 1
    timed = [(workload, time_alternating(calls, repeat)) for workload, calls in compared]
    headers = ["workload", "bars", "oracle median", "oracle min", "ours median", "ours min", "speed-up",
               "target"]
    print("\n" + format_table(headers, speed_rows(timed)) + "\n")
    print(per_bar_line(*timed[0], repeat) + "\n")
    tiny_ms = tiny_runs(libraries, repeat)
    memory = memory_section(sizes.memory)
    print("\n".join(verdicts(timed, memory, sizes.memory, tiny_ms)))
    if quick:
        print("(quick mode: too few bars and rounds to judge the targets; run without --quick)")
    return 0


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1. Got {text!r} instead.")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help=f"timed rounds per measurement (default {FULL.repeat}, "
                             f"{QUICK.repeat} with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: few bars, for tests")
    parser.add_argument("--memory-child", nargs=3, metavar=("LIBRARY", "BARS", "STAGE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        name, n_bars, stage = args.memory_child
        memory_child(name, int(n_bars), stage)
        return 0
    sizes = QUICK if args.quick else FULL
    return benchmark(sizes, args.repeat or sizes.repeat, args.quick)


if __name__ == "__main__":
    sys.exit(main())
