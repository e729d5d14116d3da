"""method='skopt': only listed values, Dimension objects, constraints, NaN, OptimizeResult."""

from __future__ import annotations

import math
import re
import sys

import cloudpickle
import numpy as np
import pytest
from skopt.space import Integer, Real

from backtestkit.optimize import _skopt, run_search
from backtestkit.optimize._skopt import SkoptSpace, Surrogate, minimised
from backtestkit.optimize._space import build_space

cloudpickle.register_pickle_by_value(sys.modules[__name__])

PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
PARAMS = {"n1": PRIMES, "n2": range(0, 100, 5), "kind": ["sma", "ema", "wma"], "fixed": 1}
KNOWN = ["n1", "n2", "kind", "fixed", "x", "k"]


def smooth(p: dict) -> float:
    """Peak at n1=11, n2=60, kind='ema'."""
    return -((p["n1"] - 11) ** 2) / 100 - ((p["n2"] - 60) / 50) ** 2 + (p["kind"] == "ema") * 0.5


def search(objective=smooth, params=PARAMS, **kwargs):
    kwargs = {
        "method": "skopt",
        "max_tries": 40,
        "random_state": 0,
        "n_jobs": 1,
        "show_progress": False,
        **kwargs,
    }
    return run_search(objective, params, known_params=KNOWN, **kwargs)


def test_only_listed_values_are_evaluated():
    seen = []
    result = search(lambda p: seen.append(dict(p)) or smooth(p))
    assert len(seen) == result.n_evaluated == 40
    assert len({tuple(p.values()) for p in seen}) == 40  # each combination once
    for p in seen:
        assert p["n1"] in PRIMES and p["n2"] in range(0, 100, 5) and p["kind"] in ("sma", "ema", "wma")
        assert p["fixed"] == 1
        assert type(p["n1"]) is int and type(p["n2"]) is int  # the user's values, not numpy's
    assert result.heatmap().index.names == ["n1", "n2", "kind", "fixed"]
    assert result.heatmap().index.is_monotonic_increasing


def test_finds_a_good_combination():
    # 10 * 20 * 3 = 600 combinations; 60 tries (10%) find one within the best 2% (12 combinations)
    grid = run_search(smooth, PARAMS, known_params=KNOWN, n_jobs=1, show_progress=False).heatmap()
    best = search(max_tries=60).best_value
    assert (grid > best).sum() < 12


def test_reproducible_and_seed_dependent():
    first = search().heatmap()
    assert search().heatmap().equals(first)
    assert search(n_jobs=2).heatmap().equals(first)
    assert not search(random_state=1).heatmap().index.equals(first.index)


def test_dimension_objects_are_searched_as_given():
    real = Real(1e-3, 1, prior="log-uniform")
    result = search(
        lambda p: -abs(math.log10(p["x"]) + 1) + p["k"], {"x": real, "k": Integer(0, 3)}, max_tries=30
    )
    xs = result.heatmap().index.get_level_values("x")
    assert xs.min() >= 1e-3 and xs.max() <= 1 and len(set(xs)) == 30
    assert set(result.heatmap().index.get_level_values("k")) <= {0, 1, 2, 3}
    assert real.name is None  # the user's dimension was not renamed


def test_constraint_points_are_never_evaluated_and_use_no_tries():
    def objective(p):
        if p["n1"] >= p["n2"]:
            raise AssertionError(f"evaluated {p}")
        return smooth(p)

    result = search(objective, constraint=lambda p: p.n1 < p["n2"])
    assert result.n_evaluated == 40
    assert all(n1 < n2 for n1, n2, _, _ in result.heatmap().index)


def test_constraint_that_few_combinations_pass():
    # 3 of the 20 values of n2 and 1 of the 3 kinds: 1 combination in 20 passes; every try is still used
    result = search(constraint=lambda p: p.n2 in (45, 50, 55) and p.kind == "ema", max_tries=25)
    assert result.n_evaluated == 25
    assert set(result.heatmap().index.get_level_values("kind")) == {"ema"}


def test_constraint_nothing_admissible():
    with pytest.raises(
        ValueError,
        match=r"^None of the 30 combinations tried satisfies the 'constraint' of "
        r"Backtest\.optimize\. Loosen the constraint",
    ):
        search(params={"n1": PRIMES, "kind": ["sma", "ema", "wma"]}, constraint=lambda p: False)


def test_constraint_nothing_admissible_in_a_continuous_space(monkeypatch):
    monkeypatch.setattr(_skopt, "MAX_IDLE_ROUNDS", 3)
    # 3 rounds of N_POINTS = 1,000 random candidates, all rejected
    with pytest.raises(ValueError, match=r"^None of the 3000 combinations tried satisfies"):
        search(params={"x": Real(0, 1)}, constraint=lambda p: False)


def test_small_space_is_exhausted_then_stops():
    result = search(params={"n1": [1, 2, 3], "kind": ["a", "b"]}, max_tries=50, objective=lambda p: p["n1"])
    assert result.n_evaluated == 6


def test_nan_ranks_last_and_is_kept():
    result = search(lambda p: math.nan if p["kind"] == "ema" else smooth(p))
    heatmap = result.heatmap()
    assert heatmap.isna().any() and not math.isnan(result.best_value)
    assert result.best_params["kind"] != "ema"


def test_all_nan():
    result = search(lambda p: math.nan, max_tries=10)
    assert result.n_evaluated == 10 and math.isnan(result.best_value)


@pytest.mark.parametrize("estimator", ["gp", "rf", "gbrt", "ET"])
def test_estimators(estimator):
    result = search(estimator=estimator, max_tries=25)
    assert result.n_evaluated == 25


