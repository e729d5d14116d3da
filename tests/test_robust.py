"""MultiBacktest.optimize(aggregate=...): one study that scores each parameter set on every data set,
checked against separate searches on each data set."""

from __future__ import annotations

import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from backtestkit.datasets import load_daily
from backtestkit.lib import MultiBacktest
from backtestkit.optimize import load_study
from tests.test_chart import SmaCross

cloudpickle.register_pickle_by_value(sys.modules[__name__])
DATA = load_daily()
# three periods of the daily data: the strategy's scores differ between them
PERIODS = [DATA.iloc[:800], DATA.iloc[800:1600], DATA.iloc[1600:]]
GRID = dict(n1=[5, 10, 20], n2=[20, 40, 60], constraint=lambda p: p.n1 < p.n2, show_progress=False, n_jobs=1)


@pytest.fixture(scope="module")
def multi():
    return MultiBacktest(PERIODS, SmaCross, finalize_trades=True)


@pytest.fixture(scope="module")
def separate(multi):
    """The Sharpe Ratio of every combination on each period, from one search per period (the old way)."""
    return multi.optimize(**GRID, maximize="Sharpe Ratio")


@pytest.mark.parametrize("aggregate, reduce", [
    ("min", lambda frame: frame.min(axis=1)),
    ("mean", lambda frame: frame.mean(axis=1)),
    ("median", lambda frame: frame.median(axis=1)),
    ("max", lambda frame: frame.max(axis=1)),
    (lambda scores: scores[0] - scores[2], lambda frame: frame[0] - frame[2]),
])
def test_each_trial_scores_the_data_sets_reduced(multi, separate, aggregate, reduce):
    stats, heatmap, study = multi.optimize(**GRID, maximize="Sharpe Ratio", aggregate=aggregate,
                                           return_heatmap=True, return_study=True)
    expected = reduce(separate)
    pd.testing.assert_series_equal(heatmap, expected, check_names=False)
    best = expected.idxmax()
    assert study.best_params == dict(zip(["n1", "n2"], best, strict=True))
    assert study.best_value == expected.max()
    # the result is MultiBacktest.run's frame for the best parameter set
    pd.testing.assert_frame_equal(stats, multi.run(n1=best[0], n2=best[1]))


def test_a_trial_keeps_every_data_sets_stats_and_each_key_reduced(multi, separate):
    _, study = multi.optimize(**GRID, maximize="Sharpe Ratio", aggregate="min", return_study=True)
    frame = study.trials_dataframe().set_index(["n1", "n2"])
    for i in range(3):
        pd.testing.assert_series_equal(frame[f"Sharpe Ratio[{i}]"], separate[i], check_names=False)
    trades = frame[[f"# Trades[{i}]" for i in range(3)]]
    assert (frame["# Trades"] == trades.min(axis=1)).all()
    assert "aggregate" in study.info and len(study.info["datasets"]) == 3


def test_a_callable_objective_keeps_its_value_per_data_set(multi):
    def per_trade(stats):
        return stats["Return [%]"] / stats["# Trades"]

    _, study = multi.optimize(**GRID, maximize=per_trade, aggregate="mean", return_study=True)
    frame = study.trials_dataframe()
    per_set = frame[[f"per_trade[{i}]" for i in range(3)]]
    assert np.allclose(frame["value"], per_set.mean(axis=1))
    assert np.allclose(per_set.iloc[:, 0], frame["Return [%][0]"] / frame["# Trades[0]"])


def test_no_trade_on_one_data_set_ranks_the_parameter_set_last(multi):
    # the last period is cut to 50 bars: an n2 = 60 average never forms there, so no trade
    short = MultiBacktest([PERIODS[0], PERIODS[1].iloc[:50]], SmaCross, finalize_trades=True)
    _, study = short.optimize(**GRID, maximize="Sharpe Ratio", aggregate="min", return_study=True)
    frame = study.trials_dataframe()
    assert (frame.loc[frame["n2"] == 60, "state"] == "no_trades").all()
    assert frame.loc[frame["n2"] == 60, "value"].isna().all()
    assert study.best_params["n2"] != 60


def test_results_do_not_depend_on_the_workers(multi):
    search = {**GRID, "maximize": "Sharpe Ratio", "aggregate": "median", "return_heatmap": True}
    _, one = multi.optimize(**search)
    _, two = multi.optimize(**{**search, "n_jobs": 2})
    pd.testing.assert_series_equal(one, two)


def test_the_study_is_stored_resumed_and_reported(multi, tmp_path):
    path = tmp_path / "runs.db"
    search = {**GRID, "maximize": "Sharpe Ratio", "aggregate": "min", "study": path}
    multi.optimize(**search, report=tmp_path / "robust.html")
    assert (tmp_path / "robust.html").exists()
    stored = load_study(path)
    assert stored.info["aggregate"] == "min" and "Sharpe Ratio[2]" in stored.metric_names
    with pytest.raises(ValueError, match=r"What changed: .*aggregate"):
        multi.optimize(**{**search, "aggregate": "mean"})


def test_without_aggregate_each_data_set_has_its_own_study(multi, separate):
    assert list(separate.columns) == [0, 1, 2]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"aggregate": "worst"}, ValueError,
     "The 'aggregate' parameter of MultiBacktest.optimize must be 'min', 'mean', 'median', 'max', a "
     "function of an array of scores or None. Got 'worst' instead."),
    ({"aggregate": 3}, TypeError, "The 'aggregate' parameter of MultiBacktest.optimize must be"),
    ({"aggregate": "min", "maximize": ["Return [%]", "SQN"]}, ValueError,
     "MultiBacktest.optimize with 'aggregate' takes one objective, not a list"),
    ({"aggregate": lambda scores: "x"}, TypeError,
     "The 'aggregate' function of MultiBacktest.optimize must return a real number"),
])
def test_bad_aggregates_are_refused(multi, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        multi.optimize(**GRID, **kwargs)


def test_a_dry_run_estimates_the_robust_search_or_each_data_sets(multi):
    together = multi.optimize(**GRID, aggregate="min", dry_run=True)
    # n1 < n2 admits 8 of the 9 combinations; each timed run runs the 3 data sets
    assert (together.n_admissible, together.n_evaluations, together.n_timed) == (8, 8, 3)
    apart = multi.optimize(**GRID, dry_run=True)
    assert [e.n_evaluations for e in apart] == [8, 8, 8]
