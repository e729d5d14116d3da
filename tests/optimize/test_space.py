"""The parameter space: candidates, fixed values, dedup and sorting, combinations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from skopt.space import Real

from backtestkit.optimize._space import Combination, build_space, combination_error, is_skopt_dimension

KNOWN = ["n1", "n2", "kind", "flag", "x"]


@pytest.mark.parametrize(
    ("value", "candidates"),
    [
        (range(10, 40, 10), (10, 20, 30)),
        ([3, 1, 2, 1, 3], (1, 2, 3)),  # deduplicated, then sorted
        ((0.5, 0.25), (0.25, 0.5)),
        ({5, 1, 3}, (1, 3, 5)),  # sets are sorted
        (np.array([4, 2, 2]), (2, 4)),
        (pd.Index([7, 5]), (5, 7)),
        (5, (5,)),  # a scalar is one fixed value
        ("ema", ("ema",)),  # so is a string
        (np.float64(1.5), (1.5,)),
        (np.array(3), (np.array(3),)),  # a 0-d array is not iterable: one value
        ([None, 2, 1], (None, 2, 1)),  # not comparable: the order given is kept
        ((x for x in [2, 1]), (1, 2)),  # any iterable
        ([[1, 2], [1, 2]], ([1, 2], [1, 2])),  # unhashable candidates are kept as they are
    ],
)
def test_candidates(value, candidates):
    space = build_space({"n1": value}, KNOWN, "Backtest.optimize")
    assert space.candidates[0] == candidates
    assert space.names == ("n1",)


def test_space_size_and_decode():
    space = build_space({"n1": [1, 2, 3], "kind": "ema", "n2": range(4)}, KNOWN, "owner")
    # 3 * 1 * 4 = 12 combinations; codes (2, 0, 1) -> n1 = 3, kind = 'ema', n2 = 1
    assert space.size == 12
    assert space.decode((2, 0, 1)) == {"n1": 3, "kind": "ema", "n2": 1}
    assert list(space.iter_codes())[:3] == [(0, 0, 0), (0, 0, 1), (0, 0, 2)]
    assert len(list(space.iter_codes())) == 12


def test_huge_space_is_not_materialised():
    space = build_space({name: range(1000) for name in KNOWN}, KNOWN, "owner")
    assert space.size == 1000**5  # a Python int, beyond what the grid could ever hold
    assert next(space.iter_codes()) == (0, 0, 0, 0, 0)


def test_skopt_dimension_is_kept_as_is():
    real = Real(1e-3, 1, prior="log-uniform")
    space = build_space({"x": real, "n1": [1, 2]}, KNOWN, "owner")
    assert space.candidates == (None, (1, 2))
    assert space.dimensions[0] is real
    assert space.has_dimensions
    assert is_skopt_dimension(real) and not is_skopt_dimension([1, 2])


def test_users_values_are_not_modified():
    values = [3, 1, 3]
    build_space({"n1": values}, KNOWN, "owner")
    assert values == [3, 1, 3]


def test_combination_reads_as_attributes_and_items():
    p = Combination(n1=10, n2=20)
    assert p.n1 < p.n2 and p["n2"] == 20 and dict(p) == {"n1": 10, "n2": 20}
    with pytest.raises(
        AttributeError, match=r"^This combination has no parameter 'n3'\. It has: \['n1', 'n2'\]\.$"
    ):
        p.n3  # noqa: B018


def test_combination_error_keeps_the_type_when_it_can():
    error = combination_error(KeyError("x"), {"n1": 1}, "The objective of owner")
    assert type(error) is KeyError
    assert "for the combination n1=1" in str(error)

    class Picky(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    error = combination_error(Picky(1, 2), {"n1": 1}, "The objective of owner")
    assert type(error) is RuntimeError
    assert str(error) == "The objective of owner raised Picky for the combination n1=1: (1, 2)"


@given(
    st.dictionaries(st.sampled_from(KNOWN), st.lists(st.integers(-5, 5), min_size=1, max_size=6), min_size=1)
)
def test_candidates_are_the_sorted_distinct_values(params):
    space = build_space(params, KNOWN, "owner")
    assert space.names == tuple(params)
    assert space.candidates == tuple(tuple(sorted(set(v))) for v in params.values())
    assert space.size == len(list(space.iter_codes()))
