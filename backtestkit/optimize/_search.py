"""``run_search``: the entry point of every search, and the checks of its options."""

from __future__ import annotations

import datetime
import numbers
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from backtestkit._errors import did_you_mean, param_error, warn
from backtestkit._version import __version__
from backtestkit.optimize._driver import drive
from backtestkit.optimize._euler import Euler
from backtestkit.optimize._genetic import Genetic
from backtestkit.optimize._grid import Grid, GridSelection
from backtestkit.optimize._method import Context, SearchMethod
from backtestkit.optimize._runner import Runner, is_interactive
from backtestkit.optimize._skopt import ESTIMATORS, Skopt, sambo_params
from backtestkit.optimize._space import ParamSpace, build_space, is_number
from backtestkit.optimize._stop import StopRules
from backtestkit.optimize._study import open_study
from backtestkit.optimize._trial import Study

METHODS = ("grid", "skopt", "sambo", "genetic", "euler")
class ListedRangeWarning(UserWarning):
    """A parameter listed as two numbers with method='skopt': only those two values are tried."""

    __module__ = "backtestkit.optimize"


#: Evaluations of method='skopt' when ``max_tries`` is not given.
SKOPT_DEFAULT_TRIES = 200
#: Batches per worker for a grid: few enough that the objective travels rarely, enough for a live bar.
GRID_BATCHES_PER_WORKER = 16


