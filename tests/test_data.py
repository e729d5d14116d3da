"""Tests for backtestkit._data's LiveArray: an indicator in next() acts as the numpy view it stands for."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit._data import Data, LiveArray, _Array, make_array
from backtestkit.datasets import load_daily
from backtestkit.lib import cross, crossover

DATA = load_daily().iloc[:60]


def live(values: list[float], n: int | None = None, dtype: Any = float) -> tuple[LiveArray, _Array]:
    """A live array over ``values`` at bar ``n`` (all by default), and the numpy view it stands for."""
    index = pd.date_range("2024-01-01", periods=len(values))
    full = make_array(np.array(values, dtype=dtype), name="x", index=index)
    data = Data(pd.DataFrame({c: np.ones(len(values)) for c in ("Open", "High", "Low", "Close", "Volume")},
                             index=index))
    data._bar[0] = len(values) if n is None else n
    return LiveArray(full, data._bar), full[: data._bar[0]]


def same(a: Any, b: Any) -> bool:
    """Same type and the same values (NaN equal), as numpy or as Python values."""
    if isinstance(b, np.ndarray):
        return type(a) is type(b) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(b, list):
        return type(a) is list and all(map(same, a, b)) and len(a) == len(b)
    return type(a) is type(b) and (a == b or (a != a and b != b))


OPERATIONS = [
    lambda x: x[-1], lambda x: x[-2], lambda x: x[0], lambda x: x[-3:], lambda x: x[1:4], lambda x: x[[0, 2]],
    lambda x: len(x), lambda x: x + 1, lambda x: 2 * x, lambda x: x / x, lambda x: -x, lambda x: x > 2,
    lambda x: x == 2, lambda x: abs(x), lambda x: np.mean(x), lambda x: np.maximum(x, 2), lambda x: x.max(),
    lambda x: x.shape, lambda x: x.name, lambda x: float(x), lambda x: bool(x), lambda x: list(x),
    lambda x: np.asarray(x), lambda x: x.s, lambda x: repr(x), lambda x: str(x), lambda x: f"{x[-1]:.2f}",
    lambda x: isinstance(x, np.ndarray), lambda x: 2.0 in x, lambda x: copy.deepcopy(x),
    lambda x: pickle.loads(pickle.dumps(x)), lambda x: np.concatenate([x, x]), lambda x: pd.Series(x),
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_live_array_acts_as_the_view_it_stands_for(operation: Any) -> None:
    values = [1.0, 2.0, np.nan, 3.0, 2.0, 4.0]
    for n in (4, 6):
        live_array, view = live(values, n)
        got, expected = operation(live_array), operation(view)
        if isinstance(expected, pd.Series):
            pd.testing.assert_series_equal(got, expected)
        else:
            assert same(got, expected)


def test_a_live_array_follows_the_bars_and_stops_at_the_first() -> None:
    live_array, _ = live([1.0, 2.0, 3.0], 1)
    assert live_array[-1] == 1.0 and len(live_array) == 1
    with pytest.raises(IndexError):
        live_array[-2]  # not the last bar of the whole data
    live_array._bar[0] = 3
    assert live_array[-2] == 2.0 and live_array[-1] == 3.0


def test_writes_and_in_place_operators_reach_the_full_array() -> None:
    live_array, _ = live([1.0, 2.0, 3.0, 4.0], 2)
    live_array[-1] = 9.0
    before = live_array
    live_array += 1.0
    assert live_array is before and live_array._full.tolist() == [2.0, 10.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [
        ([1.0, 3.0], [2.0, 2.0], 2),  # crossed
        ([1.0, 3.0, 0.0], [2.0, 2.0, 2.0], 2),  # crossed; the next bar (unseen) would undo it
        ([2.0, 3.0], [2.0, 2.0], 2),  # equal before: not a cross
        ([1.0, 2.0], [2.0, 2.0], 2),  # equal after: not a cross
        ([np.nan, 3.0], [2.0, 2.0], 2),  # NaN compares False
        ([1.0, np.nan], [2.0, 2.0], 2),
        ([1.0, 3.0], [2.0, np.nan], 2),
        ([1.0, 3.0, 5.0], [2.0, 2.0, 2.0], 1),  # one bar seen: nothing to cross from
        ([3.0, 1.0, 3.0], [2.0, 2.0, 2.0], 3),
        ([np.inf, -np.inf], [0.0, 0.0], 2),
    ],
)
def test_crossover_of_live_arrays_is_crossover_of_their_views(a: list, b: list, n: int) -> None:
    (live_a, view_a), (live_b, view_b) = live(a, n), live(b, n)
    live_b._bar = live_a._bar
    for x, y, vx, vy in [(live_a, live_b, view_a, view_b), (live_b, live_a, view_b, view_a)]:
        assert crossover(x, y) == bool(crossover(vx, vy))
        assert crossover(x, vy) == bool(crossover(vx, vy)) == crossover(vx, y)
        assert cross(x, y) == bool(cross(vx, vy))
        for level in (2, 2.0, np.float64(2.0), np.int64(2)):
            assert crossover(x, level) == bool(crossover(vx, level))
            assert crossover(level, x) == bool(crossover(level, vx))


def test_crossover_of_integer_and_boolean_indicators() -> None:
    (ints, int_view), (flags, flag_view) = live([1, 3, 0, 4], 4, int), live([0, 1, 0, 1], 4, bool)
    ints._bar = flags._bar
    assert crossover(ints, flags) == bool(crossover(int_view, flag_view))
    assert crossover(ints, 1) == bool(crossover(int_view, 1))


def test_indicators_in_next_are_live_and_usable_as_prices() -> None:
    seen = []

    class Uses(Strategy):
        def init(self) -> None:
            self.low = self.I(lambda low: low * 0.9, self.data.Low)

        def next(self) -> None:
            seen.append((type(self.low), len(self.low), self.low[-1], self.low._full[len(self.data) - 1]))
            if not self.position:
                self.buy(sl=self.low)
            elif self.trades:
                self.trades[0].sl = self.low

    stats = Backtest(DATA, Uses, finalize_trades=True).run()
    assert all(kind is LiveArray and n == len(DATA.iloc[:n]) and last == expected
               for kind, n, last, expected in seen)
    assert stats["_trades"]["SL"].notna().all()
    assert type(stats["_strategy"].low) is _Array  # the full array, once the run is over
