"""What a search would cost, before running it: how many combinations, how many runs, how long.

:func:`estimate_search` checks a search's options as :func:`run_search` does, counts the admissible
combinations, works out how many the method would evaluate, times a few runs of the objective in this
process and divides by the workers the current joblib backend would give (``parallel_config`` is
honoured). ``Backtest.optimize(..., dry_run=True)`` returns it instead of searching.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtestkit._errors import param_error
from backtestkit.optimize._grid import Grid, GridSelection
from backtestkit.optimize._search import _check_runner_options, _entropy, resolve_search
from backtestkit.optimize._space import ParamSpace, admits

#: Random draws per wanted timing combination before the constraint is deemed to admit too few.
_DRAWS = 1000


@dataclass(frozen=True)
class Estimate:
    """The cost of a search, estimated before it runs.

    Attributes:
        method: the search method's name.
        n_combinations: combinations in the full grid (None when a parameter is a scikit-optimize
            dimension).
        n_admissible: how many of them pass the constraint (None when the grid is not finite).
        n_evaluations: how many runs the method plans (None when the method does not say).
        seconds_per_run: the median time of the timed runs, in this process.
        n_timed: how many runs were timed.
        n_workers: the parallel workers the search would use (joblib's current backend, ``n_jobs``).
        wall_seconds: ``n_evaluations * seconds_per_run / min(n_workers, n_evaluations)``: the
            runs alone, without starting the workers and sending them the data (None when the number
            of evaluations is not known).
    """

    method: str
    n_combinations: int | None
    n_admissible: int | None
    n_evaluations: int | None
    seconds_per_run: float
    n_timed: int
    n_workers: int
    wall_seconds: float | None

    def __repr__(self) -> str:
        grid = "a space with continuous dimensions" if self.n_combinations is None else \
            f"{self.n_combinations:,} combinations, {self.n_admissible:,} admissible"
        runs = "an unknown number of runs" if self.n_evaluations is None else \
            f"{self.n_evaluations:,} run{'s' * (self.n_evaluations != 1)}"
        workers = f"{self.n_workers} worker{'s' * (self.n_workers != 1)}"
        wall = "" if self.wall_seconds is None else f" -> about {_duration(self.wall_seconds)} on {workers}"
        return (f"<Estimate: {grid}; {self.method} plans {runs} of {_duration(self.seconds_per_run)} "
                f"(timed on {self.n_timed}){wall}>")


def estimate_search(
    objective: Callable[[dict[str, Any]], Any],
    params: Mapping[str, Any],
    *,
    known_params: Collection[str],
    owner: str = "estimate_search",
    method: Any = "grid",
    max_tries: int | float | None = None,
    constraint: Callable[[Any], bool] | None = None,
    random_state: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    estimator: str = "et",
    n_timed: int = 3,
) -> Estimate:
    """Estimate what :func:`run_search` with these options would cost, running only ``n_timed`` runs.

    The options are those of :func:`run_search` (checked the same way); ``n_timed`` runs of randomly
    chosen admissible combinations are timed here, in this process.

    Returns:
        An :class:`Estimate`: combinations, admissible ones, planned runs, seconds a run, workers and
        the estimated wall time.

    Raises:
        TypeError, ValueError: a bad option, as :func:`run_search` raises; no admissible combination.
        The objective's exception: a timed run raised.

    >>> estimate = estimate_search(lambda p: p['x'] * 2.0, {'x': range(10), 'y': [1, 2]}, known_params='xy',
    ...                            constraint=lambda p: p.x > p.y, n_jobs=1)
    >>> estimate.n_combinations, estimate.n_admissible, estimate.n_evaluations, estimate.n_timed
    (20, 15, 15, 3)
    """
    if not callable(objective):
        raise param_error(owner, "objective", "callable", objective, exc=TypeError)
    if isinstance(n_timed, bool) or not isinstance(n_timed, int) or n_timed < 1:
        exc = ValueError if isinstance(n_timed, int) and not isinstance(n_timed, bool) else TypeError
        raise param_error(owner, "n_timed", "an int >= 1", n_timed, exc=exc)
    space, search = resolve_search(owner, method, params, known_params, max_tries, constraint, False,
                                   estimator)
    _check_runner_options(owner, n_jobs, False)
    rng = np.random.default_rng(_entropy(owner, random_state))
    n_admissible = None
    if not space.has_dimensions:
        n_admissible = GridSelection(space, constraint, None, rng, owner).total
    chosen = _timing_params(space, constraint, n_timed, rng, owner)
    times = []
    for combination in chosen:
        started = time.perf_counter()
        objective(combination)
        times.append(time.perf_counter() - started)
    planned = _planned(search, space, n_admissible)
    workers = _workers(n_jobs)
    seconds = float(np.median(times))
    wall = None if planned is None else planned * seconds / max(1, min(workers, planned))
    return Estimate(search.name, None if space.has_dimensions else space.size, n_admissible, planned, seconds,
                    len(times), workers, wall)


def _planned(search: Any, space: ParamSpace, n_admissible: int | None) -> int | None:
    """How many runs the method would make: a grid's admissible count or its sample; another method's
    ``budget`` or ``max_tries`` when it is a count (genetic's generations, skopt's budget), at most the
    admissible count."""
    tries = getattr(search, "budget", getattr(search, "max_tries", None))
    if isinstance(search, Grid):
        if tries is None:
            return n_admissible
        if isinstance(tries, float):
            return max(1, int(tries * n_admissible + 0.5))  # type: ignore[operator]
        return min(tries, n_admissible)  # type: ignore[type-var]
    if not isinstance(tries, int) or isinstance(tries, bool):
        return None
    return tries if n_admissible is None else min(tries, n_admissible)  # repeats: answered by the study


def _timing_params(space: ParamSpace, constraint: Any, n: int, rng: np.random.Generator,
                   owner: str) -> list[dict[str, Any]]:
    """``n`` admissible combinations drawn at random (fewer if the grid has fewer)."""
    found: list[dict[str, Any]] = []
    for _ in range(_DRAWS * n):
        key = tuple(int(rng.integers(len(cands))) if cands is not None else
                    dimension.rvs(1, random_state=int(rng.integers(2**31)))[0]
                    for cands, dimension in zip(space.candidates, space.dimensions, strict=True))
        combination = space.decode(key)
        if admits(constraint, combination, owner) and combination not in found:
            found.append(combination)
            if len(found) == n:
                break
    if not found:
        raise ValueError(f"None of the combinations drawn at random satisfies the 'constraint' of {owner}. "
                         "Loosen the constraint or widen the parameter ranges.")
    return found


def _workers(n_jobs: int | None) -> int:
    if n_jobs == 1:
        return 1
    import joblib

    return int(joblib.effective_n_jobs(-1 if n_jobs is None else n_jobs))


def _duration(seconds: float) -> str:
    """A duration as a person reads it.

    >>> _duration(0.0123), _duration(42.0), _duration(5400.0), _duration(9000.0), _duration(200000.0)
    ('12.3 ms', '42.0 s', '90.0 min', '2.5 h', '2.3 days')
    """
    if not math.isfinite(seconds):
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"

