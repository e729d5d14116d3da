"""Tests for backtestkit._cache: indicators shared across an optimisation's runs, only when that is safe."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import backtestkit
from backtestkit import Backtest, Strategy, _cache
from backtestkit._objective import Objective, objective_for
from backtestkit.datasets import load_daily
from tests.test_backtest import SmaCross

DATA = load_daily().iloc[:300]
FACTOR = 2.0
WEIGHTS = [1.0, 2.0]
CALLS: list[int] = []
COUNT = 0


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[_cache.IndicatorCache]:
    cache = _cache.IndicatorCache()
    monkeypatch.setattr(_cache, "_shared", cache)
    yield cache
    backtestkit.set_indicator_cache(True)


def sma(values: Any, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


def scaled(values: Any) -> Any:
    return np.asarray(values) * FACTOR  # reads a global number


def weighted(values: Any) -> Any:
    return np.asarray(values) * WEIGHTS[0]  # reads a global list, which may change


def counted(values: Any) -> Any:
    CALLS.append(1)  # a side effect
    return np.asarray(values)


def counted_globally(values: Any) -> Any:
    global COUNT
    COUNT += 1
    return np.asarray(values)


def noisy(values: Any) -> Any:
    return np.asarray(values) + np.random.normal(0, 1, len(values))


def shifted_in_place(values: Any) -> Any:
    values += 1.0  # changes the argument
    return values


def via_helper(values: Any) -> Any:
    return counted(values)  # the side effect is one call down


def into(values: Any, buffer: Any) -> Any:
    return np.multiply(values, 2.0, out=buffer)


def runs(func: Callable, *args: Any, combos: int = 3, **kwargs: Any) -> list[np.ndarray]:
    """The indicator ``func(Close, *args)`` as each of ``combos`` optimiser runs computed it."""
    seen = []

    class Uses(Strategy):
        k = 0

        def init(self) -> None:
            self.value = self.I(func, self.data.Close, *args, **kwargs)
            seen.append(np.array(self.value))
            if self.value.flags.writeable:
                self.value[:] = -1.0  # must not reach the cache

    objective = Objective(Backtest(DATA, Uses)._engine, objective_for("Return [%]", None)[1])
    for k in range(combos):
        objective({"k": k})
    return seen


def test_equal_calls_are_computed_once_and_handed_out_as_copies(fresh_cache: _cache.IndicatorCache) -> None:
    seen = runs(sma, 10)
    assert (fresh_cache.misses, fresh_cache.hits) == (1, 2)
    expected = sma(DATA.Close.to_numpy(), 10).to_numpy()
    assert all(np.array_equal(values, expected, equal_nan=True) for values in seen)


def test_a_run_writing_into_its_indicator_leaves_the_others_alone(fresh_cache: _cache.IndicatorCache) -> None:
    seen = runs(np.cumsum, combos=3)  # numpy's result is writeable, and each run's stays so
    assert fresh_cache.hits == 2
    assert all(np.array_equal(values, np.cumsum(DATA.Close.to_numpy())) for values in seen)


def test_without_the_setting_nothing_is_shared(fresh_cache: _cache.IndicatorCache) -> None:
    backtestkit.set_indicator_cache(False)
    runs(sma, 10)
    assert (fresh_cache.misses, fresh_cache.hits) == (0, 0)
    with pytest.raises(TypeError, match="'enabled' parameter of set_indicator_cache must be True or False"):
        backtestkit.set_indicator_cache("no")  # type: ignore[arg-type]


def test_backtest_run_never_shares(fresh_cache: _cache.IndicatorCache) -> None:
    class Uses(Strategy):
        def init(self) -> None:
            self.I(sma, self.data.Close, 10)

    Backtest(DATA, Uses).run()
    Backtest(DATA, Uses).run()
    assert (fresh_cache.misses, fresh_cache.hits) == (0, 0)


def test_a_changed_global_number_gives_another_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first = runs(scaled, combos=1)[0]
    monkeypatch.setitem(globals(), "FACTOR", 3.0)
    assert np.array_equal(runs(scaled, combos=1)[0], first / 2 * 3)


def test_a_mutable_global_is_never_trusted(fresh_cache: _cache.IndicatorCache) -> None:
    first = runs(weighted, combos=1)[0]
    WEIGHTS[0] = 5.0
    try:
        assert np.array_equal(runs(weighted, combos=1)[0], first * 5)
    finally:
        WEIGHTS[0] = 1.0
    assert fresh_cache.hits == 0


@pytest.mark.parametrize("func", [counted, via_helper])
def test_functions_with_side_effects_run_every_time(func: Callable, fresh_cache: _cache.IndicatorCache
                                                     ) -> None:
    CALLS.clear()
    runs(func, combos=4)
    assert len(CALLS) == 4 and fresh_cache.hits == 0


def test_functions_writing_globals_run_every_time(fresh_cache: _cache.IndicatorCache) -> None:
    before = COUNT
    runs(counted_globally, combos=4)
    assert COUNT == before + 4 and fresh_cache.hits == 0


def test_random_indicators_differ_run_to_run(fresh_cache: _cache.IndicatorCache) -> None:
    first, second = runs(noisy, combos=2)
    assert not np.array_equal(first, second) and fresh_cache.hits == 0


def test_in_place_changes_and_out_buffers_are_not_shared(fresh_cache: _cache.IndicatorCache) -> None:
    runs(lambda close: shifted_in_place(np.array(close)), combos=2)
    runs(into, np.zeros(len(DATA)), combos=2)
    runs(np.multiply, 2.0, out=np.zeros(len(DATA)), combos=2)
    assert fresh_cache.hits == 0


def test_closures_over_mutable_objects_are_not_shared(fresh_cache: _cache.IndicatorCache) -> None:
    state = {"scale": 1.0}
    runs(lambda close: np.asarray(close) * state["scale"], combos=2)
    assert fresh_cache.hits == 0


def test_arguments_are_compared_by_content() -> None:
    cache = _cache.IndicatorCache()
    a, b = np.arange(5.0), np.arange(5.0)
    assert cache.key(sma, (a, 3), {}) == cache.key(sma, (b, 3), {})
    assert cache.key(sma, (a, 3), {}) != cache.key(sma, (a + 1, 3), {})
    assert cache.key(sma, (a, 3), {}) != cache.key(sma, (a, 3.0), {})  # 3 and 3.0 are different arguments
    assert cache.key(sma, (a, 0.0), {}) != cache.key(sma, (a, -0.0), {})
    assert cache.key(sma, (a, math.nan), {}) == cache.key(sma, (a, math.nan), {})
    assert cache.key(sma, ([1.0, 2.0], 3), {}) is None  # a list: not compared by content
    assert cache.key(np.add, (a, a), {}) is not None and cache.key(print, (a,), {}) is None


def test_the_cache_keeps_at_most_its_size() -> None:
    cache = _cache.IndicatorCache(max_bytes=3 * 8 * 100)
    for n in range(5):
        cache.values(sma, (np.arange(100.0), n + 1), {}, lambda n=n: np.full(100, float(n)))
    assert cache.size == 3 * 8 * 100 and len(cache._values) == 3


def test_an_optimisation_finds_the_same_with_and_without_sharing() -> None:
    grid = dict(n1=[5, 10, 15], n2=[20, 30], maximize="Sharpe Ratio", return_heatmap=True,
                show_progress=False)
    shared = Backtest(DATA, SmaCross).optimize(**grid)[1]
    backtestkit.set_indicator_cache(False)
    alone = Backtest(DATA, SmaCross).optimize(**grid)[1]
    assert shared.equals(alone)
