"""What keeping every trial costs: recording and saving per trial, loading a 100k-trial study, its file
size, and a grid search's throughput with a study file against the same search without one.

    python benchmarks/bench_studies.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench_studies.py --quick    # smoke mode: tiny sizes, for tests

Targets: recording and saving <= 0.2 ms a trial (a trial's backtest is ~2-5 ms); a 100k-trial study
loads into its DataFrame in < 1 s from a file of < 50 MB; a grid search with a study file runs within
5% of the same search without one (medians of alternating runs, both cores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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

from backtestkit._objective import NUMERIC_KEYS
from backtestkit.optimize import Outcome, Study, load_study
from backtestkit.optimize._store import Store


@dataclass(frozen=True)
class Sizes:
    trials: int  # trials in the stored study that is loaded back
    batch: int  # trials a batch, as the driver saves them
    bars: int  # bars of the grid search's data
    grid: tuple[range, range]  # n1, n2 of the grid search
    repeat: int


FULL = Sizes(trials=100_000, batch=100, bars=2_000, grid=(range(5, 60, 3), range(10, 150, 7)), repeat=5)
QUICK = Sizes(trials=2_000, batch=100, bars=300, grid=(range(5, 20, 5), range(10, 40, 10)), repeat=1)


def fake_outcomes(n: int, rng: np.random.Generator) -> list[Outcome]:
    """Outcomes shaped like a backtest's: a value, every numeric stats key, a duration."""
    metrics = rng.normal(size=(n, len(NUMERIC_KEYS)))
    return [Outcome("ok", float(metrics[i, 0]), metrics[i], 0.004) for i in range(n)]


def record_and_save(folder: Path, sizes: Sizes) -> tuple[float, float, float, float]:
    """Writes a study of ``sizes.trials`` trials batch by batch, as the driver does; returns the time a
    trial to record and save, the file's size in MB, and the time to load it and build its table."""
    rng = np.random.default_rng(0)
    names = ["n1", "n2", "n3"]
    path = folder / "big.db"
    study = Study(param_names=names, metric_names=NUMERIC_KEYS, objective="SQN",
                  decode=lambda key: dict(zip(names, key, strict=True)))
    outcomes = fake_outcomes(sizes.batch, rng)
    with Store(path) as store:
        info = {"space": {name: list(range(100)) for name in names}, "objective": "SQN", "maximize": True,
                "metrics": NUMERIC_KEYS}
        study_id = store.create("big", info)
        store.lock(study_id, "big")
        started = time.perf_counter()
        for start in range(0, sizes.trials, sizes.batch):
            keys = [(k // 10_000, k // 100 % 100, k % 100) for k in range(start, start + sizes.batch)]
            params = [study._decode(key) for key in keys]
            numbers = study._record(keys, outcomes, params)
            store.append(study_id, numbers, keys, params, outcomes)
        per_trial = (time.perf_counter() - started) / sizes.trials
    megabytes = path.stat().st_size / 1e6
    started = time.perf_counter()
    frame = load_study(path).trials_dataframe()
    load_seconds = time.perf_counter() - started
    assert len(frame) == sizes.trials
    return per_trial, megabytes, load_seconds, frame.memory_usage(deep=True).sum() / 2**20


def grid_with_and_without_store(folder: Path, sizes: Sizes) -> dict[str, float]:
    """Median seconds of the same grid search without a study file and with one (a new file a run)."""
    library = load_library(OURS)
    backtest = library.package.Backtest(synthetic_ohlcv(sizes.bars), sma_cross_strategy(library),
                                        commission=0.002, finalize_trades=True)
    grid = {"n1": sizes.grid[0], "n2": sizes.grid[1], "constraint": lambda p: p.n1 < p.n2,
            "maximize": "Equity Final [$]", "show_progress": False}
    runs = iter(range(10**6))
    calls = {"without a study": lambda: backtest.optimize(**grid),
             "with a study file": lambda: backtest.optimize(**grid, study=folder / f"g{next(runs)}.db")}
    for call in calls.values():  # warm-up: workers started, modules imported
        call()
    timings = time_alternating(calls, sizes.repeat)
    n = len(backtest.optimize(**grid, return_study=True)[1])
    print(f"2. Grid search: SmaCross on {sizes.bars:,} synthetic bars, {n} combinations, all cores, "
          f"{sizes.repeat} alternating runs each")
    rows = [[name, f"{t.median:.2f} s", f"{t.min:.2f} s", f"{t.median / n * 1000:.2f} ms"]
            for name, t in timings.items()]
    print(format_table(["search", "median", "min", "per combination"], rows))
    return {name: t.median for name, t in timings.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, for tests")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    print("backtestkit studies benchmark: the cost of keeping every trial")
    print(environment_line([load_library(OURS)]) + "\n")
    with tempfile.TemporaryDirectory() as folder:
        per_trial, megabytes, load_seconds, frame_mib = record_and_save(Path(folder), sizes)
        print(f"1. A study of {sizes.trials:,} trials, {len(NUMERIC_KEYS)} stats each, saved in batches of "
              f"{sizes.batch} (one transaction each)")
        print(format_table(["measure", "value", "target"], [
            ["record and save, per trial", f"{per_trial * 1000:.3f} ms", "<= 0.2 ms"],
            ["file size", f"{megabytes:.1f} MB", "< 50 MB (100k trials)"],
            ["load_study + trials_dataframe()", f"{load_seconds:.2f} s", "< 1 s (100k trials)"],
            ["the DataFrame in memory", f"{frame_mib:.1f} MiB", ""],
        ]) + "\n")
        medians = grid_with_and_without_store(Path(folder), sizes)
    ratio = medians["with a study file"] / medians["without a study"]
    print(f"   with a study file / without: {ratio:.3f} (target <= 1.05)")
    checks = [("recording and saving <= 0.2 ms a trial", per_trial <= 2e-4),
              ("a 100k-trial study loads in < 1 s", args.quick or load_seconds < 1.0),
              ("its file is < 50 MB", args.quick or megabytes < 50),
              ("grid with a study within 5% of without", args.quick or ratio <= 1.05)]
    print()
    for label, ok in checks:
        print(f"  {'✓' if ok else '✗'} {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
