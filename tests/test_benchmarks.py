"""The benchmark scripts run (in their quick mode) and find what they compare agreeing; no timing is
asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

# script -> (its arguments, the ✓ lines it prints (each must be a ✓, none a ✗), texts its output holds)
SCRIPTS = {
    "bench_engine.py": (["--quick"], 3, ["speed-up"]),
    "bench_optimize.py": (["--quick"], 5, []),
    "bench_studies.py": (["--quick"], None, ["record and save, per trial", "with a study file"]),
    "bench_skopt.py": ([], None, ["overhead outside the objective"]),
    "bench_pbo.py": (["--quick"], None, ["✓ logits equal a per-split loop's", "PBO of noise"]),
    "bench_montecarlo.py": (["--quick"], None, ["✓ candle paths identical for n_jobs=1 and n_jobs=2",
                                                "paths/s", "overhead over the runs"]),
    "bench_objectives.py": (["--quick"], None, ["the issue's fitness: expression", "expr/lambda"]),
    "bench_pareto.py": (["--quick"], None, ["on the front", "vs one by one"]),
    "bench_validation.py": (["--quick"], 2, ["walk_forward / by hand"]),
    "bench_methods.py": (["--quick"], None, ["genetic", "euler", "random", "skopt", "overhead/eval"]),
    "bench_signals.py": (["--quick"], 4, ["by phase", "kernel", "speed-up"]),
}


def test_every_benchmark_is_run_here():
    assert sorted(SCRIPTS) == sorted(path.name for path in BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_and_its_checks_pass(script):
    args, n_checks, texts = SCRIPTS[script]
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checks = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith(("✓", "✗"))]
    assert not any(line.startswith("✗") for line in checks), result.stdout
    if n_checks is not None:
        assert len(checks) == n_checks, result.stdout
    assert all(text in result.stdout for text in texts), result.stdout