def test_return_optimization_in_the_users_values():
    result = search(return_optimization=True, constraint=lambda p: p.n1 != 2)
    res = result.optimize_result
    heatmap = result.heatmap()
    assert len(res.x_iters) == len(res.func_vals) == result.n_evaluated
    # x_iters: the free parameters' values (the fixed one left out), in evaluation order
    assert [dim.name for dim in res.space.dimensions] == ["n1", "n2", "kind"]
    assert sorted(map(tuple, res.x_iters)) == sorted(key[:3] for key in heatmap.index)
    for x, y in zip(res.x_iters, res.func_vals, strict=True):
        assert y == -heatmap[(*x, 1)]  # skopt minimises
    assert res.x == list(result.best_params.values())[:3] and res.fun == -result.best_value
    # what plots do: transform points of the space and ask the last model
    assert res.models[-1].predict(res.space.transform(res.x_iters)).shape == (40,)
    assert len(res.space.rvs(5)) == 5


@pytest.mark.parametrize("estimator", ["et", "gp"])
def test_user_space_transforms_like_the_search_space(estimator):
    # the model was fit on search-space points (positions); the user space must map values to the same
    space = build_space(PARAMS, KNOWN, "owner")
    mapping = SkoptSpace(space, estimator)
    positions = mapping.skopt.rvs(20, random_state=0)
    values = [[mapping.params(mapping.key(p))[name] for name in ("n1", "n2", "kind")] for p in positions]
    np.testing.assert_array_equal(mapping.user_space().transform(values), mapping.skopt.transform(positions))


def test_penalties_for_nan_and_infinities():
    # finite values seen: 1 and 3 -> negated -1 and -3; margin 2
    # NaN and -inf -> worst + margin = -1 + 2 = 1; +inf -> best - margin = -3 - 2 = -5
    told = minimised([3.0, math.nan, -math.inf, math.inf], [1.0, 3.0, math.nan])
    np.testing.assert_array_equal(told, [-3.0, 1.0, 1.0, -5.0])
    np.testing.assert_array_equal(minimised([2.0], [2.0]), [-2.0])  # one value: margin max(1, |-2|)
    assert np.isnan(minimised([math.nan], [math.nan])).all()


def test_surrogate_proposes_distinct_unseen_points():
    space = build_space({"n1": range(5)}, KNOWN, "owner")
    surrogate = Surrogate(SkoptSpace(space, "et"), "et", seed=0, max_tries=50)
    candidates = surrogate.candidates(seen={(0,), (1,)})
    assert sorted(candidates) == [(2,), (3,), (4,)]
    assert sorted(surrogate.choose(candidates, 2)) in ([(2,), (3,)], [(2,), (4,)], [(3,), (4,)])


# --- method='sambo' (backtesting.py's name): numbers give a range ---------------------------------


def test_sambo_reads_two_numbers_as_a_range_as_backtesting_py_does():
    seen = []
    params = {"n1": [10, 100], "x": [0.5, 2.0], "kind": ["sma", "ema"]}
    study = search(lambda p: seen.append(dict(p)) or -abs(p["n1"] - 37) - abs(p["x"] - 1), params,
                   method="sambo", max_tries=40)
    assert study.n_evaluated == 40 and study.info["method"] == "skopt"
    assert all(10 <= p["n1"] <= 100 and type(p["n1"]) is int and 0.5 <= p["x"] <= 2.0 for p in seen)
    assert len({p["n1"] for p in seen}) > 10 and {p["kind"] for p in seen} <= {"sma", "ema"}
    assert abs(study.best_params["n1"] - 37) <= 10


def test_sambo_with_a_range_object_searches_every_integer_between_its_ends():
    seen = []
    search(lambda p: seen.append(p["n1"]) or 0.0, {"n1": range(10, 100, 30)}, method="sambo", max_tries=20)
    assert not set(seen) <= {10, 40, 70} and min(seen) >= 10 and max(seen) <= 70


def test_sambo_takes_a_fraction_of_the_listed_grid():
    study = search(smooth, {"n1": [10, 100], "n2": range(10), "kind": "ema"}, method="sambo", max_tries=0.5)
    assert study.n_evaluated == 10  # half of the 2 * 10 listed combinations


def test_skopt_warns_when_two_numbers_are_probably_meant_as_a_range():
    from backtestkit.optimize import ListedRangeWarning

    message = ("Backtest.optimize with method='skopt' tries only the two listed values n1=[10, 100]. "
               "For every value between them, write n1=range(10, 101) (or use method='sambo', which reads "
               "two numbers as a range, as backtesting.py does).")
    with pytest.warns(ListedRangeWarning, match=f"^{re.escape(message)}$") as record:
        study = search(smooth, {"n1": [10, 100], "n2": 5, "kind": "sma"})
    assert record[0].filename == __file__  # points at the caller's line
    assert sorted(study.trials_dataframe()["n1"]) == [10, 100]  # still categorical: the two values
    with pytest.warns(ListedRangeWarning, match=r"write x=skopt\.space\.Real\(0\.1, 0\.9\)"):
        search(lambda p: p["x"], {"x": (0.9, 0.1)})


@pytest.mark.parametrize("params", [{"n1": [1, 2]}, {"n1": range(10, 101)}, {"n1": [1, 5, 9]},
                                    {"n1": ["a", "b"]}])
def test_skopt_does_not_warn_for_other_lists(params):
    search(lambda p: 0.0, params, max_tries=2)  # filterwarnings=error turns any warning into a failure
