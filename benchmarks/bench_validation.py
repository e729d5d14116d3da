"""What walk-forward adds to its searches: a walk-forward of a ~900-combination grid over 10 windows on
the bundled hourly data, against the same searches and test runs written one after another by hand.

    python benchmarks/bench_validation.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_validation.py --quick    # smoke mode: tiny sizes, for tests

Target: walk_forward within 1.2x of the hand-written loop (medians of alternating runs, all cores).
Both give the same chosen parameters (checked before timing).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from _common import (  # noqa: I001 -- _common first: it silences progress bars before tqdm loads
    OURS,
    environment_line,
    format_table,
    load_library,
    sma_cross_strategy,
    time_alternating,
)

from backtestkit.datasets import load_hourly
from backtestkit.validation import walk_forward, walk_forward_windows


@dataclass(frozen=True)
class Sizes:
    bars: int  # of the hourly data
    train: int  # bars a training window
    test: int  # bars a test window
    grid: tuple[range, range]  # n1, n2
    repeat: int


FULL = Sizes(bars=10_000, train=2_000, test=800, grid=(range(5, 35), range(40, 160, 4)), repeat=3)
QUICK = Sizes(bars=1_200, train=400, test=200, grid=(range(5, 8), range(20, 26, 2)), repeat=1)


def by_hand(bt, windows, grid):
    """The same searches and test runs, one after another, as a user would write them."""
    chosen, cash = [], bt._engine.cash
    for window in windows:
        stats = bt.window(window.train_start, window.train_stop).optimize(**grid)
        params = {"n1": stats._strategy.n1, "n2": stats._strategy.n2}
        test = bt.window(window.test_start, window.test_stop)
        test._engine.cash = cash
        cash = test.run(**params)["Equity Final [$]"]
        chosen.append(params)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, for tests")
    parser.add_argument("--repeat", type=int, default=None, help="alternating timed runs of each")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    repeat = args.repeat or sizes.repeat
    library = load_library(OURS)
    print("backtestkit validation benchmark: walk-forward against the same searches by hand")
    print(environment_line([library]) + "\n")
    bt = library.package.Backtest(load_hourly().iloc[:sizes.bars], sma_cross_strategy(library),
                                  commission=0.0002)
    grid = {"n1": sizes.grid[0], "n2": sizes.grid[1], "maximize": "Equity Final [$]", "show_progress": False}
    windows = walk_forward_windows(bt._data.index, sizes.train, sizes.test)
    n_grid = len(sizes.grid[0]) * len(sizes.grid[1])
    ours = walk_forward(bt, train=sizes.train, test=sizes.test, **grid)  # also the warm-up
    same = ours.params == by_hand(bt, windows, grid)
    print(f"  {'✓' if same else '✗'} both choose the same parameters in every window")
    if not same:
        return 1
    calls = {"walk_forward": lambda: walk_forward(bt, train=sizes.train, test=sizes.test, **grid),
             "by hand": lambda: by_hand(bt, windows, grid)}
    timings = time_alternating(calls, repeat)
    print(f"\nWalk-forward: SmaCross on {sizes.bars:,} hourly bars, {len(windows)} windows of "
          f"{sizes.train:,} + {sizes.test:,} bars, {n_grid} combinations a window, all cores, {repeat} "
          f"alternating runs each")
    rows = [[name, f"{t.median:.2f} s", f"{t.min:.2f} s",
             f"{t.median / (n_grid * len(windows)) * 1000:.2f} ms"] for name, t in timings.items()]
    print(format_table(["run", "median", "min", "per combination"], rows))
    ratio = timings["walk_forward"].median / timings["by hand"].median
    print(f"   walk_forward / by hand: {ratio:.3f} (target <= 1.2)\n")
    ok = args.quick or ratio <= 1.2
    print(f"  {'✓' if ok else '✗'} walk_forward within 1.2x of the searches by hand")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
