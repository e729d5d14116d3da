"""``run_search``: the entry point of every search, and the checks of its options."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from backtestkit._errors import did_you_mean, param_error
from backtestkit.optimize._grid import GridSelection
from backtestkit.optimize._result import SearchResult, build_result, grid_result
from backtestkit.optimize._runner import Runner, is_interactive
from backtestkit.optimize._skopt import ESTIMATORS, skopt_search
from backtestkit.optimize._space import ParamSpace, build_space

METHODS = ("grid", "skopt")
#: Evaluations of method='skopt' when ``max_tries`` is not given.
SKOPT_DEFAULT_TRIES = 200
#: Batches per worker for a grid: few enough that the objective travels rarely, enough for a live bar.
GRID_BATCHES_PER_WORKER = 16


def run_search(
    objective: Callable[[dict[str, Any]], float],
    params: Mapping[str, Any],
    *,
    known_params: Collection[str],
    owner: str = "Backtest.optimize",
    method: str = "grid",
    max_tries: int | float | None = None,
    constraint: Callable[[Any], bool] | None = None,
    random_state: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    show_progress: bool | None = None,
    return_optimization: bool = False,
    objective_name: str | None = "objective",
    estimator: str = "et",
) -> SearchResult:
    """Search the parameter space for the combination that maximises ``objective``.

    Every option is checked before the objective runs once.

    Args:
        objective: ``objective(params) -> float``, higher is better, NaN ranks last. It must pickle
            (it is sent to worker processes, once per batch of combinations).
        params: parameter name -> candidates: a range, list, tuple, set (sorted), numpy array or
            pandas Index; a scalar or a string is one fixed value; with method='skopt', also a
            scikit-optimize ``Dimension`` such as ``Real(1e-3, 1, prior='log-uniform')``.
        known_params: the names ``params`` may use.
        owner: who is asking, for error messages and the progress bar.
        method: 'grid' (every admissible combination, or a random sample of ``max_tries``) or
            'skopt' (scikit-optimize's surrogate-model search).
        max_tries: an int >= 1 (that many evaluations) or a float in (0, 1] (that fraction of the
            admissible grid). Default: the whole grid for 'grid', 200 for 'skopt'.
        constraint: ``constraint(p) -> bool`` on one combination, read as ``p.n1`` or ``p['n1']``;
            failing combinations are never evaluated.
        random_state: seed or numpy Generator (one number is drawn from it) for sampling and skopt.
        n_jobs: parallel workers; None means all cores (-1); 1 runs in this process.
        show_progress: a progress bar on stderr; None shows it in a terminal or a Jupyter kernel.
        return_optimization: also return skopt's ``OptimizeResult`` (method='skopt' only).
        objective_name: the name of the heatmap Series.
        estimator: skopt's surrogate model: 'et' (extra trees), 'gp', 'rf' or 'gbrt'.

    Returns:
        A :class:`SearchResult`.

    Raises:
        TypeError: an argument of the wrong type (e.g. a constraint that is not callable).
        ValueError: a bad argument, an unknown parameter name, or no admissible combination.
        The objective's exception type (or RuntimeError): the objective raised; the message names
            the combination.

    >>> result = run_search(lambda p: -(p['x'] - 3) ** 2, {'x': range(6)}, known_params=['x'], n_jobs=1)
    >>> result.best_params, result.best_value, result.n_evaluated
    ({'x': 3}, 0.0, 6)
    """
    if not callable(objective):
        raise param_error(owner, "objective", "callable", objective, exc=TypeError)
    space = build_space(params, known_params, owner)
    max_tries = _check_max_tries(owner, max_tries)
    _check_options(space, owner, method, max_tries, constraint, return_optimization, estimator)
    _check_runner_options(owner, n_jobs, show_progress)
    options = {
        "n_jobs": -1 if n_jobs is None else n_jobs,
        "show_progress": is_interactive() if show_progress is None else show_progress,
        "owner": owner,
    }
    sampler_seed, skopt_seed = _seeds(owner, random_state)
    rng = np.random.default_rng(sampler_seed)
    if method == "skopt":
        if isinstance(max_tries, float):  # a fraction of the admissible grid, counted as for 'grid'
            max_tries = GridSelection(space, constraint, max_tries, rng, owner).total
        return _run_skopt(
            objective,
            space,
            options,
            constraint,
            max_tries or SKOPT_DEFAULT_TRIES,
            skopt_seed,
            estimator.lower(),
            return_optimization,
            objective_name,
        )
    grid = GridSelection(space, constraint, max_tries, rng, owner)
    # what each result is, compactly: a candidate position per parameter, in the smallest integer type
    positions = np.min_scalar_type(max(len(candidates) for candidates in space.candidates))
    codes = np.empty((grid.total, len(space.names)), dtype=positions)
    values = np.empty(grid.total, dtype=float)
    done = 0
    with Runner(objective, total=grid.total, **options) as runner:
        items = ((key, space.decode(key)) for key in grid)
        for keys, batch in runner.map_batches(items, grid.total, GRID_BATCHES_PER_WORKER):
            codes[done : done + len(keys)] = keys
            values[done : done + len(keys)] = batch
            done += len(keys)
    return grid_result(space, codes[:done], values[:done], objective_name, n_admissible=grid.n_admissible)


def _run_skopt(
    objective: Callable[[dict[str, Any]], float],
    space: ParamSpace,
    options: dict[str, Any],
    constraint: Callable[[Any], Any] | None,
    max_tries: int,
    seed: int,
    estimator: str,
    return_optimization: bool,
    objective_name: str | None,
) -> SearchResult:
    with Runner(objective, total=max_tries, **options) as runner:
        records, result = skopt_search(
            space,
            runner,
            constraint=constraint,
            max_tries=max_tries,
            seed=seed,
            estimator=estimator,
            owner=options["owner"],
            return_optimization=return_optimization,
        )
    return build_result(records, space.names, objective_name, optimize_result=result)


def _check_options(
    space: ParamSpace,
    owner: str,
    method: Any,
    max_tries: Any,
    constraint: Any,
    return_optimization: Any,
    estimator: Any,
) -> None:
    """Check the search options (everything but the runner's and ``max_tries``) against each other."""
    if method not in METHODS:
        valid = "'grid' or 'skopt'"
        sambo = "backtestkit searches with scikit-optimize: use method='skopt'."
        hint = sambo if method == "sambo" else did_you_mean(str(method), METHODS)
        raise param_error(owner, "method", valid, method, hint=hint)
    if constraint is not None and not callable(constraint):
        raise param_error(owner, "constraint", "a callable or None", constraint, exc=TypeError)
    if not isinstance(return_optimization, bool):
        raise param_error(owner, "return_optimization", "True or False", return_optimization, exc=TypeError)
    if not isinstance(estimator, str) or estimator.lower() not in ESTIMATORS:
        raise param_error(owner, "estimator", "one of 'et', 'gp', 'rf', 'gbrt'", estimator)
    if method == "grid":
        _check_grid(space, owner, return_optimization)
    else:
        _check_skopt(space, owner, max_tries)


def _check_max_tries(owner: str, max_tries: Any) -> int | float | None:
    """``max_tries`` as an int >= 1, a float in (0, 1] or None (numpy numbers become Python ones)."""
    if max_tries is None:
        return None
    if isinstance(max_tries, numbers.Integral) and not isinstance(max_tries, bool) and max_tries >= 1:
        return int(max_tries)
    if isinstance(max_tries, numbers.Real) and not isinstance(max_tries, (bool, numbers.Integral)):
        if 0 < max_tries <= 1:
            return float(max_tries)
    raise param_error(owner, "max_tries", "an int >= 1, a float in (0, 1] or None", max_tries)


def _check_grid(space: ParamSpace, owner: str, return_optimization: bool) -> None:
    if return_optimization:
        raise param_error(
            owner,
            "return_optimization",
            "False with method='grid'",
            True,
            hint="It returns scikit-optimize's OptimizeResult: use method='skopt'.",
        )
    for name, dimension in zip(space.names, space.dimensions, strict=True):
        if dimension is not None:
            raise param_error(
                owner,
                name,
                "a list of candidate values with method='grid'",
                dimension,
                hint="scikit-optimize dimensions need method='skopt'.",
            )


def _check_skopt(space: ParamSpace, owner: str, max_tries: Any) -> None:
    if all(cands is not None and len(cands) == 1 for cands in space.candidates):
        raise ValueError(
            f"{owner} with method='skopt' needs a parameter with two or more candidates; "
            "every parameter has one value. Use method='grid' to run that single combination."
        )
    if isinstance(max_tries, float) and space.has_dimensions:
        raise param_error(
            owner, "max_tries", "an int with a scikit-optimize Dimension (the grid is not finite)", max_tries
        )


def _check_runner_options(owner: str, n_jobs: Any, show_progress: Any) -> None:
    if n_jobs is not None and (
        not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0
    ):
        raise param_error(owner, "n_jobs", "a non-zero int (-1 for all cores) or None", n_jobs)
    if show_progress is not None and not isinstance(show_progress, bool):
        raise param_error(owner, "show_progress", "True, False or None", show_progress, exc=TypeError)


def _seeds(owner: str, random_state: Any) -> tuple[np.random.SeedSequence, int]:
    """Independent seeds for grid sampling and for skopt, split from ``random_state``."""
    if isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(2**63))
    elif random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
        and random_state >= 0
    ):
        entropy = None if random_state is None else int(random_state)
    else:
        raise param_error(owner, "random_state", "an int >= 0, a numpy Generator or None", random_state)
    sampler, skopt = np.random.SeedSequence(entropy).spawn(2)
    return sampler, int(skopt.generate_state(1)[0])
