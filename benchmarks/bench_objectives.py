"""What a fitness expression or a result constraint costs per run, beside the same rule as a lambda and
beside the backtest it scores.

    python benchmarks/bench_objectives.py            # the full run (~10 s)
    python benchmarks/bench_objectives.py --quick    # smoke mode: few calls, for tests

Each rule is called on one real run's stats (``Engine.numbers``: the dict an optimiser run produces)
``--calls`` times, in ``--repeat`` rounds alternating the expression and the lambda; the table shows the
median time a call and the ratio expression / lambda. Target: an expression costs < 10 µs a call and
< 1% of the run it scores (SmaCross on the bundled daily data, a few ms).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import (  # noqa: I001 -- _common first: it silences progress bars before tqdm loads
    OURS,
    environment_line,
    format_table,
    load_library,
    sma_cross_strategy,
)

from backtestkit._objective import NUMERIC_KEYS, _StatsKey
from backtestkit.optimize import Expression

RULES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("a stats key", "SQN", lambda s: s["SQN"]),
    ("the issue's fitness", "Sharpe Ratio * min(1, `# Trades` / 100)",
     lambda s: s["Sharpe Ratio"] * min(1, s["# Trades"] / 100)),
    ("a constraint", "Max. Drawdown [%] > -25", lambda s: s["Max. Drawdown [%]"] > -25),
    ("a branchy formula", "if(# Trades >= 30, clamp(Return [%] / abs(Max. Drawdown [%]), -5, 5), -inf)",
     lambda s: max(min(s["Return [%]"] / abs(s["Max. Drawdown [%]"]), 5), -5) if s["# Trades"] >= 30
     else -float("inf")),
]


def per_call(function: Callable[[Any], Any], stats: Any, calls: int) -> float:
    """Seconds a call of ``function(stats)``, over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        function(stats)
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="few calls, one round (smoke mode)")
    args = parser.parse_args()
    calls, repeat = (200, 1) if args.quick else (args.calls, args.repeat)

    library = load_library(OURS)
    print(environment_line([library]))
    from backtestkit.datasets import load_daily

    data = load_daily()
    bt = library.package.Backtest(data, sma_cross_strategy(library))
    engine, params = bt._engine, {"n1": 10, "n2": 30}
    stats = engine.numbers(params)
    runs = [per_call(engine.numbers, params, 1) for _ in range(3 if args.quick else 9)]
    run = statistics.median(runs)

    rows, verdicts = [], []
    for label, text, function in RULES:
        expression = Expression(text, NUMERIC_KEYS)
        if expression(stats) != function(stats):
            raise SystemExit(f"{text!r}: the expression gives {expression(stats)}, "
                             f"the lambda {function(stats)}")
        ours, theirs = [], []
        for _ in range(repeat):  # alternate, so that a slow spell of the machine hits both
            ours.append(per_call(expression, stats, calls))
            theirs.append(per_call(function, stats, calls))
        if text in NUMERIC_KEYS:
            plain = per_call(_StatsKey(text), stats, calls)
            rows.append([f"{label}: plain key", f"{1e6 * plain:.2f}", "", "", ""])
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        rows.append([f"{label}: expression", f"{1e6 * ours_s:.2f}", f"{1e6 * theirs_s:.2f}",
                     f"{ours_s / theirs_s:.1f}x", f"{100 * ours_s / run:.3f}%"])
        verdicts.append(ours_s < 10e-6 and ours_s < 0.01 * run)
    print(f"one optimiser run (SmaCross, {len(data):,} daily bars): {1000 * run:.2f} ms; "
          f"{calls:,} calls x {repeat} rounds")
    print(format_table(["rule", "µs a call", "lambda µs", "expr/lambda", "of a run"], rows))
    if args.quick:
        print("quick mode: targets not judged")
    else:
        print(f"{'PASS' if all(verdicts) else 'MISS'}: every expression < 10 µs a call and < 1% of a run")


if __name__ == "__main__":
    main()
