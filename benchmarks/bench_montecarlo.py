"""Cost of ``backtestkit.validation.monte_carlo``: trade paths per second, and the candle method's
overhead over the backtests it runs, in one process and on both cores.

Prints medians over ``--repeat`` rounds:
1. ``shuffle`` and ``bootstrap`` of a run's trades (hourly SmaCross, fixed sizes): paths per second;
2. ``candles``, ``--paths`` paths with ``n_jobs=1``, against the same number of plain ``bt.run()`` calls
   on the original data: the ratio is what resampling the bars and collecting the paths add (target
   <= 1.2x);
3. the same ``candles`` call with ``n_jobs=2``: the speed-up from the second core (worker start-up
   included, so it grows with ``--paths``);
and checks (✓/✗) that the candle paths are identical for ``n_jobs=1`` and ``n_jobs=2``.

Run: python benchmarks/bench_montecarlo.py [--repeat 3] [--paths 40] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_hourly
from backtestkit.lib import crossover
from backtestkit.validation import monte_carlo


class SmaCross(Strategy):
    n1, n2 = 20, 60

    def init(self):
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda c, n: c.rolling(n).mean(), close, self.n1)
        self.slow = self.I(lambda c, n: c.rolling(n).mean(), close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(size=100)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell(size=100)


def median_time(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--paths", type=int, default=40, help="candle paths per timed call")
    parser.add_argument("--trade-paths", type=int, default=100_000, help="paths per timed trade call")
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, targets not judged")
    args = parser.parse_args()
    bars = 2_000 if args.quick else 10_000
    paths, trade_paths = (6, 5_000) if args.quick else (args.paths, args.trade_paths)
    repeat = 1 if args.quick else args.repeat
    warnings.simplefilter("ignore")
    bt = Backtest(load_hourly().iloc[:bars], SmaCross, cash=1_000_000, finalize_trades=True)
    stats = bt.run()
    print(f"SmaCross on {bars:,} hourly bars: {stats['# Trades']} trades; {repeat} round(s) each\n")

    for method in ("shuffle", "bootstrap"):
        seconds = median_time(lambda m=method: monte_carlo(bt, stats, n=trade_paths, method=m, compound=False,
                                                           random_state=0, show_progress=False), repeat)
        print(f"{method:>9}: {trade_paths:,} paths in {seconds:.3f} s ({trade_paths / seconds:,.0f} paths/s)")

    runs = median_time(lambda: [bt.run() for _ in range(paths)], repeat)
    options = {"n": paths, "method": "candles", "random_state": 0, "show_progress": False}
    one = median_time(lambda: monte_carlo(bt, stats, n_jobs=1, **options), repeat)
    two = median_time(lambda: monte_carlo(bt, stats, n_jobs=2, **options), repeat)
    print(f"\n{paths} plain bt.run() calls:      {runs:.3f} s")
    print(f"candles, {paths} paths, n_jobs=1: {one:.3f} s  (overhead over the runs: {one / runs:.2f}x)")
    print(f"candles, {paths} paths, n_jobs=2: {two:.3f} s  (speed-up from the second core: {one / two:.2f}x)")

    same = np.array_equal(monte_carlo(bt, stats, n_jobs=1, **options).equity,
                          monte_carlo(bt, stats, n_jobs=2, **options).equity)
    print(f"\n{'✓' if same else '✗'} candle paths identical for n_jobs=1 and n_jobs=2")
    if not args.quick:
        print(f"{'PASS' if one / runs <= 1.2 else 'MISS'}: candles overhead over plain runs <= 1.2x")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
