"""Backtest.optimize(metrics=...): trials keep only the stats keys asked for (and those the objectives and
result constraints read), each run computes only those, and every kept value is the full run's to the bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest
from backtestkit._engine import Engine
from backtestkit._objective import NUMERIC_KEYS, Objective, _StatsKey
from backtestkit.lib import MultiBacktest
from backtestkit.optimize import StoreError
from tests.test_backtest import SmaCross
from tests.test_backtest_study import DATA, optimize


def same_columns(lean, full) -> None:
    """Every column of the lean study equals the full study's, trial by trial, to the bit."""
    lean_frame, full_frame = lean.trials_dataframe(), full.trials_dataframe()
    for column in ["value", "state", *lean.metric_names]:
        assert np.array_equal(lean_frame[column].to_numpy(), full_frame[column].to_numpy(),
                              equal_nan=lean_frame[column].dtype.kind == "f"), column


def test_a_lean_study_keeps_what_the_objective_and_constraints_read_to_the_bit():
    search = dict(maximize="Sharpe Ratio", constraints=["`Win Rate [%]` > 40"], return_heatmap=True,
                  return_study=True)
    stats, heatmap, full = optimize(**search)
    lean_stats, lean_heatmap, lean = optimize(**search, metrics=[])
    assert lean.metric_names == ["Sharpe Ratio", "# Trades", "Win Rate [%]"]  # in the stats' order
    assert set(lean.trials_dataframe()["state"]) == {"ok", "infeasible"}
    same_columns(lean, full)
    pd.testing.assert_series_equal(lean_heatmap, heatmap)
    pd.testing.assert_series_equal(lean_stats.drop(["_strategy", "_equity_curve", "_trades"]),
                                   stats.drop(["_strategy", "_equity_curve", "_trades"]))
    assert dict(lean.best_trial.metrics) == {key: full.best_trial.metrics[key] for key in lean.metric_names}


def test_a_stats_key_not_kept_is_said_so():
    _, lean = optimize(maximize="Sharpe Ratio", metrics=[], return_study=True)
    with pytest.raises(ValueError, match=r"Unknown column 'SQN' for Study.heatmap\. Known: .*'Sharpe Ratio'"
                                         r".*unless optimize\(metrics=\.\.\.\) named fewer"):
        lean.heatmap("SQN")


def test_keys_asked_for_are_kept_beside_a_callable_objectives():
    _, lean = optimize(maximize=lambda s: s["Return [%]"] / (1 + s["Exposure Time [%]"]), metrics=["SQN"],
                       return_study=True)
    _, full = optimize(maximize=lambda s: s["Return [%]"] / (1 + s["Exposure Time [%]"]), return_study=True)
    assert lean.metric_names == ["# Trades", "SQN"]
    same_columns(lean, full)


def test_several_objectives_keep_their_stats_columns():
    def steadiness(stats):
        return -stats["Volatility (Ann.) [%]"]

    search = dict(maximize=["Return [%]", steadiness], minimize=["Max. Drawdown [%]"], return_study=True)
    _, lean = optimize(**search, metrics="Calmar Ratio")
    _, full = optimize(**search)
    assert lean.metric_names == ["Return [%]", "Calmar Ratio", "Max. Drawdown [%]", "# Trades", "steadiness"]
    same_columns(lean, full)
    front = lean.pareto_front().drop(columns="duration")
    assert front.equals(full.pareto_front()[front.columns])


def test_a_run_computes_only_the_keys_it_keeps(monkeypatch):
    engine = Backtest(DATA, SmaCross, finalize_trades=True)._engine
    asked = []
    numbers = Engine.numbers
    monkeypatch.setattr(Engine, "numbers", lambda self, params, keys=None: asked.append(keys)
                        or numbers(self, params, keys))
    outcome = Objective(engine, _StatsKey("SQN"), names=["# Trades", "Profit Factor"])({"n1": 5, "n2": 20})
    assert asked == [frozenset({"SQN", "# Trades", "Profit Factor"})]
    full = engine.numbers({"n1": 5, "n2": 20})
    assert outcome.value == full["SQN"]
    assert outcome.metrics.tolist() == [full["# Trades"], full["Profit Factor"]]
    asked.clear()
    Objective(engine, _StatsKey("SQN"))({"n1": 5, "n2": 20})  # every key kept: all computed
    assert asked == [None]


def test_multibacktest_with_an_aggregate_keeps_the_lean_keys_per_data_set():
    multi = MultiBacktest([DATA.iloc[:250], DATA.iloc[250:]], SmaCross, finalize_trades=True)
    search = dict(n1=[5, 10], n2=[20, 40], maximize="Return [%]", aggregate="min", return_study=True,
                  n_jobs=1, show_progress=False)
    _, lean = multi.optimize(**search, metrics=[])
    _, full = multi.optimize(**search)
    assert lean.metric_names == ["Return [%]", "# Trades", "Return [%][0]", "# Trades[0]", "Return [%][1]",
                                 "# Trades[1]"]
    same_columns(lean, full)


@pytest.mark.parametrize("metrics, error, match", [
    ("Duration", ValueError, r"'Duration' is not a number, so Backtest\.optimize\(metrics=\.\.\.\) cannot "
                             r"keep it"),
    (["Sharp Ratio"], ValueError, r"Sharpe Ratio"),
    (5, TypeError, r"metrics.*a list of numeric stats keys.*5"),
    ([["SQN"]], TypeError, r"metrics"),
])
def test_bad_metrics_are_refused_before_any_run(metrics, error, match, monkeypatch):
    monkeypatch.setattr(SmaCross, "init", lambda self: pytest.fail("ran"))
    with pytest.raises(error, match=match):
        optimize(metrics=metrics)


def test_a_study_resumes_only_with_the_same_metrics(tmp_path):
    optimize(study=tmp_path / "runs.db", metrics=["SQN"])
    optimize(study=tmp_path / "runs.db", metrics=["SQN"])  # the same: resumed
    with pytest.raises(StoreError, match=r"What changed: metrics \("):
        optimize(study=tmp_path / "runs.db")


def test_every_numeric_key_is_the_default():
    _, study = optimize(return_study=True)
    assert study.metric_names == NUMERIC_KEYS


def test_validation_tables_keep_their_key_stats_with_fewer_metrics():
    from backtestkit.validation import holdout

    bt = Backtest(DATA, SmaCross, commission=0.002, finalize_trades=True)
    search = dict(n1=[5, 10], n2=[20, 40], maximize="Return [%]", n_jobs=1, show_progress=False)
    lean, full = holdout(bt, **search, metrics=[]), holdout(bt, **search)
    assert not lean.table.isna().any().any()
    pd.testing.assert_frame_equal(lean.table, full.table)
    with pytest.raises(TypeError, match="metrics"):
        holdout(bt, **search, metrics=5)
