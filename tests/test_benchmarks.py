"""The benchmark scripts run (in their quick mode) and find both libraries agreeing; no timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_engine_benchmark_runs_and_both_libraries_agree():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_engine.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checks = [line for line in result.stdout.splitlines() if line.strip().startswith(("✓", "✗"))]
    assert len(checks) == 3 and all(line.strip().startswith("✓") for line in checks), result.stdout
    assert "speed-up" in result.stdout


def test_optimiser_benchmark_runs_and_both_libraries_agree():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_optimize.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checks = [line for line in result.stdout.splitlines() if line.strip().startswith(("✓", "✗"))]
    assert len(checks) == 5 and all(line.strip().startswith("✓") for line in checks), result.stdout


def test_studies_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_studies.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "record and save, per trial" in result.stdout and "with a study file" in result.stdout


def test_skopt_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_skopt.py")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "overhead outside the objective" in result.stdout


def test_methods_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_methods.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(name in result.stdout for name in ("genetic", "euler", "random", "skopt", "overhead/eval"))
