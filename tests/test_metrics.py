"""Tests for backtestkit._metrics: edge-case tables and worked values of each metric function."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from backtestkit._metrics import (
    annualised_volatility,
    bars_held,
    beta,
    calmar_ratio,
    drawdown_episodes,
    episode_peaks,
    geometric_mean_return,
    kelly_criterion,
    mean,
    omega_ratio,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    sqn,
    ulcer_index,
    variance,
    win_rate,
    without_nan,
)

EMPTY = np.array([])


@pytest.mark.parametrize(
    "metric",
    [
        lambda: geometric_mean_return(EMPTY),
        lambda: annualised_volatility(np.array([0.1]), 0.1, 252),  # one return has no variance
        lambda: sortino_ratio(0.1, EMPTY, 252, 0.0),
        lambda: sortino_ratio(0.0, np.zeros(3), 252, 0.0),  # 0 / 0
        lambda: sharpe_ratio(0.1, 0.0, 0.0),
        lambda: calmar_ratio(0.1, 0.0),
        lambda: omega_ratio(EMPTY),
        lambda: omega_ratio(np.array([0.01, 0.0])),  # no losing period
        lambda: beta(np.array([1.0, 2.0]), np.array([1.0, 2.0])),  # one return
        lambda: beta(np.array([1.0, 2.0, 3.0]), np.ones(3)),  # flat market
        lambda: ulcer_index(EMPTY),
        lambda: win_rate(EMPTY),
        lambda: profit_factor(np.array([0.1, 0.2])),  # no loser
        lambda: sqn(np.array([5.0])),
        lambda: sqn(np.array([5.0, 5.0])),  # no spread
        lambda: kelly_criterion(np.array([1.0, 2.0])),  # no loser
        lambda: kelly_criterion(np.array([-1.0])),  # no winner
    ],
)
def test_metrics_are_nan_without_data_or_denominator(metric: Any) -> None:
    assert math.isnan(metric())


def test_metric_values() -> None:
    assert geometric_mean_return(np.array([0.1, -1.0, 0.5])) == 0  # capital gone: nothing compounds
    assert geometric_mean_return(np.array([0.21, np.nan, 0.0])) == pytest.approx(0.1)  # sqrt(1.21) - 1
    assert sortino_ratio(0.1, np.array([0.01, 0.02]), 252, 0.0) == math.inf  # no losing period
    assert profit_factor(np.array([0.3, -0.1, -0.2])) == pytest.approx(1.0)  # 0.3 / 0.3
    assert kelly_criterion(np.array([30.0, -10.0, -10.0])) == pytest.approx(1 / 3 - (2 / 3) / 3)  # W-(1-W)/R
    assert beta(np.array([1.0, 2.0, 8.0]), np.array([1.0, 2.0, 8.0])) == pytest.approx(1.0)
    assert annualised_volatility(np.array([0.01, -0.01]), 0.0, 1) == pytest.approx(math.sqrt(2e-4))  # p=1: s


@pytest.mark.parametrize(
    ("dd", "starts", "ends", "peaks"),
    [
        ([0.0], [], [], []),
        ([0.0, 0.0, 0.0], [], [], []),
        ([0.0, 0.0, 0.1], [], [], []),  # a dip on the last bar alone is not an episode
        ([0.0, 0.1, 0.2, 0.0], [0], [3], [0.2]),
        ([0.0, 0.1, 0.0, 0.3, 0.2], [0, 2], [2, 4], [0.1, 0.3]),  # the last one has not recovered
        ([0.0, 0.5, 0.0, 0.0, 0.0, 0.2, 0.0], [0, 4], [2, 6], [0.5, 0.2]),
    ],
)
def test_drawdown_episodes(dd: list, starts: list, ends: list, peaks: list) -> None:
    dd_array = np.array(dd)
    found_starts, found_ends = drawdown_episodes(dd_array)
    assert found_starts.tolist() == starts and found_ends.tolist() == ends
    assert episode_peaks(dd_array, found_starts, found_ends).tolist() == peaks


@pytest.mark.parametrize(
    ("entries", "exits", "held"),
    [
        ([], [], 0),
        ([3], [3], 1),  # entered and exited on one bar
        ([0, 4], [2, 6], 6),  # 0-2 and 4-6
        ([0, 3], [2, 5], 6),  # adjacent: 0-2 then 3-5
        ([0, 1], [9, 2], 10),  # one inside the other
        ([5, 0], [7, 6], 8),  # not sorted by entry: 0-7
        ([2, 2, 2], [4, 4, 4], 3),  # the same bars three times
    ],
)
def test_bars_held(entries: list, exits: list, held: int) -> None:
    assert bars_held(np.array(entries, dtype=int), np.array(exits, dtype=int)) == held


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), max_size=30))
def test_bars_held_counts_the_union_of_holding_periods(trades: list[tuple[int, int]]) -> None:
    entries = np.array([entry for entry, _ in trades], dtype=int)
    exits = np.array([entry + length for entry, length in trades], dtype=int)
    union = {bar for entry, exit_ in zip(entries, exits, strict=True) for bar in range(entry, exit_ + 1)}
    assert bars_held(entries, exits) == len(union)


# numpy's own pairwise sums at every length around its 8-wide unrolling and 128-value blocks, of values
# of mixed magnitudes (where another summing order changes the last bits), some NaN or infinite
_FLOATS = st.floats(-1e6, 1e6) | st.floats(-1e-3, 1e-3) | st.sampled_from([np.nan, np.inf, -np.inf])


@given(st.integers(2, 600).flatmap(lambda n: arrays(np.float64, n, elements=_FLOATS)))
def test_mean_and_variance_are_numpys_to_the_bit(array: np.ndarray) -> None:
    before = array.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        expected_mean, expected_variance = array.mean(), array.var(ddof=1)
        got_mean, got_variance = mean(array), variance(array)
    assert type(got_mean) is type(got_variance) is np.float64
    assert got_mean.tobytes() == expected_mean.tobytes()
    assert got_variance.tobytes() == expected_variance.tobytes()
    assert array.tobytes() == before.tobytes()  # the input is left alone


@given(st.integers(0, 300).flatmap(lambda n: arrays(np.float64, n, elements=_FLOATS)))
def test_without_nan_drops_exactly_the_nans(array: np.ndarray) -> None:
    assert without_nan(array).tobytes() == array[~np.isnan(array)].tobytes()


@pytest.mark.parametrize("annual, returns, per_year, rate", [
    (np.inf, [-np.inf, 0.1], 252.0, 0.0),
    (np.inf, [-0.5, 0.1], np.inf, 0.0),
    (np.float64(np.inf), [-0.5, 0.1], 252.0, np.inf),
    (0.0, [0.0, 0.1], 252.0, 0.0),  # no downside: 0 / 0
])
def test_sortino_ratio_is_nan_without_a_warning_where_it_divides_nothing_by_nothing(annual, returns, per_year,
                                                                                      rate) -> None:
    assert math.isnan(sortino_ratio(annual, np.array(returns), per_year, rate))  # warnings are errors here


def test_beta_of_too_few_values_is_nan_whatever_the_market() -> None:
    assert math.isnan(beta(np.array([1.0, 1.0]), np.array([5e-324, 1.0])))
    assert math.isnan(beta(np.array([1.0, 2.0]), [1.0, 2.0]))


@pytest.mark.parametrize("values", [[2**53 + 1, 1, 1, -3], [2**62] * 3 + [-3], list(range(-5000, 9000, 7))])
def test_mean_and_variance_of_integers_sum_in_floats_as_numpy_does(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    assert mean(array).tobytes() == array.mean().tobytes()
    assert variance(array).tobytes() == array.var(ddof=1).tobytes()
