"""method='genetic': no repeats, constraints, generations as batches, budgets, dimensions, determinism."""

from __future__ import annotations

import re
import sys

import cloudpickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skopt.space import Categorical, Integer, Real

from backtestkit.optimize import Genetic, run_search
from backtestkit.optimize._method import Context
from backtestkit.optimize._space import build_space
from backtestkit.optimize._trial import Trial

cloudpickle.register_pickle_by_value(sys.modules[__name__])

KNOWN = ["x", "y", "kind", "z"]
PARAMS = {"x": range(40), "y": range(0, 100, 5), "kind": ["a", "b", "c"]}


def peak(p):
    """Best 3.0 at x=23, y=65, kind='b'."""
    return 3.0 - ((p["x"] - 23) / 10) ** 2 - ((p["y"] - 65) / 30) ** 2 - (p["kind"] != "b")


def search(objective=peak, params=PARAMS, **kwargs):
    kwargs = {"method": Genetic(population_size=20, generations=10), "random_state": 0, "n_jobs": 1,
              "show_progress": False, **kwargs}
    return run_search(objective, params, known_params=KNOWN, **kwargs)


class FakeDriver:
    """Answers each batch with ``objective`` and records the batches, as the driver would."""

    def __init__(self, space, objective):
        self.space, self.objective, self.batches, self.total = space, objective, [], None

    def expect(self, total):
        self.total = total

    def evaluate(self, keys, n, *, results=True):
        keys = list(keys)
        assert len(keys) <= n
        self.batches.append(keys)
        values = [self.objective(self.space.decode(key)) for key in keys]
        return [Trial(i, self.space.decode(key), "ok", value) for i, (key, value) in
                enumerate(zip(keys, values, strict=True))] if results else []


def run_fake(method, params, objective=peak, constraint=None, seed=0, maximize=True):
    space = build_space(params, list(params), "test")
    driver = FakeDriver(space, objective)
    facts = method.search(space, driver, Context(constraint, np.random.SeedSequence(seed), maximize, "test"))
    return driver, facts


def test_never_evaluates_a_combination_twice_and_only_listed_values():
    seen = []
    study = search(lambda p: seen.append(dict(p)) or peak(p))
    assert len(seen) == study.n_evaluated == len({tuple(p.values()) for p in seen})
    assert all(p["x"] in range(40) and p["y"] in range(0, 100, 5) and p["kind"] in "abc" for p in seen)


def test_finds_the_peak_with_a_small_share_of_the_grid():
    # 40 * 20 * 3 = 2400 combinations; 200 evaluations at most
    study = search()
    assert study.n_evaluated <= 200
    assert study.best_params == {"x": 23, "y": 65, "kind": "b"}


def test_minimises_when_asked():
    study = search(lambda p: -peak(p), maximize=False)
    assert study.best_params == {"x": 23, "y": 65, "kind": "b"}


def test_each_generation_is_one_batch_and_elites_are_not_rerun():
    method = Genetic(population_size=10, generations=4, elites=3, stagnation=None)
    driver, facts = run_fake(method, PARAMS)
    # the first generation: 10 drawn at random; then 10 - 3 elites bred per generation
    assert [len(batch) for batch in driver.batches] == [10, 7, 7, 7]
    assert facts == {"generations_run": 4, "ended_by": "generations"} and driver.total == 31


def test_stagnation_stops_the_search():
    method = Genetic(population_size=6, generations=50, elites=1, stagnation=3)
    driver, facts = run_fake(method, PARAMS, objective=lambda p: 1.0)  # never improves after the first
    assert [len(batch) for batch in driver.batches] == [6, 5, 5, 5]
    assert facts == {"generations_run": 4, "ended_by": "stagnation"}


def test_max_tries_caps_the_evaluations():
    method = Genetic(population_size=10, generations=50, max_tries=25, stagnation=None)
    driver, facts = run_fake(method, PARAMS)
    assert [len(batch) for batch in driver.batches] == [10, 8, 7]
    assert facts["ended_by"] == "max_tries" and driver.total == 25


def test_a_small_space_is_evaluated_once_in_full_then_the_search_stops():
    params = {"x": [1, 2, 3], "kind": ["a", "b"]}
    driver, facts = run_fake(Genetic(population_size=4, generations=10), params, objective=lambda p: p["x"])
    keys = [key for batch in driver.batches for key in batch]
    assert sorted(keys) == [(x, k) for x in range(3) for k in range(2)]
    assert facts["ended_by"] == "exhausted"


