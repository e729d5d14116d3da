"""Which grid combinations get evaluated: enumeration, constraint, and sampling without replacement."""

from __future__ import annotations

import itertools
import math
import tracemalloc
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit.optimize import _grid
from backtestkit.optimize._grid import GridSelection, random_order
from backtestkit.optimize._space import build_space

NAMES = ["a", "b", "c"]


def selection(params, constraint=None, max_tries=None, seed=0):
    space = build_space(params, NAMES, "owner")
    return space, GridSelection(space, constraint, max_tries, np.random.default_rng(seed), "owner")


def test_full_grid_in_order_with_constraint():
    # a in 1..3, b in 1..3, a < b: (1, 2), (1, 3), (2, 3) -> codes (0, 1), (0, 2), (1, 2)
    _, grid = selection({"a": [1, 2, 3], "b": [1, 2, 3]}, lambda p: p.a < p.b)
    assert (grid.total, grid.n_admissible) == (3, 3)
    assert list(grid) == [(0, 1), (0, 2), (1, 2)]


def test_int_max_tries_samples_exactly_that_many_distinct_admissible():
    space, grid = selection({"a": range(10), "b": range(10)}, lambda p: p.a <= p.b, max_tries=7)
    codes = list(grid)
    assert grid.total == 7 and len(codes) == 7 and len(set(codes)) == 7
    assert all(space.decode(c)["a"] <= space.decode(c)["b"] for c in codes)
    assert grid.n_admissible is None  # not counted: that would cost a pass over the grid


def test_int_max_tries_beyond_the_admissible_count_takes_them_all():
    # 2 of the 20 combinations pass; max_tries=10 < 20 samples, the walk runs out and counts them
    _, grid = selection({"a": range(4), "b": range(5)}, lambda p: p.a == 3 and p.b > 2, max_tries=10)
    assert sorted(grid) == [(3, 3), (3, 4)]
    assert grid.n_admissible == 2


def test_int_max_tries_at_least_the_grid_enumerates_it():
    _, grid = selection({"a": range(3)}, max_tries=5)
    assert list(grid) == [(0,), (1,), (2,)]


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(1.0, 45), (0.5, 23), (0.1, 5), (0.01, 1), (0.011, 1)],  # of 45 admissible, rounded, at least 1
)
def test_float_max_tries_is_a_fraction_of_the_admissible_grid(fraction, expected):
    # a < b on 10 x 10: 45 admissible combinations
    _, grid = selection({"a": range(10), "b": range(10)}, lambda p: p.a < p.b, max_tries=fraction)
    assert grid.n_admissible == 45
    assert grid.total == expected == len(set(grid))


def test_sampling_is_reproducible_and_seed_dependent():
    params = {"a": range(20), "b": range(20)}
    first = list(selection(params, max_tries=10, seed=1)[1])
    assert list(selection(params, max_tries=10, seed=1)[1]) == first
    assert list(selection(params, max_tries=10, seed=2)[1]) != first


def test_none_admissible():
    message = (
        "None of the 4 combinations satisfies the 'constraint' of owner. "
        "Loosen the constraint or widen the parameter ranges."
    )
    for max_tries in (None, 0.5, 3):  # counted up front, or found out by a walk through the grid
        with pytest.raises(ValueError, match=f"^{message}$"):
            list(selection({"a": range(2), "b": range(2)}, lambda p: False, max_tries=max_tries)[1])


def test_huge_grid_sampling_decodes_only_what_it_needs(monkeypatch):
    calls = []
    space, grid = selection({"a": range(10**4), "b": range(10**4), "c": range(10**4)}, max_tries=5)
    monkeypatch.setattr(type(space), "decode", lambda self, codes: calls.append(codes) or {})
    assert len(list(grid)) == 5
    assert len(calls) == 5  # no constraint: one decode per combination kept
    assert grid.n_admissible == 10**12


@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_random_order_is_a_permutation(sizes, seed):
    order = list(random_order(tuple(sizes), np.random.default_rng(seed)))
    assert len(order) == math.prod(sizes)
    assert sorted(order) == list(itertools.product(*map(range, sizes)))


def test_random_order_is_uniform():
    # every one of the 6 combinations comes first in about 1/6 of 3,000 walks (binomial sd ~20)
    rng = np.random.default_rng(0)
    firsts = Counter(next(iter(random_order((2, 3), rng))) for _ in range(3000))
    assert len(firsts) == 6
    assert all(abs(count - 500) < 120 for count in firsts.values())


@pytest.mark.parametrize("sizes", [(50,), (3, 7), (2, 2, 2, 5), (1,), (1000,)])
def test_random_order_is_a_permutation_of_any_grid(sizes):
    # the Feistel domain is a power of four; positions outside the grid are walked past
    order = list(random_order(sizes, np.random.default_rng(5)))
    assert sorted(order) == list(itertools.product(*map(range, sizes)))


def test_random_order_starts_at_once_on_a_huge_grid():
    # 10**12 combinations: nothing is materialised, memory stays flat
    tracemalloc.start()
    walk = random_order((10**6, 10**6), np.random.default_rng(0))
    first = [next(walk) for _ in range(10_000)]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(set(first)) == 10_000 and peak < 5_000_000


def test_a_constraint_that_rejects_everything_on_a_huge_grid_gives_up_with_counts(monkeypatch):
    monkeypatch.setattr(_grid, "MIN_DRAWS", 2_000)
    monkeypatch.setattr(_grid, "DRAWS_PER_TRY", 10)
    space = build_space({"a": range(10**6), "b": range(10**6)}, ["a", "b"], "demo")
    grid = GridSelection(space, lambda p: False, 5, np.random.default_rng(0), "demo")
    with pytest.raises(ValueError, match=r"^None of the 2,000 combinations drawn at random \(of "
                       r"1,000,000,000,000\) satisfies the 'constraint' of demo\. Loosen"):
        list(grid)


def test_a_constraint_that_passes_too_few_warns_and_keeps_what_passed(monkeypatch):
    monkeypatch.setattr(_grid, "MIN_DRAWS", 2_000)
    monkeypatch.setattr(_grid, "DRAWS_PER_TRY", 10)
    space = build_space({"a": range(10**6), "b": range(10**6)}, ["a", "b"], "demo")
    grid = GridSelection(space, lambda p: p.a % 500 == 0, 50, np.random.default_rng(0), "demo")
    with pytest.warns(UserWarning, match=r"^Only \d of the 2,000 combinations drawn at random satisfy"):
        found = list(grid)
    assert 0 < len(found) < 50 and all(codes[0] % 500 == 0 for codes in found)
