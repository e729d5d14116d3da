"""One parameter set scored on several data sets at once: ``MultiBacktest.optimize(aggregate=...)``.

Each trial runs the strategy on every data set with the same parameters, scores each run with the
objective, and reduces the scores to one value with ``aggregate`` (``'min'``: the worst data set, the
robust choice; ``'mean'``, ``'median'``, ``'max'``, or a function of the array of scores). The trial
keeps every data set's stats (``'Sharpe Ratio[0]'``, ``'Sharpe Ratio[1]'``, ...) and every stats key
reduced the same way (``'Sharpe Ratio'``). A parameter set that makes no trade on some data set has no
robust score: its trial is ``no_trades``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backtestkit._engine import Engine
from backtestkit._errors import param_error
from backtestkit._objective import NUMERIC_KEYS, Objective, Score, real_number
from backtestkit.optimize import Outcome

OWNER = "MultiBacktest.optimize"
AGGREGATE = f"The 'aggregate' function of {OWNER}"
AGGREGATES: dict[str, Callable[..., Any]] = {"min": np.min, "mean": np.mean, "median": np.median,
                                             "max": np.max}
#: Worse first: a trial takes the first of these states any of its data sets has, 'ok' if none.
_WORST_FIRST = ("failed", "infeasible", "no_trades")


def aggregate_function(aggregate: Any) -> Callable[[np.ndarray], Any]:
    """``aggregate`` checked: a known name's numpy function, or the user's callable.

    >>> aggregate_function('min')(np.array([[1.0, 5.0], [2.0, 3.0]]), axis=0).tolist()
    [1.0, 3.0]
    """
    if callable(aggregate):
        return aggregate
    if isinstance(aggregate, str) and aggregate in AGGREGATES:
        return AGGREGATES[aggregate]
    raise param_error(OWNER, "aggregate", "'min', 'mean', 'median', 'max', a function of an array of scores "
                      "or None", aggregate, exc=ValueError if isinstance(aggregate, str) else TypeError)


def robust_metric_names(n_datasets: int, objective: str, names: Sequence[str] = NUMERIC_KEYS) -> list[str]:
    """The stats columns of a robust trial: each of the stats keys ``names`` reduced, then each data
    set's keys (and its objective's value, when the objective is not a stats key).

    >>> names = robust_metric_names(2, 'per_trade')
    >>> names[:len(NUMERIC_KEYS)] == NUMERIC_KEYS, 'SQN[0]' in names, names[-1]
    (True, True, 'per_trade[1]')
    """
    per_set = [*names, *([] if objective in NUMERIC_KEYS else [objective])]
    return [*names, *(f"{key}[{i}]" for i in range(n_datasets) for key in per_set)]


class RobustObjective:
    """``params -> Outcome`` over several data sets: one :class:`Objective` per data set, reduced."""

    def __init__(self, engines: Sequence[Engine], score: Score, objective: str, aggregate: Any,
                 constraints: Sequence[Callable[[Any], Any]] = (),
                 names: Sequence[str] = NUMERIC_KEYS) -> None:
        self.objectives = [Objective(engine, score, constraints, names) for engine in engines]
        self.keep_value = objective not in NUMERIC_KEYS
        self.aggregate = aggregate
        self.reduce = aggregate_function(aggregate)

    def __call__(self, params: dict[str, Any]) -> Outcome:
        outcomes = [objective(params) for objective in self.objectives]
        matrix = np.array([o.metrics for o in outcomes], dtype=float)  # a row per data set
        values = np.array([o.value for o in outcomes], dtype=float)
        per_set = np.column_stack([matrix, values]) if self.keep_value else matrix
        metrics = np.concatenate([self._reduced(matrix), per_set.ravel()])
        duration = sum(o.duration for o in outcomes)
        state = next((s for s in _WORST_FIRST if any(o.state == s for o in outcomes)), "ok")
        if state != "ok":
            error = next((o.error for o in outcomes if o.error), None)
            return Outcome(state, math.nan, metrics, duration, error)
        return Outcome("ok", self._value(values), metrics, duration)

    def _reduced(self, matrix: np.ndarray) -> np.ndarray:
        """Each stats key reduced over the data sets (a known aggregate at once, a function per key)."""
        if isinstance(self.aggregate, str):
            return self.reduce(matrix, axis=0)
        return np.array([real_number(self.reduce(column), AGGREGATE) for column in matrix.T], dtype=float)

    def _value(self, values: np.ndarray) -> float:
        return real_number(self.reduce(values), AGGREGATE)

