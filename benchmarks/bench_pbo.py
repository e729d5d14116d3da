"""Time of ``backtestkit.validation.pbo`` (CSCV) on 1,000 trials x 2,500 bars with S=16.

Target: under 5 s (median). There is no peer library to compare with; the script also checks the
result against a plain per-split loop on a small matrix, so that a fast wrong answer cannot pass.

Run: python benchmarks/bench_pbo.py [--repeat 3] [--trials 1000] [--bars 2500] [--splits 16] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from itertools import combinations

import numpy as np

from backtestkit.validation import pbo

TARGET_SECONDS = 5.0


def check_against_a_loop() -> bool:
    """pbo's logits equal a per-split loop's on 300 bars x 12 trials, S=6."""
    values = np.random.default_rng(1).normal(0.0002, 0.01, size=(300, 12))
    blocks = values.reshape(6, 50, 12)
    expected = []
    for chosen in combinations(range(6), 3):
        inside = blocks[list(chosen)].reshape(-1, 12)
        outside = blocks[[b for b in range(6) if b not in chosen]].reshape(-1, 12)
        best = np.argmax(inside.mean(0) / inside.std(0, ddof=1))
        oos = outside.mean(0) / outside.std(0, ddof=1)
        rank = (oos < oos[best]).sum() + 1
        expected.append(np.log(rank / (13 - rank)))
    return bool(np.allclose(pbo(values, n_splits=6).logits, expected))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--bars", type=int, default=2500)
    parser.add_argument("--splits", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="smoke mode: 100 trials x 500 bars, S=8")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.bars, args.splits, args.repeat = 100, 500, 8, 1
    print(f"numpy {np.__version__}; CPUs usable: {len(os.sched_getaffinity(0))}; "
          f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = check_against_a_loop()
    print(f"  {'✓' if ok else '✗'} logits equal a per-split loop's (300 bars x 12 trials, S=6)")
    if not ok:
        return 1
    returns = np.random.default_rng(0).normal(0, 0.01, size=(args.bars, args.trials))
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = pbo(returns, n_splits=args.splits)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"pbo: {args.trials:,} trials x {args.bars:,} bars, S={args.splits} "
          f"({len(result.logits):,} splits): median {median:.2f} s, min {min(times):.2f} s over "
          f"{args.repeat} rounds; PBO of noise "
          f"{result.pbo:.3f}")
    if not args.quick:
        verdict = "PASS" if median < TARGET_SECONDS else "MISS"
        print(f"{verdict}: pbo under {TARGET_SECONDS:g} s (median {median:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
