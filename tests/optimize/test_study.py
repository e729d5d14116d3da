"""The Study: trials with explicit states, the best-of rule, the trials table, top, heatmaps."""

from __future__ import annotations

import math
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from backtestkit.optimize import Outcome, SearchMethod, Study, Trial, run_search
from backtestkit.optimize._trial import best_position

cloudpickle.register_pickle_by_value(sys.modules[__name__])

PARAMS = {"n1": range(5), "n2": [10, 20, 30]}


def bowl(p):
    return -((p["n1"] - 3) ** 2 + (p["n2"] / 10 - 2) ** 2)


def with_metrics(p):
    """An objective that reports states and metrics as the backtest objective does."""
    if p["n1"] == 0:
        return Outcome("no_trades", math.nan, np.array([0.0, np.nan]), 0.001)
    return Outcome("ok", bowl(p), np.array([float(p["n1"] * 3), -float(p["n2"])]), 0.001)


def search(objective=bowl, params=PARAMS, **kwargs):
    kwargs = {"known_params": ["n1", "n2"], "n_jobs": 1, "show_progress": False, **kwargs}
    return run_search(objective, params, **kwargs)


def test_every_combination_is_a_trial_with_its_state_value_and_metrics():
    study = search(with_metrics, metric_names=["# Trades", "Max. Drawdown [%]"])
    frame = study.trials_dataframe()
    assert len(study) == len(frame) == 15 == study.n_evaluated
    assert list(frame.columns) == ["number", "n1", "n2", "value", "state", "# Trades", "Max. Drawdown [%]",
                                   "duration", "error"]
    assert frame["number"].tolist() == list(range(15))
    no_trades = frame[frame["n1"] == 0]
    assert (no_trades["state"] == "no_trades").all() and no_trades["value"].isna().all()
    assert (frame.loc[frame["n1"] > 0, "state"] == "ok").all()
    row = frame[(frame["n1"] == 2) & (frame["n2"] == 30)].iloc[0]
    assert (row["value"], row["# Trades"], row["Max. Drawdown [%]"]) == (-2.0, 6.0, -30.0)
    trial = study.trials[int(row["number"])]
    assert trial == Trial(int(row["number"]), {"n1": 2, "n2": 30}, "ok", -2.0,
                          {"# Trades": 6.0, "Max. Drawdown [%]": -30.0}, 0.001, None)


def test_best_top_and_heatmap_follow_the_objective_and_its_direction():
    study = search(with_metrics, metric_names=["# Trades", "Max. Drawdown [%]"])
    assert study.best_params == {"n1": 3, "n2": 20} and study.best_value == 0.0
    top = study.top(3)
    assert top[["n1", "n2", "value"]].values.tolist() == [[3, 20, 0.0], [2, 20, -1.0], [3, 10, -1.0]]
    assert study.top(1, by="# Trades")[["n1", "n2"]].values.tolist() == [[4, 10]]
    heatmap = study.heatmap()
    assert heatmap.name == "objective" and list(heatmap.index.names) == ["n1", "n2"]
    assert heatmap.index.is_monotonic_increasing and heatmap[(3, 20)] == 0.0 and np.isnan(heatmap[(0, 10)])
    trades = study.heatmap("# Trades")
    assert trades.name == "# Trades" and trades[(4, 30)] == 12.0
    lowest = search(with_metrics, metric_names=["# Trades", "Max. Drawdown [%]"], maximize=False)
    assert lowest.best_params == {"n1": 1, "n2": 10} and lowest.top(1)["value"].item() == -5.0


def test_ties_go_to_the_first_combination_in_heatmap_order_and_all_nan_to_the_first():
    assert best_position(np.array([2.0, 5.0, 5.0]), [(2,), (1,), (0,)]) == 2
    assert best_position(np.array([np.nan, np.nan]), [(1,), (0,)]) is None
    study = search(lambda p: math.nan)
    assert study.best_params == {"n1": 0, "n2": 10} and math.isnan(study.best_value)
    assert repr(Study(param_names=["x"])) == "<Study: 0 trials, no trials>"


def test_an_unknown_column_gets_a_did_you_mean():
    study = search(with_metrics, metric_names=["# Trades", "Max. Drawdown [%]"])
    with pytest.raises(ValueError, match=r"^Unknown column '# trade' for Study.heatmap. Known: .* "
                                         r"Did you mean '# Trades'\?$"):
        study.heatmap("# trade")
    with pytest.raises(TypeError, match=r"'column' parameter of Study.top must be a stats key"):
        study.top(by=3)


def test_a_failed_trial_is_kept_with_its_error(tmp_path):
    def fails_at_3(p):
        if p["n1"] == 3:
            raise ZeroDivisionError("no")
        return bowl(p)

    with pytest.raises(ZeroDivisionError, match=r"combination n1=3, n2=10: no") as info:
        search(fails_at_3, storage=tmp_path / "s.db")
    assert "The 9 trials that finished are saved in" in str(info.value.__notes__)
    from backtestkit.optimize import load_study

    study = load_study(tmp_path / "s.db")
    failed = study.trials_dataframe().query("state == 'failed'")
    assert failed[["n1", "n2", "error"]].values.tolist() == [[3, 10, "ZeroDivisionError: no"]]
    assert study.info["state"] == "failed" and study.n_evaluated == 9
    top = study.top(20)  # the failed trial is left out, and every other row is its own
    assert len(top) == 9 and "failed" not in set(top["state"])
    assert top[["n1", "n2", "value"]].values.tolist()[0] == [2, 20, -1.0]
    assert all(row.value == bowl({"n1": row.n1, "n2": row.n2}) for row in top.itertuples())


def test_export_round_trips(tmp_path):
    study = search(with_metrics, metric_names=["# Trades", "Max. Drawdown [%]"])
    study.to_csv(tmp_path / "t.csv")
    study.to_parquet(tmp_path / "t.parquet")
    for frame in (pd.read_csv(tmp_path / "t.csv"), pd.read_parquet(tmp_path / "t.parquet")):
        assert frame[["n1", "n2", "value", "# Trades"]].equals(
            study.trials_dataframe()[["n1", "n2", "value", "# Trades"]].astype(frame[["n1", "n2", "value",
                                                                                      "# Trades"]].dtypes))


class EveryOther(SearchMethod):
    """A method written outside the package: every other combination of the first parameter."""

    name = "every-other"

    def search(self, space, driver, context):
        keys = [(i, 0) for i in range(0, len(space.candidates[0]), 2)]
        driver.expect(len(keys))
        trials = driver.evaluate(iter(keys), len(keys))
        again = driver.evaluate(iter(keys[:1]), 1)  # a repeat is answered from the study
        assert again[0] == trials[0]
        return {}


def test_a_method_object_plugs_in_without_a_new_keyword():
    calls = []
    study = search(lambda p: calls.append(p) or bowl(p), method=EveryOther())
    assert [t.params for t in study.trials] == [{"n1": 0, "n2": 10}, {"n1": 2, "n2": 10}, {"n1": 4, "n2": 10}]
    assert len(calls) == 3 and study.info["method"] == "every-other"
