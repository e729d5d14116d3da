"""Several objectives: the Pareto front on hand-made points, the study's front and best, and
Backtest.optimize with maximize=/minimize= lists."""

from __future__ import annotations

import math
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.optimize import Outcome, Study, load_study
from backtestkit.optimize._pareto import pareto_front
from tests.test_chart import SmaCross

cloudpickle.register_pickle_by_value(sys.modules[__name__])
nan = math.nan


# --- the front of hand-made points (higher is better in every column) -------------------------------


@pytest.mark.parametrize("points, front", [
    ([], []),
    ([[1, 1]], [0]),
    # (3,1) (2,3) (1,5) trade off; (1,4) is beaten by (1,5); (2,3) twice: ties are both on the front
    ([[1, 5], [2, 3], [1, 4], [3, 1], [2, 3]], [3, 1, 4, 0]),
    # one point better in both: it alone is the front
    ([[1, 1], [2, 2], [0, 3], [3, 3]], [3]),
    # equal in one objective, better in the other: dominates
    ([[2, 1], [2, 2]], [1]),
    # NaN in any objective keeps a point off (not a winner, not a dominator)
    ([[nan, 9], [1, nan], [0, 0]], [2]),
    ([[nan, nan]], []),
    # 3 objectives: (1,1,1) is dominated by (2,2,2); the rest trade off; best first by the 1st, then 2nd
    ([[1, 1, 1], [2, 2, 2], [3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 1]], [5, 1, 3, 4]),
    # infinities compare as numbers
    ([[math.inf, 0], [5, 1], [-math.inf, 2]], [0, 1, 2]),
])
def test_front_of_hand_made_points(points, front):
    scores = np.array(points, dtype=float).reshape(len(points), -1 if points else 2)
    assert pareto_front(scores, list(range(len(points)))) == front


def test_ties_in_every_objective_go_by_key():
    assert pareto_front(np.array([[1.0, 1.0]] * 3), [(2,), (0,), (1,)]) == [1, 2, 0]


def dominates(a, b) -> bool:
    return bool(np.all(a >= b) and np.any(a > b))


@given(st.lists(st.lists(st.integers(-3, 3).map(float) | st.just(nan), min_size=3, max_size=3), max_size=25))
def test_front_is_exactly_the_non_dominated_points(points):
    scores = np.array(points, dtype=float).reshape(len(points), 3)
    front = pareto_front(scores, list(range(len(points))))
    finite = [i for i in range(len(points)) if not np.isnan(scores[i]).any()]
    expected = {i for i in finite if not any(dominates(scores[j], scores[i]) for j in finite)}
    assert set(front) == expected
    assert len(front) == len(set(front))
    firsts = [scores[i][0] for i in front]
    assert firsts == sorted(firsts, reverse=True)  # best first in the first objective


# --- the study: objectives, front and best from hand-made trials ----------------------------------


def made_study(rows, objectives=(("gain", "max"), ("risk", "min"))) -> Study:
    """Trials x = 0, 1, ... with (state, gain, risk); 'gain' is the value, 'risk' a stats column."""
    study = Study(param_names=["x"], objective="gain", metric_names=["risk"],
                  info={"objectives": [list(pair) for pair in objectives]})
    outcomes = [Outcome(state, gain, np.array([risk]), 0.0) for state, gain, risk in rows]
    study._record([(x,) for x in range(len(rows))], outcomes, [{"x": x} for x in range(len(rows))])
    return study


def test_the_front_leaves_out_trials_that_did_not_score_and_the_best_is_its_first():
    study = made_study([
        ("ok", 1.0, 1.0),         # x=0: on the front (lowest risk)
        ("ok", 3.0, 5.0),         # x=1: on the front (highest gain that scored everywhere)
        ("no_trades", nan, nan),  # x=2: no trade
        ("failed", nan, nan),     # x=3: failed
        ("ok", 9.0, nan),         # x=4: a NaN risk: off the front, though its gain is the highest
        ("ok", 2.0, 6.0),         # x=5: beaten by x=1 (more gain, less risk)
        ("infeasible", nan, 0.0),  # x=6: broke a result constraint
        ("ok", 2.0, 2.0),         # x=7: on the front
    ])
    assert study.objectives == [("gain", "max"), ("risk", "min")]
    front = study.pareto_front()
    assert front["x"].tolist() == [1, 7, 0]
    assert list(front.columns) == list(study.trials_dataframe().columns)
    assert study.best_trial.params == {"x": 1} and study.best_value == 3.0
    assert study.top(1)["x"].tolist() == [4]  # top() ranks by the first objective alone, as documented


