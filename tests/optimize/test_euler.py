"""method='euler': the coarse grid, the finer grids around the best cells, constraints, budgets."""

from __future__ import annotations

import re
import sys

import cloudpickle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit.optimize import Euler, run_search
from backtestkit.optimize._space import Combination
from tests.optimize.test_genetic import FakeDriver, run_fake

cloudpickle.register_pickle_by_value(sys.modules[__name__])

KNOWN = ["x", "y", "kind"]


def bowl(p):
    """Best 0 at x=23, y=61."""
    return -((p["x"] - 23) ** 2) - ((p["y"] - 61) / 3) ** 2


def search(objective=bowl, params=None, **kwargs):
    params = params or {"x": range(50), "y": range(100)}
    kwargs = {"method": Euler(), "n_jobs": 1, "show_progress": False, **kwargs}
    return run_search(objective, params, known_params=KNOWN, **kwargs)


def test_hand_worked_levels_in_one_dimension():
    # positions 0..8, steps=3: the coarse grid is 0, 4, 8 (stride 4); best 4 (x=5 is 1 away).
    # stride 2 around 4: 2, 4, 6 -> new 2, 6; 4 and 6 tie at -1, the smaller key (4) wins.
    # stride 1 around 4: 3, 4, 5 -> new 3, 5; best 5. Stride 1 everywhere: done.
    objective = lambda p: -((p["x"] - 5) ** 2)  # noqa: E731
    driver, facts = run_fake(Euler(steps=3, keep=1), {"x": range(9)}, objective=objective)
    assert driver.batches == [[(0,), (4,), (8,)], [(2,), (6,)], [(3,), (5,)]]
    assert facts == {"levels": 3}


def test_hand_worked_levels_with_a_category_kept_from_the_best_cell():
    # kind is searched in full on the coarse grid, then kept at the best cell's value ('b', position 1)
    def objective(p):
        return -abs(p["x"] - 6) + (p["kind"] == "b")

    driver, _ = run_fake(Euler(steps=3, keep=1), {"x": range(9), "kind": ["a", "b"]}, objective=objective)
    assert driver.batches[0] == [(0, 0), (0, 1), (4, 0), (4, 1), (8, 0), (8, 1)]
    # (4, 1) and (8, 1) tie at -1: the smaller key wins; around it x = 2, 6; then around (6, 1): 5, 7
    assert driver.batches[1:] == [[(2, 1), (6, 1)], [(5, 1), (7, 1)]]


def test_keep_refines_around_several_cells_in_one_batch():
    driver, _ = run_fake(Euler(steps=3, keep=2), {"x": range(9)}, objective=lambda p: -((p["x"] - 5) ** 2))
    assert driver.batches[1] == [(2,), (6,)]  # around 4 (2, 6) and around 8 (6 again, 8 seen): no repeat
    keys = [key for batch in driver.batches for key in batch]
    assert len(keys) == len(set(keys))


def test_shrink_three_lays_five_values_around_the_best():
    driver, _ = run_fake(Euler(steps=2, shrink=3), {"x": range(19)}, objective=lambda p: -abs(p["x"] - 10))
    # stride 18 -> 6: around 18 (8 away from 10, 0 is 10 away): 6, 12, 18 -> new 6, 12
    assert driver.batches[0] == [(0,), (18,)]
    assert driver.batches[1] == [(6,), (12,)]
    assert max(max(batch) for batch in driver.batches) <= (18,)


def test_reaches_the_listed_resolution_with_few_evaluations():
    study = search()
    assert study.best_params == {"x": 23, "y": 61}
    assert study.n_evaluated < 5000 * 0.05


def test_minimises_when_asked():
    assert search(lambda p: -bowl(p), maximize=False).best_params == {"x": 23, "y": 61}


def test_the_constraint_skips_combinations_without_spending_evaluations():
    seen = []
    study = search(lambda p: seen.append(dict(p)) or bowl(p), constraint=lambda p: p.x + p.y < 80)
    assert seen and all(p["x"] + p["y"] < 80 for p in seen) and len(seen) == study.n_evaluated
    assert len({tuple(p.values()) for p in seen}) == len(seen)


def test_a_constraint_that_rejects_the_whole_coarse_grid_starts_from_random_admissible_points():
    seen = []
    inside = lambda p: 0 < p.x < 49 and 0 < p.y < 99  # noqa: E731 -- the coarse grid is the 4 corners
    study = search(lambda p: seen.append(dict(p)) or bowl(p), constraint=inside, method=Euler(steps=2),
                   random_state=0)
    assert all(inside(Combination(p)) for p in seen) and len(seen) == study.n_evaluated
    assert study.best_params == {"x": 23, "y": 61}


def test_no_admissible_combination_is_a_clear_error():
    with pytest.raises(ValueError, match=r"^None of the [\d,]+ combinations drawn satisfies the"):
        search(constraint=lambda p: False)


def test_max_tries_caps_the_evaluations():
    assert search(method=Euler(max_tries=20)).n_evaluated == 20
    assert search(method="euler", max_tries=30).n_evaluated == 30


def test_same_search_for_any_n_jobs():
    cols = ["x", "y", "value"]
    one = search(n_jobs=1).trials_dataframe()[cols].sort_values(cols).reset_index(drop=True)
    two = search(n_jobs=2).trials_dataframe()[cols].sort_values(cols).reset_index(drop=True)
    assert one.equals(two)


def test_progress_total_is_set():
    driver, _ = run_fake(Euler(steps=3, keep=1), {"x": range(9)}, objective=lambda p: 0.0)
    assert isinstance(driver, FakeDriver) and driver.total == 5  # what ran, set again at the end


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": 1}, "The 'steps' parameter of Euler must be an int >= 2. Got 1 instead."),
    ({"keep": 0}, "The 'keep' parameter of Euler must be an int >= 1. Got 0 instead."),
    ({"shrink": 1.5}, "The 'shrink' parameter of Euler must be an int >= 2. Got 1.5 instead."),
    ({"max_tries": 0}, "The 'max_tries' parameter of Euler must be an int >= 1 or None. Got 0 instead."),
])
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Euler(**kwargs)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=3), limit=st.integers(0, 20),
       steps=st.integers(2, 5), keep=st.integers(1, 3), shrink=st.integers(2, 4))
def test_proposals_are_fresh_admissible_and_within_the_grid(sizes, limit, steps, keep, shrink):
    names = ["x", "y", "kind"][: len(sizes)]
    params = {name: range(size) for name, size in zip(names, sizes, strict=False)}
    objective = lambda p: float(np.cos(sum((i + 2) * v for i, v in enumerate(p.values()))))  # noqa: E731
    method = Euler(steps=steps, keep=keep, shrink=shrink)
    constraint = lambda p: sum(p.values()) <= limit  # noqa: E731
    driver, _ = run_fake(method, params, objective, constraint)
    keys = [key for batch in driver.batches for key in batch]
    assert keys and len(keys) == len(set(keys)) and all(sum(key) <= limit for key in keys)
    assert all(0 <= k < size for key in keys for k, size in zip(key, sizes, strict=True))
    again, _ = run_fake(method, params, objective, constraint)
    assert again.batches == driver.batches