def test_the_constraint_is_honoured_without_spending_evaluations():
    seen = []
    study = search(lambda p: seen.append(dict(p)) or peak(p), constraint=lambda p: p.x < p.y,
                   method=Genetic(population_size=20, generations=5, stagnation=None))
    assert all(p["x"] < p["y"] for p in seen)
    assert len(seen) == study.n_evaluated == 20 + 4 * 18  # every generation full of admissible ones


def test_no_admissible_combination_is_a_clear_error():
    with pytest.raises(ValueError, match=r"^None of the [\d,]+ combinations drawn satisfies the 'constraint' "
                                         r"of Backtest\.optimize\. Loosen the constraint"):
        search(lambda p: 0.0, constraint=lambda p: False)


def test_dimensions_are_searched_within_their_bounds():
    params = {"x": Integer(-5, 5), "y": Real(0.0, 1.0), "kind": Categorical(["a", "b"])}
    seen = []
    study = search(lambda p: seen.append(dict(p)) or -abs(p["x"] - 2) - abs(p["y"] - 0.3), params)
    assert all(-5 <= p["x"] <= 5 and isinstance(p["x"], int) for p in seen)
    assert all(0.0 <= p["y"] <= 1.0 and p["kind"] in ("a", "b") for p in seen)
    assert study.best_params["x"] == 2 and abs(study.best_params["y"] - 0.3) < 0.05


def test_nan_values_rank_last():
    study = search(lambda p: float("nan") if p["kind"] == "b" else peak(p))
    assert study.best_params["kind"] != "b"


def test_same_seed_same_search_for_any_n_jobs():
    one = search(n_jobs=1).trials_dataframe()
    two = search(n_jobs=2).trials_dataframe()
    cols = ["x", "y", "kind", "value"]
    assert one[cols].sort_values(cols).reset_index(drop=True).equals(
        two[cols].sort_values(cols).reset_index(drop=True))
    assert not search(random_state=1).trials_dataframe()[cols].equals(one[cols])


def test_a_genetic_search_that_runs_its_course_is_complete_not_stopped():
    # the stop rules' 'stopped' state and reason are not a genetic search ending as planned
    study = search(method=Genetic(population_size=6, generations=2))
    assert study.info["state"] == "complete" and study.info["ended_by"] == "generations"
    assert "stopped" not in study.info


def test_its_own_random_state_overrides_the_search_seed():
    method = Genetic(population_size=8, generations=3, random_state=5)
    a = search(method=method, random_state=1).trials_dataframe()
    b = search(method=method, random_state=2).trials_dataframe()
    assert a[["x", "y", "kind"]].equals(b[["x", "y", "kind"]])


def test_method_name_gives_the_defaults():
    study = search(method="genetic", max_tries=60)
    assert study.n_evaluated <= 60 and study.info["method"] == "genetic"
    assert study.info["options"] == Genetic(max_tries=60).options()


def must(name, expected, got):
    return re.escape(f"The {name!r} parameter of Genetic must be {expected}. Got {got} instead.")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"population_size": 1}, must("population_size", "an int >= 2", "1")),
    ({"generations": 0}, must("generations", "an int >= 1", "0")),
    ({"mutation_rate": 1.5}, must("mutation_rate", "a number in [0, 1]", "1.5")),
    ({"crossover_rate": "high"}, must("crossover_rate", "a number in [0, 1]", "'high'")),
    ({"tournament_size": 0}, must("tournament_size", "an int >= 1", "0")),
    ({"elites": 10}, must("elites", "an int in [0, population_size=10)", "10")),
    ({"stagnation": 0}, must("stagnation", "an int >= 1 or None", "0")),
    ({"max_tries": 2.5}, must("max_tries", "an int >= 1 or None", "2.5")),
    ({"random_state": -1}, must("random_state", "an int >= 0 or None", "-1")),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        Genetic(**{"population_size": 10, **kwargs})


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3), seed=st.integers(0, 2**32),
       population=st.integers(2, 12), limit=st.integers(0, 12))
def test_proposals_are_fresh_admissible_and_replay(sizes, seed, population, limit):
    names = ["x", "y", "z"][: len(sizes)]
    params = {name: range(size) for name, size in zip(names, sizes, strict=False)}
    constraint = lambda p: sum(p.values()) <= limit  # noqa: E731
    objective = lambda p: float(np.sin(sum((i + 1) * v for i, v in enumerate(p.values()))))  # noqa: E731
    method = Genetic(population_size=population, generations=6, elites=1)
    driver, _ = run_fake(method, params, objective, constraint, seed)
    keys = [key for batch in driver.batches for key in batch]
    assert len(keys) == len(set(keys)) and all(sum(key) <= limit for key in keys)
    assert all(len(batch) <= population for batch in driver.batches)
    again, _ = run_fake(method, params, objective, constraint, seed)
    assert again.batches == driver.batches