def run_search(
    objective: Callable[[dict[str, Any]], Any],
    params: Mapping[str, Any],
    *,
    known_params: Collection[str],
    owner: str = "Backtest.optimize",
    method: str | SearchMethod = "grid",
    max_tries: int | float | None = None,
    constraint: Callable[[Any], bool] | None = None,
    random_state: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    show_progress: bool | None = None,
    return_optimization: bool = False,
    objective_name: str = "objective",
    estimator: str = "et",
    maximize: bool = True,
    metric_names: Sequence[str] = (),
    storage: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    info: Mapping[str, Any] | None = None,
    target: float | None = None,
    timeout: float | datetime.timedelta | None = None,
    patience: int | None = None,
) -> Study:
    """Search the parameter space for the best value of ``objective``; returns the :class:`Study`.

    Every option is checked before the objective runs once.

    Args:
        objective: ``objective(params)`` returns a real number (or NaN, ranked last), or an
            :class:`Outcome`. It must pickle (it is sent to worker processes, once per batch).
        params: parameter name -> candidates: a range, list, tuple, set (sorted), numpy array or
            pandas Index; a scalar or a string is one fixed value; with method='skopt', also a
            scikit-optimize ``Dimension`` such as ``Real(1e-3, 1, prior='log-uniform')``.
        known_params: the names ``params`` may use.
        owner: who is asking, for error messages and the progress bar.
        method: 'grid' (every admissible combination, or a random sample of ``max_tries``), 'skopt'
            (scikit-optimize's surrogate-model search; a two-number list warns, as it is probably
            meant as a range), 'sambo' (backtesting.py's meaning: a numeric parameter's candidates
            give a range from the smallest to the largest, searched by 'skopt'), 'genetic'
            (:class:`Genetic`), 'euler' (:class:`Euler`), or a :class:`SearchMethod` object.
        max_tries: an int >= 1 (that many evaluations) or a float in (0, 1] (that fraction of the
            admissible grid). Default: the whole grid for 'grid', 200 for 'skopt' and 'sambo', the
            method's own budget for 'genetic' and 'euler'. Not with a method object, which carries
            its own budget.
        constraint: ``constraint(p) -> bool`` on one combination, read as ``p.n1`` or ``p['n1']``;
            failing combinations are never evaluated.
        random_state: seed or numpy Generator (one number is drawn from it) for sampling and skopt.
        n_jobs: parallel workers; None means all cores (-1); 1 runs in this process.
        show_progress: a progress bar on stderr, and a one-line summary when done; None shows them in
            a terminal or a Jupyter kernel.
        return_optimization: keep skopt's ``OptimizeResult`` in ``study.optimize_result``.
        objective_name: the objective's name (the heatmap Series' name).
        estimator: skopt's surrogate model: 'et' (extra trees), 'gp', 'rf' or 'gbrt'.
        maximize: whether higher values of the objective are better.
        metric_names: the stats keys of each :class:`Outcome`'s metrics.
        storage: a SQLite file to save the study in as it runs; running the same search again with the
            same file resumes it.
        study_name: the study's name in ``storage`` (default: the objective's name).
        info: what the caller knows of the search (strategy, data, settings), recorded in the study
            and compared when a stored study resumes.
        target: stop once the best value reaches this (>= when maximising, <= when minimising).
        timeout: stop once this many seconds (or a ``datetime.timedelta``) have passed.
        patience: stop after this many evaluations in a row without improving on the best value.
            The stop rules are checked after every batch; a stopped study has the state 'stopped' and
            the reason in ``study.info['stopped']``, and a resumed one goes on (the rules are not part
            of what must match).

    Returns:
        The :class:`Study` of every evaluated combination.

    Raises:
        TypeError: an argument of the wrong type (e.g. a constraint that is not callable).
        ValueError: a bad argument, an unknown parameter name, or no admissible combination;
            a stored study that differs from this search (StoreError).
        The objective's exception type (or RuntimeError): the objective raised; the message names
            the combination and says which trials are kept.
        SearchInterrupted: Ctrl-C; the finished trials are in its ``.study`` (and saved).

    >>> study = run_search(lambda p: -(p['x'] - 3) ** 2, {'x': range(6)}, known_params=['x'], n_jobs=1)
    >>> study.best_params, study.best_value, study.n_evaluated
    ({'x': 3}, 0.0, 6)
    """
    if not callable(objective):
        raise param_error(owner, "objective", "callable", objective, exc=TypeError)
    space, search = resolve_search(owner, method, params, known_params, max_tries, constraint,
                                   return_optimization, estimator)
    _check_runner_options(owner, n_jobs, show_progress)
    stop = StopRules(target=target, timeout=timeout, patience=patience, maximize=maximize, owner=owner)
    show = is_interactive() if show_progress is None else show_progress
    entropy = _entropy(owner, random_state)
    record = {**(info or {}), "space": space.describe(), "method": search.name, "options": search.options(),
              "seed": entropy, "objective": objective_name, "maximize": maximize,
              "metrics": list(metric_names), "version": __version__, "stop": stop.describe(),
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    study = Study(param_names=space.names, objective=objective_name, maximize=maximize,
                  metric_names=metric_names, decode=space.decode, decode_columns=space.decode_columns,
                  info=record)
    store, study_id = None, None
    if storage is not None:
        store, study_id = open_study(storage, study_name or objective_name, study, owner,
                                     seed_given=random_state is not None)
    context = Context(constraint, np.random.SeedSequence(study.info["seed"]), maximize, owner)
    runner = Runner(objective, n_jobs=-1 if n_jobs is None else n_jobs, show_progress=show, owner=owner)
    try:
        drive(search, space, study, runner, context, store=store, study_id=study_id,
              batches_per_worker=GRID_BATCHES_PER_WORKER, show_summary=show, stop=stop)
    finally:
        if store is not None:
            store.close()
    return study


def resolve_search(owner: str, method: Any, params: dict[str, Any], known_params: Any, max_tries: Any,
                   constraint: Any, return_optimization: Any,
                   estimator: Any) -> tuple[ParamSpace, SearchMethod]:
    """The parameter space and the search method object of a search's options, checked."""
    max_tries = _check_max_tries(owner, max_tries)
    if method == "sambo":  # backtesting.py's meaning: numbers give a range from their min to their max
        if isinstance(max_tries, float):
            max_tries = _grid_total(owner, build_space(params, known_params, owner), constraint, max_tries)
        params = sambo_params(build_space(params, known_params, owner), params)
    space = build_space(params, known_params, owner)
    if method == "skopt" or isinstance(method, Skopt):
        _warn_two_numbers(owner, params)
    return space, _method(owner, method, space, max_tries, constraint, return_optimization, estimator)


def _method(owner: str, method: Any, space: ParamSpace, max_tries: int | float | None, constraint: Any,
            return_optimization: Any, estimator: Any) -> SearchMethod:
    """The search method object for ``method`` (a name or an object), checked against the space."""
    if constraint is not None and not callable(constraint):
        raise param_error(owner, "constraint", "a callable or None", constraint, exc=TypeError)
    if not isinstance(return_optimization, bool):
        raise param_error(owner, "return_optimization", "True or False", return_optimization, exc=TypeError)
    if not isinstance(estimator, str) or estimator.lower() not in ESTIMATORS:
        raise param_error(owner, "estimator", "one of 'et', 'gp', 'rf', 'gbrt'", estimator)
    if isinstance(method, SearchMethod):
        if max_tries is not None:
            raise param_error(owner, "max_tries", f"None with a method object ({method!r})", max_tries,
                              hint=f"The object carries its own budget: pass max_tries to "
                                   f"{type(method).__name__}(...) instead.")
        search = method
    elif method in ("grid", "genetic", "euler") and return_optimization:
        raise param_error(owner, "return_optimization", f"False with method={method!r}", True,
                          hint="It returns scikit-optimize's OptimizeResult: use method='skopt'.")
    elif method == "grid":
        search = Grid(max_tries)
    elif method in ("skopt", "sambo", "genetic", "euler"):
        if isinstance(max_tries, float):  # a fraction of the admissible grid, counted as for 'grid'
            max_tries = _grid_total(owner, space, constraint, max_tries)
        if method == "genetic":
            search = Genetic(max_tries=max_tries)
        elif method == "euler":
            search = Euler(max_tries=max_tries)
        else:
            search = Skopt(max_tries or SKOPT_DEFAULT_TRIES, estimator.lower(),
                           return_optimization=return_optimization)
    else:
        valid = "'grid', 'skopt', 'sambo', 'genetic', 'euler' or a SearchMethod object"
        raise param_error(owner, "method", valid, method, hint=did_you_mean(str(method), METHODS))
    search.check(space, owner)
    return search


def _grid_total(owner: str, space: ParamSpace, constraint: Any, max_tries: float) -> int:
    """A fraction of the admissible grid as a number of evaluations (as method='grid' counts it)."""
    if space.has_dimensions:
        raise param_error(owner, "max_tries",
                          "an int with a scikit-optimize Dimension (the grid is not finite)", max_tries)
    return GridSelection(space, constraint, max_tries, np.random.default_rng(0), owner).total


def _warn_two_numbers(owner: str, params: Mapping[str, Any]) -> None:
    """Warn for each parameter listed as two numbers: with method='skopt' those are the only two
    values tried, where backtesting.py's method='sambo' reads them as a range."""
    for name, value in params.items():
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value)) \
                and abs(value[0] - value[1]) > all(isinstance(v, numbers.Integral) for v in value):
            low, high = sorted(value)
            as_range = (f"range({low}, {high + 1})" if all(isinstance(v, numbers.Integral) for v in value)
                        else f"skopt.space.Real({low}, {high})")
            warn(f"{owner} with method='skopt' tries only the two listed values {name}={list(value)!r}. "
                 f"For every value between them, write {name}={as_range} (or use method='sambo', "
                 "which reads two numbers as a range, as backtesting.py does).", ListedRangeWarning)


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


def _check_runner_options(owner: str, n_jobs: Any, show_progress: Any) -> None:
    if n_jobs is not None and (
        not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool) or n_jobs == 0
    ):
        raise param_error(owner, "n_jobs", "a non-zero int (-1 for all cores) or None", n_jobs)
    if show_progress is not None and not isinstance(show_progress, bool):
        raise param_error(owner, "show_progress", "True, False or None", show_progress, exc=TypeError)


def _entropy(owner: str, random_state: Any) -> int:
    """The seed of the search's random choices (fresh entropy for None; a resumed study keeps its own)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if random_state is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state >= 0:
            return int(random_state)
    raise param_error(owner, "random_state", "an int >= 0, a numpy Generator or None", random_state)
