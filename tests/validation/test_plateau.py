"""Plateau selection: a lone spike loses to a broad plateau, hand-worked smoothing, NaN and failed
trials, minimised objectives, the sensitivity table, the selection protocol and the error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit.optimize import Outcome, Study, run_search
from backtestkit.validation import Plateau, PlateauResult, plateau


def search(objective, space):
    return run_search(objective, space, known_params=list(space), n_jobs=1, show_progress=False)


def spike_and_plateau(p):
    # a 2-D grid: a lone spike of 10 at (2, 2), a broad plateau of 6 for x, y in 6..8, 0 elsewhere
    if (p["x"], p["y"]) == (2, 2):
        return 10.0
    return 6.0 if 6 <= p["x"] <= 8 and 6 <= p["y"] <= 8 else 0.0


def test_a_lone_spike_loses_to_a_broad_plateau():
    study = search(spike_and_plateau, {"x": range(10), "y": range(10)})
    result = plateau(study)
    assert isinstance(result, PlateauResult)
    assert result.raw_best_params == study.best_params == {"x": 2, "y": 2}
    assert result.best_params == {"x": 7, "y": 7}  # the plateau's centre: all 9 neighbours are 6
    assert result.smoothed[(7, 7)] == 6.0
    assert result.smoothed[(2, 2)] == pytest.approx(10 / 9)  # the spike among 8 zeros
    assert plateau(study, statistic="min").best_params == {"x": 7, "y": 7}  # the one point all 6 around
    median = plateau(study, statistic="median").best_params  # 6 wherever most neighbours are on the plateau
    assert 6 <= median["x"] <= 8 and 6 <= median["y"] <= 8
    assert Plateau()(study) == {"x": 7, "y": 7}


def test_smoothing_worked_by_hand_with_a_radius_per_parameter():
    # 1-D along x (y has 1 value): values 1 4 2 8 0; radius 1 -> means of
    # [1,4], [1,4,2], [4,2,8], [2,8,0], [8,0]
    values = {0: 1.0, 1: 4.0, 2: 2.0, 3: 8.0, 4: 0.0}
    study = search(lambda p: values[p["x"]], {"x": range(5), "y": [7]})
    result = plateau(study, radius={"x": 1})
    np.testing.assert_allclose(result.smoothed.to_numpy(), [2.5, 7 / 3, 14 / 3, 10 / 3, 4.0])
    assert result.best_params == {"x": 2, "y": 7}
    assert plateau(study, radius=0).best_params == {"x": 3, "y": 7}  # no smoothing: the raw best
    assert plateau(study, radius=2, statistic="min").smoothed.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_nan_and_failed_trials_are_left_out_and_never_chosen():
    # x = 0..4 with values 5, NaN (no trades), 5, failed, 1: x=0 mean(5)=5 (its neighbour has none),
    # x=2 mean(5) = 5 (both neighbours have none), x=4 mean(1) = 1; the failed and NaN points stay NaN
    study = Study(param_names=["x"], objective="Sharpe Ratio")
    outcomes = [Outcome("ok", 5.0, None, 0.0), Outcome("no_trades", math.nan, None, 0.0),
                Outcome("ok", 5.0, None, 0.0), Outcome("failed", math.nan, None, 0.0, "boom"),
                Outcome("ok", 1.0, None, 0.0)]
    study._record([(i,) for i in range(5)], outcomes, [{"x": i} for i in range(5)])
    result = plateau(study)
    assert result.smoothed.tolist()[::2] == [5.0, 5.0, 1.0]
    assert math.isnan(result.smoothed[1]) and math.isnan(result.smoothed[3])
    assert result.best_params == {"x": 0}
    assert math.isnan(result.sensitivity.loc["x", "drop above"])  # its neighbour has no value


def test_a_minimised_objective_smooths_the_right_way():
    study = run_search(lambda p: -spike_and_plateau(p), {"x": range(10), "y": range(10)},
                       known_params=["x", "y"], n_jobs=1, show_progress=False, maximize=False)
    result = plateau(study, statistic="min")
    assert result.best_params == {"x": 7, "y": 7} and result.raw_best_params == {"x": 2, "y": 2}
    assert result.smoothed[(7, 7)] == -6.0  # the worst (highest) neighbour


def test_sensitivity_is_the_drop_one_step_either_side():
    # f = -(x - 3)² - 2 (y - 1)², best (3, 1): x one step either side drops 1, y drops 2;
    # at y's lower edge: None
    study = search(lambda p: -(p["x"] - 3) ** 2 - 2 * (p["y"] - 1) ** 2, {"x": range(7), "y": [1, 2, 3]})
    result = plateau(study, radius=0)
    frame = result.sensitivity
    assert frame.loc["x"].tolist() == [2, 1.0, 4, 1.0]
    assert frame.loc["y", "below"] is None and math.isnan(frame.loc["y", "drop below"])
    assert frame.loc["y", "drop above"] == 2.0


def test_table_summary_and_report(tmp_path):
    study = search(spike_and_plateau, {"x": range(10), "y": range(10)})
    result = plateau(study)
    table = result.table()
    assert list(table.index) == ["plateau best", "raw best"]
    assert table.loc["raw best", "objective"] == 10.0 and table.loc["plateau best", "smoothed (mean)"] == 6.0
    assert "plateau best x=7, y=7" in result.summary()
    path = result.write_report(tmp_path / "plateau.html")
    assert "Plateau selection" in path.read_text(encoding="utf-8")


def test_the_study_is_not_modified():
    study = search(spike_and_plateau, {"x": range(4), "y": range(4)})
    before = study.trials_dataframe()
    plateau(study, radius={"x": 2})
    assert study.trials_dataframe().equals(before)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"study": 1}, TypeError, r"The 'study' parameter of plateau must be a Study \(optimize\(\.\.\., "
     r"return_study=True\)\)\. Got 1 instead\."),
    ({"radius": -1}, ValueError, "The 'radius' parameter of plateau must be a whole number >= 0, or a dict "
     "of them per parameter. Got -1 instead."),
    ({"radius": 1.5}, TypeError, "The 'radius' parameter of plateau must be a whole number >= 0"),
    ({"radius": {"z": 1}}, ValueError,
     r"Unknown parameter 'z' for plateau\(radius=\.\.\.\)\. Known: 'x', 'y'\."),
    ({"statistic": "max"}, ValueError,
     "The 'statistic' parameter of plateau must be 'mean', 'median' or 'min'. Got 'max' instead."),
])
def test_bad_arguments(kwargs, exc, match):
    study = search(spike_and_plateau, {"x": range(3), "y": range(3)})
    with pytest.raises(exc, match=match):
        plateau(**{"study": study, **kwargs})


def test_a_study_without_values_and_bad_selector_arguments():
    study = Study(param_names=["x"])
    study._record([(0,)], [Outcome("failed", math.nan, None, 0.0, "boom")], [{"x": 0}])
    with pytest.raises(ValueError, match="plateau needs at least one trial with a value"):
        plateau(study)
    with pytest.raises(ValueError, match="The 'statistic' parameter of Plateau must be"):
        Plateau(statistic="mode")
    with pytest.raises(TypeError, match="The 'radius' parameter of Plateau must be"):
        Plateau(radius="1")
    assert repr(Plateau(2, "min")) == "Plateau(radius=2, statistic='min')"


@given(st.lists(st.one_of(st.floats(-100, 100), st.just(math.nan)), min_size=12, max_size=12),
       st.booleans())
@settings(max_examples=40, deadline=None)
def test_radius_zero_is_the_raw_best_and_smoothing_stays_within_the_values(values, maximize):
    # a 3 x 4 grid of arbitrary values (NaN: no value); with radius 0 plateau's best is the study's best
    if all(math.isnan(v) for v in values):
        return
    study = run_search(lambda p: values[p["x"] * 4 + p["y"]], {"x": range(3), "y": range(4)},
                       known_params=["x", "y"], n_jobs=1, show_progress=False, maximize=maximize)
    assert plateau(study, radius=0).best_params == study.best_params
    smoothed = plateau(study, radius=1).smoothed.dropna()
    finite = [v for v in values if not math.isnan(v)]
    assert ((smoothed >= min(finite) - 1e-9) & (smoothed <= max(finite) + 1e-9)).all()
