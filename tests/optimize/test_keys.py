"""A study's keys: kept a column each, found again through a dict and sorted codes, as a plain dict would."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit.optimize import Outcome, Study
from backtestkit.optimize._keys import Keys

small_ints = st.integers(-3, 6)
elements = st.one_of(small_ints, small_ints, small_ints, st.sampled_from([2**70, -(2**64), 1.5, "a"]))


def reference(keys):
    latest = {}
    for number, key in enumerate(keys):
        latest[key] = number
    return latest


def check_int_keys_against_a_dict(batches, probes):
    keys, added = Keys(len(batches[0][0]), merge_at=4), []  # merges after a few keys: every path runs
    for batch in batches:
        keys.extend(batch)
        added += batch
        latest = reference(added)
        assert len(keys) == len(added)
        assert [keys[n] for n in range(len(added))] == added
        assert all(type(a) is type(b)
                   for n, key in enumerate(added) for a, b in zip(keys[n], key, strict=True))
        for key in [*latest, *probes]:
            assert keys.find(key) == latest.get(key)
    assert keys.latest().tolist() == [latest[key] for key in sorted(latest)]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3).flatmap(lambda width: st.tuples(
    st.lists(st.lists(st.tuples(*[small_ints] * width), min_size=1, max_size=40), min_size=1, max_size=8),
    st.lists(st.tuples(*[small_ints] * width), max_size=10))))
def test_int_keys_are_found_as_a_dict_finds_them(drawn):
    batches, probes = drawn
    check_int_keys_against_a_dict(batches, probes)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.tuples(elements, small_ints), min_size=1, max_size=30), min_size=1, max_size=6))
def test_keys_with_elements_that_are_not_int64s_fall_back_to_the_dict(batches):
    keys, added = Keys(2, merge_at=4), []
    for batch in batches:
        keys.extend(batch)
        added += batch
        latest = reference(added)
        assert [keys[n] for n in range(len(added))] == added
        assert all(keys.find(key) == number for key, number in latest.items())
        assert keys.find((99, 99)) is None


def test_keys_are_sorted_codes_once_merged_and_latest_follows_key_order():
    keys = Keys(2, merge_at=4)
    keys.extend([(2, 0), (0, 1), (1, 5), (0, 1), (-1, 3)])
    assert not keys._recent and len(keys._codes) == 4  # merged: no tuple kept
    assert keys.latest().tolist() == [4, 3, 2, 0]
    keys.extend([(0, 1)])  # a repeat after the merge: the dict's newer trial wins
    assert keys.find((0, 1)) == 5 and keys.latest().tolist() == [4, 5, 2, 0]
    assert keys.find((7, 0)) is None and keys.find((0, 2)) is None and keys.find(("x", 1)) is None
    with pytest.raises(ValueError):
        keys.latest()[0] = 1  # handed out, not to be changed


def test_a_grid_too_large_for_int64_codes_keeps_its_keys_in_the_dict():
    keys = Keys(3, merge_at=2)
    keys.extend([(0, 0, 0), (2**31, 2**31, 2**31), (0, 0, 0)])
    assert keys._recent and not len(keys._codes)
    assert keys.find((0, 0, 0)) == 2 and keys.latest().tolist() == [2, 1]


def test_a_key_of_no_parameters():
    keys = Keys(0)
    keys.extend([(), ()])
    assert keys.find(()) == 1 and keys.latest().tolist() == [1] and keys[0] == ()


def test_a_big_study_holds_a_few_dozen_bytes_a_trial():
    """Under 64 bytes a trial of three parameters and one stats column (about 45: a byte per key element,
    its code and trial number, value, duration, state and stat), where a tuple key, its dict entry, the
    parameters and a list slot per state took some 190 more."""
    n, candidates = 40_000, [list(range(40)), list(range(50)), [k / 100 for k in range(20)]]
    codes = np.array(np.unravel_index(np.arange(n), (40, 50, 20))).T.tolist()

    def decode(key):
        return {name: values[i] for name, values, i in zip("abc", candidates, key, strict=True)}

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        study = Study(param_names=["a", "b", "c"], metric_names=["# Trades"], decode=decode)
        for start in range(0, n, 100):
            batch = [tuple(key) for key in codes[start:start + 100]]
            study._record(batch, [Outcome("ok", 1.0, np.array([3.0]), 0.01)] * len(batch))
        held = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(study.heatmap()) == n and study.n_evaluated == n
    assert held < 64, f"{held:.0f} bytes a trial"


@pytest.mark.parametrize("candidates", [[3, 1, 2], [1.5, 2, 3], ["a", "b"], [True, False], [None, 5],
                                        [1, "a"], [(1, 2), (3, 4)], [2**70, 1], [2**63 + 1, 1],
                                        [np.int64(3), 4]])
def test_a_study_reads_its_parameters_with_the_dtypes_pandas_infers_from_their_values(candidates):
    """The study decodes its keys a block at a time into typed columns; the heatmap's levels and the
    trials' columns are what pandas makes of the plain lists of values."""
    from backtestkit.optimize import run_search

    study = run_search(lambda p: 1.0, {"x": candidates, "y": [1, 2]}, known_params=["x", "y"], n_jobs=1,
                       show_progress=False)
    trials = study.trials  # a grid's trials are in key order, the heatmap's
    expected = pd.MultiIndex.from_arrays([[t.params[n] for t in trials] for n in "xy"], names=["x", "y"])
    index = study.heatmap().index
    assert index.equals(expected)
    assert [level.dtype for level in index.levels] == [level.dtype for level in expected.levels]
    frame = study.trials_dataframe()
    for name in "xy":
        column = pd.Series([t.params[name] for t in trials], name=name)
        pd.testing.assert_series_equal(frame[name], column)