def test_a_minimised_first_objective_is_best_when_lowest():
    study = made_study([("ok", 1.0, 4.0), ("ok", 2.0, 1.0), ("ok", 2.0, 3.0)],
                       objectives=(("gain", "min"), ("risk", "min")))
    study.maximize = False
    assert study.pareto_front()["x"].tolist() == [0, 1]
    assert study.best_params == {"x": 0}


def test_equal_first_objectives_on_the_front_go_to_the_next_objective():
    # 3 objectives: gain (max), risk (min), the second stats column 'speed' (max)
    study = Study(param_names=["x"], objective="gain", metric_names=["risk", "speed"],
                  info={"objectives": [["gain", "max"], ["risk", "min"], ["speed", "max"]]})
    rows = [(5.0, 2.0, 4.0), (5.0, 1.0, 0.0), (5.0, 1.0, 3.0), (1.0, 0.0, 0.0)]
    study._record([(x,) for x in range(4)], [Outcome("ok", g, np.array([r, s]), 0.0) for g, r, s in rows],
                  [{"x": x} for x in range(4)])
    # x=1 is beaten by x=2 (same gain and risk, faster); x=0 trades risk for speed with x=2, and
    # ties with it in gain: the lower risk (x=2) goes first
    assert study.pareto_front()["x"].tolist() == [2, 0, 3]
    assert study.best_params == {"x": 2}


def test_a_single_objective_study_has_one_objective_and_its_best_as_front():
    study = Study(param_names=["x"], objective="SQN", maximize=False)
    study._record([(0,), (1,), (2,)], [Outcome("ok", v, None, 0.0) for v in (2.0, 1.0, 1.0)],
                  [{"x": 0}, {"x": 1}, {"x": 2}])
    assert study.objectives == [("SQN", "min")]
    assert study.pareto_front()["x"].tolist() == [1, 2]


def test_no_trial_on_the_front_falls_back_to_the_first_objective():
    study = made_study([("ok", 1.0, nan), ("ok", 2.0, nan)])
    assert study.pareto_front().empty
    assert study.best_params == {"x": 1}


# --- Backtest.optimize with lists -----------------------------------------------------------------


def trades(stats) -> float:
    return stats["# Trades"]


GRID = dict(n1=[5, 10, 20], n2=[20, 40, 60], constraint=lambda p: p.n1 < p.n2, show_progress=False)


@pytest.fixture(scope="module")
def bt():
    return Backtest(load_daily(), SmaCross, finalize_trades=True)


def test_optimize_with_lists_keeps_every_objective_and_returns_the_fronts_best(bt):
    stats, study = bt.optimize(**GRID, maximize=["Return [%]", trades], minimize=["Volatility (Ann.) [%]"],
                               return_study=True, n_jobs=1)
    assert study.objectives == [("Return [%]", "max"), ("trades", "max"), ("Volatility (Ann.) [%]", "min")]
    frame = study.trials_dataframe()
    assert (frame["trades"] == frame["# Trades"]).all()  # the callable's values, kept as a column
    assert (frame["value"] == frame["Return [%]"]).all()
    scores = frame[["Return [%]", "# Trades"]].to_numpy() * [1, 1]
    scores = np.column_stack([scores, -frame["Volatility (Ann.) [%]"].to_numpy()])
    expected = {i for i in range(len(frame))
                if not any(dominates(scores[j], scores[i]) for j in range(len(frame)))}
    front = study.pareto_front()
    assert set(front["number"]) == expected
    best = front.iloc[0]
    assert best["Return [%]"] == frame.loc[sorted(expected), "Return [%]"].max()
    assert stats["_strategy"].n1 == best["n1"] and stats["_strategy"].n2 == best["n2"]


