"""Every script in examples/ runs as a user would run it: in its own process, in an empty directory.

Each must exit 0, write the files it promises, print what shows it worked, and emit no warning
(Python's default warning filters, as a user gets them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 120  # seconds; a safety net against a hung worker, not a speed check

# script -> (files it writes into the current directory, a line fragment its output must contain)
EXPECTED = {
    "quickstart.py": (
        ["quickstart_heatmaps.html", "quickstart_report.html", "quickstart_report.trials.csv"],
        "Optimisation report written",
    ),
    "sma_crossover_grid.py": (
        ["sma_crossover_heatmaps.html", "sma_crossover_best.html"],
        "150 of 180 combinations run",
    ),
    "skopt_search.py": ([], "after 120 runs"),
    "multi_indicator_sl_tp.py": (["multi_indicator.html"], "Trades by tag and by how they ended"),
    "intraday_margin.py": (["intraday_margin.html"], "all closed on the day they opened: True"),
    "distributed_dask.py": ([], "same best run and heatmap: True"),
    "resume_a_search.py": (["sma_study.db", "sma_study.db.lock"], "trials in sma_study.db"),
    "overfitting.py": (["overfitting_best.html", "overfitting_report.html", "overfitting_report.trials.csv"],
                       "PBO "),
    "monte_carlo.py": (["monte_carlo.html", "monte_carlo_fan.html"], "Lookahead caught: Tomorrow"),
    "pareto_and_robust.py": (["pareto_best.html", "pareto_report.html", "pareto_report.trials.csv"],
                             "on the Pareto front"),
    "walk_forward.py": (["holdout.html", "walk_forward.html", "walk_forward_run.html"],
                        "Reports written: holdout.html, walk_forward.html, walk_forward_run.html"),
    "compare_methods.py": ([], "compared on the same"),
    "signal_strategy_grid.py": ([], "compiled and bar-by-bar results equal: True"),
}


def run_example(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_every_example_is_tested():
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_is_in_percent_format(name):
    """Cells marked with '# %%' let Jupyter (with jupytext) and editors open the script as a notebook."""
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    assert source.startswith("# %% [markdown]\n# # ")  # a title cell first
    assert len(re.findall(r"^\s*# %%", source, flags=re.MULTILINE)) >= 3
    assert "open_browser=False" in source or ".html" not in source


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, tmp_path):
    files, fragment = EXPECTED[name]
    done = run_example(name, tmp_path)
    assert done.returncode == 0, done.stderr
    assert fragment in done.stdout
    assert not re.search(r"Warning|Traceback", done.stderr), done.stderr
    lines = done.stdout.splitlines()
    blocks = [i for i, line in enumerate(lines) if re.match(r"Start\s{2,}", line)]  # a printed stats Series
    headed = all(i > 0 and lines[i - 1].rstrip().endswith(":") for i in blocks)
    assert headed, "a stats block without a heading"
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(files)
    for file in (file for file in files if file.endswith(".html")):  # a report's trials are CSV
        html = (tmp_path / file).read_text(encoding="utf-8")
        assert html.lstrip().lower().startswith("<!doctype html>") and "Bokeh" in html
