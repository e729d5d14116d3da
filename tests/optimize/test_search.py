"""run_search: validation, the grid method, max_tries, constraints, NaN, the heatmap."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tracemalloc
import warnings

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from skopt.space import Real

from backtestkit.optimize import Genetic, Study, run_search
from backtestkit.optimize._space import ParamSpace

# workers unpickle this module's objectives by value, wherever pytest was started from
cloudpickle.register_pickle_by_value(sys.modules[__name__])

KNOWN = ["n1", "n2", "kind"]
OWNER = "Backtest.optimize"


def bowl(p):
    """Peak 0 at n1=3, n2=7."""
    return -((p["n1"] - 3) ** 2 + (p["n2"] - 7) ** 2)


def search(objective=bowl, params=None, **kwargs):
    kwargs.setdefault("n_jobs", 1)
    kwargs.setdefault("show_progress", False)
    params = params if params is not None else {"n1": range(10), "n2": 7}
    return run_search(objective, params, known_params=KNOWN, **kwargs)


def must(name, expected, got, extra=""):
    return f"The {name!r} parameter of {OWNER} must be {expected}. Got {got} instead.{extra}"


MAX_TRIES = must("max_tries", "an int >= 1, a float in (0, 1] or None", "{}")

METHODS = "'grid', 'skopt', 'sambo', 'genetic', 'euler' or a SearchMethod object"
VALIDATION = [
    # (params, kwargs, exception, the whole message)
    (
        {},
        {},
        ValueError,
        f"{OWNER} needs at least one parameter to search over, e.g. n1=range(5, 30, 5). "
        "Known parameters: 'kind', 'n1', 'n2'.",
    ),
    (
        {"n3": [1]},
        {},
        ValueError,
        f"Unknown parameter 'n3' for {OWNER}. Known: 'kind', 'n1', 'n2'. Did you mean 'n2'?",
    ),
    ({"zzz": [1]}, {}, ValueError, f"Unknown parameter 'zzz' for {OWNER}. Known: 'kind', 'n1', 'n2'."),
    (
        {"n1": []},
        {},
        ValueError,
        must("n1", "a non-empty collection of candidate values, or a single value", "[]"),
    ),
    (
        {"n1": range(0)},
        {},
        ValueError,
        must("n1", "a non-empty collection of candidate values, or a single value", "range(0, 0)"),
    ),
    (
        {"n1": [1]},
        {"method": "gird"},
        ValueError,
        must("method", METHODS, "'gird'", " Did you mean 'grid'?"),
    ),
    (
        {"n1": [1]},
        {"method": "genetik"},
        ValueError,
        must("method", METHODS, "'genetik'", " Did you mean 'genetic'?"),
    ),
    ({"n1": [1]}, {"max_tries": 0}, ValueError, MAX_TRIES.format("0")),
    (
        {"n1": [1, 2]},
        {"method": Genetic(population_size=4), "max_tries": 10},
        ValueError,
        must("max_tries", f"None with a method object ({Genetic(population_size=4)!r})", "10",
             " The object carries its own budget: pass max_tries to Genetic(...) instead."),
    ),
    (
        {"n1": [1, 2]},
        {"method": "euler", "return_optimization": True},
        ValueError,
        must("return_optimization", "False with method='euler'", "True",
             " It returns scikit-optimize's OptimizeResult: use method='skopt'."),
    ),
    (
        {"n1": Real(0, 1)},
        {"method": "euler"},
        ValueError,
        must("n1", "a list of candidate values with method='euler'",
             "Real(low=0, high=1, prior='uniform', transform='identity')",
             " scikit-optimize dimensions need method='skopt' or method='genetic'."),
    ),
    ({"n1": [1]}, {"max_tries": -3}, ValueError, MAX_TRIES.format("-3")),
    ({"n1": [1]}, {"max_tries": 1.5}, ValueError, MAX_TRIES.format("1.5")),
    ({"n1": [1]}, {"max_tries": 0.0}, ValueError, MAX_TRIES.format("0.0")),
    ({"n1": [1]}, {"max_tries": math.nan}, ValueError, MAX_TRIES.format("nan")),
    ({"n1": [1]}, {"max_tries": True}, ValueError, MAX_TRIES.format("True")),
    ({"n1": [1]}, {"max_tries": "10"}, ValueError, MAX_TRIES.format("'10'")),
    (
        {"n1": [1]},
        {"return_optimization": True},
        ValueError,
        must(
            "return_optimization",
            "False with method='grid'",
            "True",
            " It returns scikit-optimize's OptimizeResult: use method='skopt'.",
        ),
    ),
    ({"n1": [1]}, {"return_optimization": 1}, TypeError, must("return_optimization", "True or False", "1")),
    ({"n1": [1]}, {"constraint": 5}, TypeError, must("constraint", "a callable or None", "5")),
    (
        {"n1": [1]},
        {"n_jobs": 0},
        ValueError,
        must("n_jobs", "a non-zero int (-1 for all cores) or None", "0"),
    ),
    (
        {"n1": [1]},
        {"n_jobs": 1.5},
        ValueError,
        must("n_jobs", "a non-zero int (-1 for all cores) or None", "1.5"),
    ),
    ({"n1": [1]}, {"show_progress": "yes"}, TypeError, must("show_progress", "True, False or None", "'yes'")),
    (
        {"n1": [1]},
        {"random_state": -1},
        ValueError,
        must("random_state", "an int >= 0, a numpy Generator or None", "-1"),
    ),
    (
        {"n1": [1]},
        {"random_state": 1.5},
        ValueError,
        must("random_state", "an int >= 0, a numpy Generator or None", "1.5"),
    ),
    (
        {"n1": [1]},
        {"estimator": "xgb"},
        ValueError,
        must("estimator", "one of 'et', 'gp', 'rf', 'gbrt'", "'xgb'"),
    ),
    (
        {"n1": Real(0, 1)},
        {},
        ValueError,
        must(
            "n1",
            "a list of candidate values with method='grid'",
            "Real(low=0, high=1, prior='uniform', transform='identity')",
            " scikit-optimize dimensions need method='skopt'.",
        ),
    ),
    (
        {"n1": [1], "n2": 2},
        {"method": "skopt"},
        ValueError,
        (
            f"{OWNER} with method='skopt' needs a parameter with two or more candidates; "
            "every parameter has one value. Use method='grid' to run that single combination."
        ),
    ),
    (
        {"n1": Real(0, 1), "n2": [1, 2]},
        {"method": "skopt", "max_tries": 0.5},
        ValueError,
        must("max_tries", "an int with a scikit-optimize Dimension (the grid is not finite)", "0.5"),
    ),
    (
        {"n1": [1, 2]},
        {"constraint": lambda p: False},
        ValueError,
        (
            f"None of the 2 combinations satisfies the 'constraint' of {OWNER}. "
            "Loosen the constraint or widen the parameter ranges."
        ),
    ),
]


@pytest.mark.parametrize(("params", "kwargs", "exception", "message"), VALIDATION)
def test_bad_arguments_raise_before_any_objective_call(params, kwargs, exception, message):
    def objective(p):
        raise AssertionError("the objective must not run")

    with pytest.raises(exception, match=f"^{re.escape(message)}$"):
        search(objective, params, **kwargs)


def test_objective_must_be_callable():
    with pytest.raises(TypeError, match=re.escape(must("objective", "callable", "3"))):
        run_search(3, {"n1": [1]}, known_params=KNOWN)


def test_owner_names_the_caller():
    with pytest.raises(ValueError, match=r"^The 'max_tries' parameter of Backtest\.run_grid must be"):
        search(params={"n1": [1]}, owner="Backtest.run_grid", max_tries=0)


def test_grid_is_complete_and_deduplicated():
    calls = []
    result = search(
        lambda p: calls.append(p) or bowl(p), {"n1": [1, 3, 3, 2], "n2": (7, 5, 7), "kind": "sma"}
    )
    # 3 distinct n1 x 2 distinct n2 x 1 kind = 6 runs, each combination once
    assert sorted((c["n1"], c["n2"]) for c in calls) == [(1, 5), (1, 7), (2, 5), (2, 7), (3, 5), (3, 7)]
    assert all(c["kind"] == "sma" for c in calls)
    assert (result.n_evaluated, result.n_admissible) == (6, 6)
    assert result.best_params == {"n1": 3, "n2": 7, "kind": "sma"} and result.best_value == 0


def test_heatmap_shape_names_and_order():
    result = search(params={"n2": [9, 7], "n1": {3, 1}}, objective_name="SQN")
    heatmap = result.heatmap()
    # rows sorted by (n2, n1), as given; -((n1-3)^2 + (n2-7)^2):
    # (7, 1) -> -(4 + 0) = -4; (7, 3) -> 0; (9, 1) -> -(4 + 4) = -8; (9, 3) -> -(0 + 4) = -4
    expected = pd.Series(
        [-4.0, 0.0, -8.0, -4.0],
        name="SQN",
        index=pd.MultiIndex.from_tuples([(7, 1), (7, 3), (9, 1), (9, 3)], names=["n2", "n1"]),
    )
    pd.testing.assert_series_equal(heatmap, expected)
    assert heatmap.index.is_monotonic_increasing


def test_one_parameter_heatmap_has_a_one_level_multiindex():
    heatmap = search(lambda p: p["n1"] / 2, {"n1": [2, 1]}).heatmap()
    assert isinstance(heatmap.index, pd.MultiIndex) and heatmap.index.names == ["n1"]
    assert heatmap.to_dict() == {(1,): 0.5, (2,): 1.0}


def test_constraint_prunes_before_evaluation():
    def objective(p):  # raises, so a failing combination would be seen, even in another process
        if not p["n1"] < p["n2"]:
            raise AssertionError(f"evaluated {p}")
        return bowl(p)

    for n_jobs in (1, 2):
        result = search(
            objective, {"n1": range(5), "n2": range(5)}, constraint=lambda p: p.n1 < p["n2"], n_jobs=n_jobs
        )
        assert result.n_evaluated == result.n_admissible == 10  # 4 + 3 + 2 + 1 pairs with n1 < n2
        assert all(n1 < n2 for n1, n2 in result.heatmap().index)


def test_constraint_that_raises_names_the_combination():
    with pytest.raises(
        AttributeError,
        match=r"^The constraint of Backtest\.optimize raised AttributeError for "
        r"the combination n1=0: This combination has no parameter 'n9'",
    ):
        search(params={"n1": range(3)}, constraint=lambda p: p.n9 > 0)


@pytest.mark.parametrize(
    ("max_tries", "expected"), [(1, 1), (17, 17), (45, 45), (100, 45), (0.2, 9), (1.0, 45)]
)
def test_max_tries_exact_counts(max_tries, expected):
    # n1 < n2 on 10 x 10: 45 admissible; 0.2 * 45 = 9
    result = search(
        params={"n1": range(10), "n2": range(10)},
        constraint=lambda p: p.n1 < p.n2,
        max_tries=max_tries,
        random_state=0,
    )
    assert result.n_evaluated == len(result.heatmap()) == expected
    assert not result.heatmap().index.has_duplicates


def test_numpy_max_tries():
    params = {"n1": range(10), "n2": range(10)}
    assert search(params=params, max_tries=np.int64(7), random_state=0).n_evaluated == 7
    assert search(params=params, max_tries=np.float32(0.25), random_state=0).n_evaluated == 25


def test_max_tries_is_reproducible_for_any_n_jobs():
    params = {"n1": range(30), "n2": range(30)}
    first = search(params=params, max_tries=25, random_state=7).heatmap()
    pd.testing.assert_series_equal(
        search(params=params, max_tries=25, random_state=7, n_jobs=2).heatmap(), first
    )
    generator_seeded = search(params=params, max_tries=25, random_state=np.random.default_rng(7)).heatmap()
    assert len(generator_seeded) == 25
    assert not search(params=params, max_tries=25, random_state=8).heatmap().index.equals(first.index)


def test_ten_million_combinations_with_max_tries_start_at_once(monkeypatch):
    decoded = []
    decode = ParamSpace.decode
    monkeypatch.setattr(
        ParamSpace, "decode", lambda self, codes: decoded.append(codes) or decode(self, codes)
    )
    params = {name: range(10) for name in "abcdefg"}  # 10**7 combinations
    tracemalloc.start()
    try:
        result = run_search(
            lambda p: float(p["a"]),
            params,
            known_params=params,
            max_tries=100,
            constraint=lambda p: True,
            n_jobs=1,
            show_progress=False,
            random_state=0,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.n_evaluated == 100
    # decoded for the constraint and for the objective (the heatmap is built from the codes): 2 each
    assert len(decoded) == 200
    assert peak < 5_000_000  # bytes; a list of 10**7 combinations would take gigabytes


def test_nan_ranks_last():
    result = search(lambda p: math.nan if p["n1"] != 2 else -5.0, {"n1": range(4)})
    assert result.best_params == {"n1": 2} and result.best_value == -5.0
    assert result.heatmap().isna().sum() == 3  # NaN rows are kept


def test_all_nan_picks_the_first_combination():
    result = search(lambda p: math.nan, {"n1": [2, 1]})
    assert result.best_params == {"n1": 1} and math.isnan(result.best_value)


def test_ties_go_to_the_first_in_heatmap_order():
    assert search(lambda p: 1.0, {"n1": [5, 3, 4]}).best_params == {"n1": 3}


def test_objective_error_names_the_combination():
    def objective(p):
        if p["n1"] == 2:
            raise ZeroDivisionError("division by zero")
        return 0.0

    for n_jobs in (1, 2):
        with pytest.raises(ZeroDivisionError) as info:
            search(objective, {"n1": range(4), "kind": "sma"}, n_jobs=n_jobs)
        assert str(info.value) == (
            "The objective of Backtest.optimize raised ZeroDivisionError "
            "for the combination n1=2, kind='sma': division by zero"
        )
        assert isinstance(info.value.__cause__, ZeroDivisionError)  # raised from the original


def test_objective_must_return_a_number():
    with pytest.raises(
        TypeError,
        match=r"for the combination n1=0: The objective must return a number \(or NaN\)\. "
        r"Got 'high' of type str instead\.$",
    ):
        search(lambda p: "high", {"n1": [0]})


def test_result_is_a_search_result():
    result = search()
    assert isinstance(result, Study) and result.optimize_result is None
    assert result.heatmap().dtype == np.float64 and result.heatmap().name == "objective"


def _oracle_strategy():
    """A backtesting.py strategy that makes n1 * 5 + n2 trades, defined at module level so that the
    oracle's worker processes can unpickle it."""
    from backtesting import Strategy

    global Trader

    class Trader(Strategy):
        n1 = 1
        n2 = 0

        def init(self):
            pass

        def next(self):  # one bar in, one bar out, until n1 * 5 + n2 trades
            if self.position:
                self.position.close()
            elif len(self.closed_trades) + len(self.trades) < self.n1 * 5 + self.n2:
                self.buy()

    return Trader


