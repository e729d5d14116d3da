"""A study's report, from its trials: the cells' states, the sensitivity curves, the trials' CSV, the
settings and the best run's stats, and the whole page in a browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.optimize import Outcome, Study, run_search
from backtestkit.optimize._report import cell_states, sensitivity
from tests.test_chart import SmaCross


def score(p: dict) -> Outcome:
    """-(a - 2)^2 - b; a = 0 makes no trade."""
    if p["a"] == 0:
        return Outcome("no_trades", np.nan, np.array([0.0]), 0.0)
    return Outcome("ok", -((p["a"] - 2) ** 2) - p["b"], np.array([float(p["a"])]), 0.0)


def search(**options) -> Study:
    # a in 0..3, b in 0..3; the constraint a >= b leaves 10 of the 16 combinations
    return run_search(
        score,
        {"a": range(4), "b": range(4)},
        known_params=["a", "b"],
        n_jobs=1,
        show_progress=False,
        constraint=lambda p: p.a >= p.b,
        metric_names=["# Trades"],
        objective_name="score",
        **options,
    )


def test_a_complete_full_grid_prunes_what_it_did_not_run() -> None:
    cells = cell_states(search())
    assert len(cells) == 16
    assert cells.value_counts().to_dict() == {"ok": 9, "pruned": 6, "no_trades": 1}  # (0, 0): no trade
    assert set(cells[[(a, b) for a in range(4) for b in range(4) if a < b]]) == {"pruned"}


def test_a_sampled_or_unfinished_search_did_not_evaluate_the_rest() -> None:
    sampled = cell_states(search(max_tries=5, random_state=0))
    assert (sampled != "not_evaluated").sum() == 5 and "pruned" not in set(sampled)
    study = search()
    study.info["state"] = "interrupted"  # as a Ctrl-C leaves it: what did not run may be admissible
    assert "pruned" not in set(cell_states(study))


def test_no_cell_states_for_a_space_that_is_not_a_grid() -> None:
    study = search()
    study.info["space"]["b"] = "Integer(low=0, high=3)"  # a scikit-optimize dimension, as stored
    assert cell_states(study) is None


def test_sensitivity_holds_the_other_parameters_at_the_best() -> None:
    study = search()  # best: a = 2, b = 0 (score 0)
    curves = sensitivity(study, study.top(len(study)))
    # a varies with b = 0: a = 0 made no trade, then -(1)^2, 0, -(1)^2
    np.testing.assert_array_equal(curves["a"].to_numpy(), [np.nan, -1.0, 0.0, -1.0])
    # b varies with a = 2: the constraint a >= b allows b = 0, 1, 2
    assert curves["b"].to_dict() == {0: 0.0, 1: -1.0, 2: -2.0}


def test_the_report_writes_the_trials_beside_it_and_links_them(tmp_path: Path) -> None:
    study = search(storage=tmp_path / "runs.db", study_name="toy")
    page = study.write_report(tmp_path / "toy.html")
    html = page.read_text(encoding="utf-8")
    csv = pd.read_csv(tmp_path / "toy.trials.csv")
    assert len(csv) == 10 and list(csv.columns[:4]) == ["number", "a", "b", "value"]
    assert "href='toy.trials.csv'" in html.replace('\\"', "'").replace("&#x27;", "'")
    assert "Hatched cells were pruned by the constraint" in html
    assert "No chart: drawing the best run needs" in html


def test_a_study_without_a_finished_trial_has_nothing_to_report(tmp_path: Path) -> None:
    study = Study(param_names=["a"], name="empty")
    with pytest.raises(
        ValueError, match="^The study 'empty' has no finished trial yet: there is nothing to report.$"
    ):
        study.write_report(tmp_path / "x.html")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def backtest_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report Backtest.optimize writes: a full grid (n1 < n2 prunes 4 of 12), the best run's trades."""
    path = tmp_path_factory.mktemp("study-report") / "opt.html"
    bt = Backtest(load_daily(), SmaCross, cash=25_000, commission=0.001, finalize_trades=True)
    bt.optimize(
        n1=[10, 20, 40],
        n2=[20, 40, 60, 80],
        constraint=lambda p: p.n1 < p.n2,
        maximize="Sharpe Ratio",
        n_jobs=1,
        show_progress=False,
        report=path,
        study=path.with_name("runs.db"),
    )
    return path


def test_the_report_shows_the_backtest_the_data_and_the_best_run(backtest_page: Path) -> None:
    html = backtest_page.read_text(encoding="utf-8")
    for shown in (
        "Backtest",
        "25,000.00",
        "finalize_trades",
        "fingerprint",
        "2015-01-02",
        "started",
        "Sensitivity",
        "Distribution of Sharpe Ratio",
        "Equity Final [$]",
        "EntryPrice",
        "opt.trials.csv",
    ):
        assert shown in html, shown


def test_the_report_renders_in_a_browser(browser, backtest_page: Path) -> None:
    page = browser.render(backtest_page, name="report-study")
    # heatmap, 2 sensitivity plots, histogram, and the chart's equity, P/L, price and volume panels
    assert page.canvases >= 8, f"only {page.canvases} canvases drew; see {page.screenshot}"
    assert page.errors == [] and page.outside_requests == [], (page.errors, page.outside_requests)
