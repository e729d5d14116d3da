"""The compiled signals path: SmaCross written as a SignalStrategy, against the bar loop, the
hand-written strategy, backtesting.py 0.6.6 and (where installed) vectorbt, side by side in one run.

    python benchmarks/bench_signals.py             # full run (a few minutes)
    python benchmarks/bench_signals.py --repeat 9  # more timed rounds on a noisy machine
    python benchmarks/bench_signals.py --quick     # smoke mode: small sizes, targets not judged

Targets:
  1. SmaCross grid on GOOG with signals, one core, keeping only the objective (metrics=[]): ours per
     combination <= vectorbt's vectorised grid of final values (judged only where vectorbt is
     installed: pip install vectorbt; ours keeping every stat, and vectorbt with its stats for every
     combination, are shown too)
  2. SmaCross with signals on 200k synthetic bars: oracle median / ours median >= 50x
Checks before any timing (a failed one makes the exit status 1): the compiled grid's heatmap equals
the bar loop's and the hand-written SmaCross's (exclusive_orders=True) to the bit, and on 200k bars
both libraries make the same trades and final equity.
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
from _common import (
    ORACLE,
    OURS,
    Library,
    environment_line,
    format_seconds,
    format_table,
    load_library,
    outcome,
    same_outcome,
    sma,
    sma_cross_strategy,
    synthetic_ohlcv,
    time_alternating,
)
from _grid_extras import VECTORBT_FINAL, vectorbt_grids, vectorbt_version
from bench_engine import positive_int

SIGNALS_SPEED_UP = 50.0
OBJECTIVE = "Equity Final [$]"
FULL_SIZE = 1 - 2**-52  # buy() without a size: all the margin there is
LEAN = "signals, compiled, metrics=[]"  # each run computes only the objective and # Trades


@dataclass(frozen=True)
class Sizes:
    goog_bars: int  # GOOG's first bars in the grid (0: all 2,148)
    n1: range
    n2: range
    bars: int  # the single run's synthetic bars
    repeat: int


FULL = Sizes(goog_bars=0, n1=range(5, 60, 2), n2=range(10, 200, 5), bars=200_000, repeat=5)
QUICK = Sizes(goog_bars=400, n1=range(5, 25, 5), n2=range(10, 40, 10), bars=10_000, repeat=2)


def signal_cross_strategy(library: Library) -> type:
    """SmaCross as signals: on a cross up, close shorts and buy with all the margin; on a cross down,
    the mirror image. With ``exclusive_orders=True`` it is the hand-written SmaCross."""

    class SignalCross(library.lib.SignalStrategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            super().init()
            fast, slow = self.I(sma, self.data.Close, self.n1), self.I(sma, self.data.Close, self.n2)
            up = np.r_[False, (fast[1:] > slow[1:]) & (fast[:-1] < slow[:-1])]
            down = np.r_[False, (fast[1:] < slow[1:]) & (fast[:-1] > slow[:-1])]
            self.set_signal(entry_size=up * FULL_SIZE - down * FULL_SIZE, exit_portion=down * 1.0 - up * 1.0)

    return SignalCross


def compiled(enabled: bool, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` with backtestkit's compiled signals path on or off."""
    import backtestkit

    def run() -> Any:
        backtestkit.set_compiled_signals(enabled)
        try:
            return call()
        finally:
            backtestkit.set_compiled_signals(True)

    return run


def check(text: str, ok: bool) -> bool:
    print(f"   {'✓' if ok else '✗'} {text}")
    return ok


# --- 1. the grid, one core -----------------------------------------------------------------------

def grid(ours: Library, sizes: Sizes, repeat: int) -> tuple[float, float | None] | None:
    """Section 1; returns ours (compiled) and vectorbt's seconds per combination, or None if a check
    fails."""
    goog = importlib.import_module("backtesting.test").GOOG
    data = goog.iloc[: sizes.goog_bars] if sizes.goog_bars else goog
    pairs = [(a, b) for a in sizes.n1 for b in sizes.n2 if a < b]
    search = {"n1": sizes.n1, "n2": sizes.n2, "constraint": lambda p: p.n1 < p.n2, "maximize": OBJECTIVE,
              "return_heatmap": True, "n_jobs": 1, "show_progress": False}
    options = {"commission": 0.002, "exclusive_orders": True, "finalize_trades": True}
    signals = ours.package.Backtest(data, signal_cross_strategy(ours), **options)
    hand = ours.package.Backtest(data, sma_cross_strategy(ours), **options)
    calls = {"signals, compiled": compiled(True, lambda: signals.optimize(**search)),
             LEAN: compiled(True, lambda: signals.optimize(**search, metrics=[])),
             "signals, bar loop": compiled(False, lambda: signals.optimize(**search)),
             "hand-written SmaCross": lambda: hand.optimize(**search)}
    print(f"1. Grid: SmaCross on GOOG ({len(data):,} bars), {len(pairs):,} combinations, one core "
          f"(n_jobs=1), {', '.join(f'{k}={v}' for k, v in options.items())}")
    heatmaps = {label: call()[1] for label, call in calls.items()}  # the warm-up: numba compiles here
    first = heatmaps["signals, compiled"]
    ok = all(check(f"{label}: the same {OBJECTIVE!r} on all {len(first):,} combinations, to the bit",
                   heatmap.equals(first)) for label, heatmap in heatmaps.items() if heatmap is not first)
    if not ok:
        return None
    vectorbt = vectorbt_grids(data.Close, pairs, with_stats=True) or {}  # timed in the same rounds
    timings = time_alternating({**calls, **vectorbt}, repeat)
    per = {label: t.median / len(pairs) for label, t in timings.items()}
    rows = [[label, format_seconds(per[label]), format_seconds(t.min / len(pairs)),
             f"{per[label] / per['signals, compiled']:.1f}x"] for label, t in timings.items()]
    print(format_table(["run", "median per combination", "min", "vs compiled"], rows))
    if vectorbt:
        print(f"   vectorbt's rows: {vectorbt_version()}'s vectorised grid over the same pairs, timed in the "
              "same rounds (MA crosses, long only: a different strategy, for scale)")
    print(compiled_phases(signals._engine, [{"n1": a, "n2": b} for a, b in pairs], repeat) + "\n")
    return per[LEAN], per.get(VECTORBT_FINAL)