def test_heatmap_matches_backtesting_py():
    """Differential: backtesting.py 0.6.6's heatmap for maximize='# Trades' equals ours for an objective
    computing the same number of trades from the parameters (structure, names, values), up to row order."""
    from backtesting import Backtest
    from backtesting.test import GOOG

    strategy = _oracle_strategy()
    bt = Backtest(GOOG.iloc[:60], strategy, finalize_trades=True)
    cases = [({"n1": [3, 1, 2]}, None), ({"n1": [1, 2, 3], "n2": [5, 4]}, lambda p: p.n1 < p.n2 - 2)]
    for params, constraint in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the oracle's own warnings
            _, theirs = bt.optimize(**params, maximize="# Trades", constraint=constraint, return_heatmap=True)
        ours = run_search(
            lambda p: p["n1"] * 5 + p.get("n2", 0),
            params,
            known_params=["n1", "n2"],
            constraint=constraint,
            n_jobs=1,
            show_progress=False,
            objective_name="# Trades",
        )
        pd.testing.assert_series_equal(ours.heatmap(), theirs.sort_index())


def test_importing_the_search_loads_no_heavy_dependency():
    code = """
import sys
import backtestkit
before = set(sys.modules)
import backtestkit.optimize
loaded = {name.split('.')[0] for name in set(sys.modules) - before}
print(sorted(loaded & {'bokeh', 'skopt', 'sklearn', 'joblib', 'tqdm'}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # they load when a search runs
