"""The cost estimate: counts worked out by hand, the planned runs of each method, the timed runs, the
repr, and bad options. No assertion on how long anything takes."""

from __future__ import annotations

import re

import pytest
from skopt.space import Integer

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.optimize import Estimate, Grid, SearchMethod, estimate_search
from tests.test_chart import SmaCross

# 30 combinations; x > y admits 8 + 7 + 6 = 21 (x = 2..9, 3..9, 4..9 for y = 1, 2, 3)
PARAMS = {"x": range(10), "y": [1, 2, 3]}


class Counting:
    """An objective that remembers what it ran."""

    def __init__(self):
        self.ran = []

    def __call__(self, p):
        self.ran.append(dict(p))
        return float(p["x"])


def estimate(objective=None, params=PARAMS, **options):
    return estimate_search(objective or Counting(), params, known_params=["x", "y"], n_jobs=1, **options)


@pytest.mark.parametrize("options, admissible, planned", [
    ({}, 30, 30),
    ({"constraint": lambda p: p.x > p.y}, 21, 21),
    ({"constraint": lambda p: p.x > p.y, "max_tries": 10}, 21, 10),
    ({"constraint": lambda p: p.x > p.y, "max_tries": 100}, 21, 21),  # a sample cannot exceed the grid
    ({"constraint": lambda p: p.x > p.y, "max_tries": 0.5}, 21, 11),  # half of 21, rounded
    ({"method": "skopt", "max_tries": 15}, 30, 15),
    ({"method": "skopt"}, 30, 30),  # 200 by default, but repeats are answered by the study
    ({"method": Grid(max_tries=7)}, 30, 7),
])
def test_counts_and_planned_runs(options, admissible, planned):
    found = estimate(**options)
    assert (found.n_combinations, found.n_admissible, found.n_evaluations) == (30, admissible, planned)
    assert found.n_workers == 1 and found.n_timed == 3 and found.seconds_per_run >= 0
    assert found.wall_seconds == pytest.approx(planned * found.seconds_per_run)


def test_timed_runs_are_admissible_distinct_and_few():
    objective = Counting()
    found = estimate(objective, constraint=lambda p: p.x > p.y, n_timed=5, random_state=0)
    assert found.n_timed == 5 == len(objective.ran)
    assert all(p["x"] > p["y"] for p in objective.ran)
    assert len({tuple(p.values()) for p in objective.ran}) == 5
    again = Counting()
    estimate(again, constraint=lambda p: p.x > p.y, n_timed=5, random_state=0)
    assert again.ran == objective.ran  # the same seed times the same combinations


def test_a_grid_smaller_than_the_timing_sample_times_what_there_is():
    found = estimate(params={"x": [1, 2], "y": 1})
    assert found.n_timed == 2 and found.n_evaluations == 2


def test_continuous_dimensions_have_no_grid_count():
    found = estimate(params={"x": Integer(0, 100), "y": [1, 2]}, method="skopt", max_tries=40)
    assert (found.n_combinations, found.n_admissible, found.n_evaluations) == (None, None, 40)
    assert "a space with continuous dimensions; skopt plans 40 runs" in repr(found)


def test_a_method_that_does_not_say_has_no_wall_time():
    class Diagonal(SearchMethod):
        name = "diagonal"

        def search(self, space, driver, context):
            return {}

    found = estimate(method=Diagonal())
    assert found.n_evaluations is None and found.wall_seconds is None
    assert "diagonal plans an unknown number of runs" in repr(found)


def test_the_wall_time_divides_by_the_workers():
    found = Estimate("grid", 100, 100, 100, 0.5, 3, 4, 100 * 0.5 / 4)
    assert repr(found) == ("<Estimate: 100 combinations, 100 admissible; grid plans 100 runs of 500 ms "
                           "(timed on 3) -> about 12.5 s on 4 workers>")


def test_backtest_optimize_dry_run_returns_the_estimate_and_runs_only_the_timing():
    bt = Backtest(load_daily(), SmaCross, finalize_trades=True)
    found = bt.optimize(n1=[5, 10, 20], n2=[20, 40, 60], constraint=lambda p: p.n1 < p.n2, dry_run=True,
                        n_jobs=2, random_state=1)
    assert isinstance(found, Estimate)
    # n1 < n2: (5: 20, 40, 60), (10: 20, 40, 60), (20: 40, 60) = 8 of 9
    assert (found.n_combinations, found.n_admissible, found.n_evaluations, found.n_timed) == (9, 8, 8, 3)
    assert found.n_workers == 2
    assert re.fullmatch(r"<Estimate: 9 combinations, 8 admissible; grid plans 8 runs of .+ \(timed on 3\) "
                        r"-> about .+ on 2 workers>", repr(found))


@pytest.mark.parametrize("options, exc, match", [
    ({"n_timed": 0}, ValueError,
     "The 'n_timed' parameter of estimate_search must be an int >= 1. Got 0 instead."),
    ({"n_timed": 1.5}, TypeError, "The 'n_timed' parameter of estimate_search must be an int >= 1."),
    ({"max_tries": 0}, ValueError, "The 'max_tries' parameter of estimate_search must be"),
    ({"method": "genetics"}, ValueError, "The 'method' parameter of estimate_search must be"),
    ({"constraint": lambda p: False}, ValueError, "None of the 30 combinations satisfies the 'constraint'"),
])
def test_bad_options_are_refused_before_any_run(options, exc, match):
    objective = Counting()
    with pytest.raises(exc, match=re.escape(match)):
        estimate(objective, **options)
    assert objective.ran == []


def test_dry_run_must_be_a_flag():
    bt = Backtest(load_daily(), SmaCross)
    with pytest.raises(TypeError, match="The 'dry_run' parameter of Backtest.optimize must be True or False"):
        bt.optimize(n1=[5, 10], dry_run="yes")


def test_a_genetic_search_plans_its_generations_and_sambo_its_tries():
    # 40 + 24 generations x (40 - 2 elites) children, at most the 1,000 admissible
    genetic = estimate_search(lambda p: 1.0, {"x": range(100), "y": range(10)}, known_params="xy",
                              method="genetic", n_jobs=1, n_timed=1)
    assert genetic.n_evaluations == 40 + 24 * 38
    sambo = estimate_search(lambda p: 1.0, {"x": [1, 50]}, known_params="x", method="sambo", max_tries=30,
                            n_jobs=1, n_timed=1)
    assert sambo.n_evaluations == 30