def compiled_phases(engine: Any, combinations: list[dict[str, Any]], repeat: int) -> str:
    """Where a compiled grid run spends its time, as the optimiser runs it (medians of ``repeat``
    passes): the strategy's init(), the kernel, and the stats (all the rest of Engine.numbers)."""
    from backtestkit import _signals
    from backtestkit._cache import sharing

    spent = {"init": [], "kernel": [], "stats": []}
    kernel = _signals.run_signals
    for _ in range(repeat):
        seconds = dict.fromkeys(spent, 0.0)

        def timed_kernel(*args: Any, seconds: dict[str, float] = seconds) -> Any:
            start = time.perf_counter()
            try:
                return kernel(*args)
            finally:
                seconds["kernel"] += time.perf_counter() - start

        _signals.run_signals = timed_kernel
        engine_module = sys.modules["backtestkit._engine"]
        engine_module.run_signals = timed_kernel
        try:
            with sharing(True):
                for params in combinations:
                    start = time.perf_counter()
                    engine.initialised(params)
                    seconds["init"] += time.perf_counter() - start
                    start = time.perf_counter()
                    engine.numbers(params)
                    seconds["stats"] += time.perf_counter() - start
        finally:
            _signals.run_signals = engine_module.run_signals = kernel
        seconds["stats"] -= seconds["init"] + seconds["kernel"]
        for phase, total in seconds.items():
            spent[phase].append(total / len(combinations))
    medians = {phase: statistics.median(values) for phase, values in spent.items()}
    return ("   one compiled run, by phase (medians per combination): "
            + " | ".join(f"{phase} {format_seconds(value)}" for phase, value in medians.items())
            + f" | total {format_seconds(sum(medians.values()))}")


# --- 2. one long run -----------------------------------------------------------------------------

def long_run(libraries: dict[str, Library], sizes: Sizes, repeat: int) -> float | None:
    """Section 2; returns oracle median / ours median, or None if the libraries disagree. Trades still
    open at the end are left out, as in bench_engine: the libraries close them at different prices
    (doc/differences.md, 2)."""
    data = synthetic_ohlcv(sizes.bars)
    tests = {name: lib.package.Backtest(data, signal_cross_strategy(lib)) for name, lib in libraries.items()}
    runs = {name: bt.run for name, bt in tests.items()}
    print(f"2. SmaCross with signals, one run on {sizes.bars:,} synthetic 1-minute bars")
    found = {name: outcome(run()) for name, run in runs.items()}
    if not check(f"the same trades and final equity: {found[OURS][0]:,} trades, {found[OURS][1]:,.2f}",
                 same_outcome(found[ORACLE], found[OURS])):
        return None
    timings = time_alternating(runs, repeat)
    oracle, ours = timings[ORACLE].median, timings[OURS].median
    rows = [[name, format_seconds(t.median), format_seconds(t.min)] for name, t in timings.items()]
    print(format_table(["library", "median", "min"], rows))
    print(f"   speed-up {oracle / ours:.1f}x (oracle median / ours median)\n")
    return oracle / ours


def benchmark(sizes: Sizes, repeat: int, quick: bool) -> int:
    libraries = {name: load_library(name) for name in (ORACLE, OURS)}
    print("backtestkit compiled signals benchmark")
    print(environment_line(list(libraries.values())))
    print(f"Each timing: one warm-up, then {repeat} rounds alternating the runs\n")
    start = time.perf_counter()
    found = grid(libraries[OURS], sizes, repeat)
    speed_up = long_run(libraries, sizes, repeat)
    if found is None or speed_up is None:
        return 1
    ours, vectorbt = found
    verdicts = [
        ("1. signals grid, one core, metrics=[]: ours <= vectorbt's final values per combination",
         "not judged (vectorbt not installed)" if vectorbt is None else
         f"{'PASS' if ours <= vectorbt else 'MISS'} ({format_seconds(ours)} vs {format_seconds(vectorbt)})"),
        (f"2. signals on {sizes.bars:,} bars: >= {SIGNALS_SPEED_UP:.0f}x the oracle",
         f"{'PASS' if speed_up >= SIGNALS_SPEED_UP else 'MISS'} ({speed_up:.1f}x)"),
    ]
    print("\n".join(f"{text}: {verdict}" for text, verdict in verdicts))
    if quick:
        print("(quick mode: too few bars and rounds to judge the targets; run without --quick)")
    print(f"(whole benchmark: {time.perf_counter() - start:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=positive_int, default=None,
                        help=f"timed rounds (default {FULL.repeat}, {QUICK.repeat} with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, for tests")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    return benchmark(sizes, args.repeat or sizes.repeat, args.quick)


if __name__ == "__main__":
    sys.exit(main())
