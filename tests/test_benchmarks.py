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


def test_pbo_benchmark_runs_and_agrees_with_a_loop():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_pbo.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "✓ logits equal a per-split loop's" in result.stdout and "PBO of noise" in result.stdout


def test_monte_carlo_benchmark_runs_and_paths_do_not_depend_on_n_jobs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_montecarlo.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "✓ candle paths identical for n_jobs=1 and n_jobs=2" in result.stdout
    assert "paths/s" in result.stdout and "overhead over the runs" in result.stdout


def test_objectives_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_objectives.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "the issue's fitness: expression" in result.stdout and "expr/lambda" in result.stdout


def test_pareto_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_pareto.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "on the front" in result.stdout and "vs one by one" in result.stdout


def test_validation_benchmark_runs_and_both_ways_agree():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_validation.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    checks = [line for line in result.stdout.splitlines() if line.strip().startswith(("✓", "✗"))]
    assert len(checks) == 2 and all(line.strip().startswith("✓") for line in checks), result.stdout
    assert "walk_forward / by hand" in result.stdout


def test_methods_benchmark_runs():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_methods.py"), "--quick"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(name in result.stdout for name in ("genetic", "euler", "random", "skopt", "overhead/eval"))