def test_results_do_not_depend_on_the_workers(bt):
    search = dict(**GRID, maximize=["Return [%]", trades], minimize="Volatility (Ann.) [%]",
                  return_study=True)
    _, one = bt.optimize(**search, n_jobs=1)
    _, two = bt.optimize(**search, n_jobs=2)
    columns = ["n1", "n2", "value", "trades", "Volatility (Ann.) [%]"]
    pd.testing.assert_frame_equal(one.pareto_front()[columns], two.pareto_front()[columns])


def test_a_minimize_list_alone_minimises_and_a_one_item_list_is_one_objective(bt):
    _, study = bt.optimize(**GRID, minimize=["Volatility (Ann.) [%]", "# Trades"], return_study=True,
                           n_jobs=1)
    assert study.objectives == [("Volatility (Ann.) [%]", "min"), ("# Trades", "min")]
    assert not study.maximize
    _, single = bt.optimize(**GRID, maximize=["Sharpe Ratio"], return_study=True, n_jobs=1)
    assert single.objectives == [("Sharpe Ratio", "max")] and "objectives" not in single.info


def test_objectives_are_stored_and_must_match_to_resume(bt, tmp_path):
    path = tmp_path / "runs.db"
    search = dict(**GRID, maximize=["Return [%]"], minimize=["Volatility (Ann.) [%]"], study=path, n_jobs=1)
    bt.optimize(**search)
    loaded = load_study(path)
    assert loaded.objectives == [("Return [%]", "max"), ("Volatility (Ann.) [%]", "min")]
    assert len(loaded.pareto_front()) >= 1
    with pytest.raises(ValueError, match=r"What changed: objectives \("):
        bt.optimize(**{**search, "minimize": ["Max. Drawdown [%]"]})


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"maximize": []}, ValueError,
     r"The 'maximize' parameter of Backtest.optimize must be a non-empty list of stats keys or callables. "
     r"Got \[\] instead."),
    ({"maximize": ["Return [%]", "Return [%]"]}, ValueError,
     r"Backtest.optimize got the objective 'Return \[%\]' twice"),
    ({"maximize": ["Return [%]", "Sharpe Ratioo"]}, ValueError, r"Did you mean 'Sharpe Ratio'\?"),
    ({"maximize": ["Return [%]", 3]}, TypeError, "The 'maximize' parameter of Backtest.optimize must be"),
])
def test_bad_objective_lists_are_refused_before_any_run(bt, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bt.optimize(**GRID, **kwargs)


def SQN(stats):  # noqa: N802 -- named like a stats key on purpose
    return stats["SQN"] * 2


def test_a_function_named_like_a_stats_key_is_refused(bt):
    with pytest.raises(ValueError, match="cannot keep the objective 'SQN': a study already has a column"):
        bt.optimize(**GRID, maximize=["Return [%]", SQN])


def test_an_objective_that_returns_no_number_is_an_error(bt):
    def text(stats):
        return "high"

    with pytest.raises(TypeError, match="Each objective must return a real number"):
        bt.optimize(**GRID, maximize=["Return [%]", text], n_jobs=1)


def test_the_report_has_a_pareto_section_with_the_front(bt, tmp_path):
    _, study = bt.optimize(**GRID, maximize=["Return [%]", trades], minimize=["Volatility (Ann.) [%]"],
                           return_study=True, n_jobs=1, report=tmp_path / "opt.html")
    page = (tmp_path / "opt.html").read_text(encoding="utf-8")
    assert "Pareto front" in page
    n_front = len(study.pareto_front())
    assert f"{n_front:,} of the {len(study):,} trials that scored are non-dominated" in page
    assert "The plot shows the first two objectives; the table shows them all." in page


def test_a_single_objective_report_has_no_pareto_section(tmp_path):
    study = made_study([("ok", 1.0, 1.0), ("ok", 2.0, 2.0)], objectives=(("gain", "max"),))
    study.write_report(tmp_path / "one.html")
    assert "Pareto front" not in (tmp_path / "one.html").read_text(encoding="utf-8")
    two = made_study([("ok", 1.0, 1.0), ("ok", 2.0, 2.0), ("no_trades", nan, nan)])
    two.write_report(tmp_path / "two.html")
    assert "2 of the 2 trials that scored are non-dominated" in (tmp_path / "two.html").read_text("utf-8")
