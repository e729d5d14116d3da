"""What ``optimize(maximize=..., minimize=...)`` asks for: one objective, or several (a Pareto search).

``maximize`` and ``minimize`` each take one objective (a stats key or a callable ``stats -> float``,
as in backtesting.py) or a list of them. With a list, the search has several objectives: those of
``maximize`` first, then those of ``minimize``, each in its own direction. Each trial's ``value`` is
the first objective's (the one model-based methods steer by); every objective is also a stats column
of the study (a callable's under its function's name), and the study's best trial is the best of the
Pareto front in the first objective (see ``Study.pareto_front``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._engine import Engine
from backtestkit._errors import param_error
from backtestkit._objective import (
    NUMERIC_KEYS,
    Objective,
    Score,
    _StatsKey,
    kept_metrics,
    keys_read,
    objective_for,
    real_number,
)
from backtestkit.optimize import Outcome

OWNER = "Backtest.optimize"


@dataclass(frozen=True)
class Goal:
    """The objective(s) of a search: the first one's name, score and direction, and the others."""

    name: str
    score: Score
    maximize: bool
    #: (name, 'max' | 'min') of every objective when there are several, else empty.
    objectives: tuple[tuple[str, str], ...] = ()
    #: Objectives that are not stats keys (callables), kept as extra stats columns: name -> score.
    extras: dict[str, Score] = field(default_factory=dict)
    #: The stats keys each trial keeps when not every numeric one (``optimize(metrics=...)``).
    kept: tuple[str, ...] | None = None

    @property
    def stats_names(self) -> list[str]:
        """The stats keys each trial keeps: every numeric one, or those :meth:`keeping` chose."""
        return list(NUMERIC_KEYS if self.kept is None else self.kept)

    @property
    def metric_names(self) -> list[str]:
        """The stats columns each trial keeps: :attr:`stats_names`, then the extra objectives."""
        return [*self.stats_names, *self.extras]

    def keeping(self, metrics: Any, constraints: Sequence[Callable[[Any], Any]] = ()) -> Goal:
        """This goal keeping the stats keys ``optimize(metrics=...)`` asks for (None: every numeric
        key) and those its objectives and the result ``constraints`` read."""
        reads = [keys_read(self.score), *map(keys_read, self.extras.values()), *map(keys_read, constraints),
                 *(frozenset([name]) for name, _ in self.objectives if name in NUMERIC_KEYS)]
        kept = kept_metrics(metrics, reads)
        return self if kept is None else replace(self, kept=tuple(kept))

    @property
    def info(self) -> dict[str, Any]:
        """What the study records of the objectives (nothing for one, so older studies still resume)."""
        return {"objectives": [list(pair) for pair in self.objectives]} if self.objectives else {}

    def objective(self, engine: Engine, constraints: Sequence[Callable[[Any], Any]] = ()) -> Objective:
        """The ``params -> Outcome`` the search methods run, under the result ``constraints``."""
        if not self.extras:
            return Objective(engine, self.score, constraints, self.stats_names)
        others = list(self.extras.values())
        return SeveralObjective(engine, self.score, others, constraints, self.stats_names)


def goal_for(maximize: Any, minimize: Any, owner: str = OWNER) -> Goal:
    """The :class:`Goal` of ``optimize(maximize=..., minimize=...)``; one objective as before, several
    when either is a list.

    >>> goal = goal_for(["Return [%]"], ["Volatility (Ann.) [%]"])
    >>> goal.name, goal.maximize, goal.objectives
    ('Return [%]', True, (('Return [%]', 'max'), ('Volatility (Ann.) [%]', 'min')))
    >>> goal_for("SQN", None).objectives
    ()
    """
    if not isinstance(maximize, (list, tuple)) and not isinstance(minimize, (list, tuple)):
        return Goal(*objective_for(maximize, minimize))
    highs = _listed(owner, "maximize", maximize, default_ignored=minimize is not None)
    lows = _listed(owner, "minimize", minimize)
    if not highs and not lows:
        raise param_error(owner, "maximize", "a stats key, a callable or a non-empty list of them", maximize)
    resolved = [(*objective_for(item, None)[:2], high) for item, high in
                [*((item, True) for item in highs), *((item, False) for item in lows)]]
    if len(resolved) == 1:
        name, score, high = resolved[0]
        return Goal(name, score, high)
    names = [name for name, _, _ in resolved]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"{owner} got the objective {twice[0]!r} twice: give each objective once "
                         "(a callable is known by its function's name; name your functions apart).")
    first_name, first_score, first_high = resolved[0]
    # a stats key's values are already a stats column; any other objective's become one, named after it
    extras = {name: score for name, score, _ in resolved[1:] if not isinstance(score, _StatsKey)}
    taken = {"value", "number", "state", "duration", "error", *NUMERIC_KEYS}
    clash = [name for name in extras if name in taken]
    if clash:
        raise ValueError(f"{owner} cannot keep the objective {clash[0]!r}: a study already has a column "
                         "of that name. Rename the function.")
    objectives = tuple((name, "max" if high else "min") for name, _, high in resolved)
    return Goal(first_name, first_score, first_high, objectives, extras)


def _listed(owner: str, name: str, value: Any, *, default_ignored: bool = False) -> list[Any]:
    """The objectives ``maximize`` or ``minimize`` gives: a list's items, one item, or none."""
    if value is None or (default_ignored and isinstance(value, str) and value == "SQN"):
        return []  # maximize='SQN' is the default: given with minimize, it is not an objective
    if isinstance(value, (list, tuple)):
        if not value:
            raise param_error(owner, name, "a non-empty list of stats keys or callables", value)
        return list(value)
    return [value]


class SeveralObjective(Objective):
    """:class:`Objective` with more objectives than the first: their values go in extra stats columns.

    The base class computes the run's stats and calls ``score``; here ``score`` computes every
    objective once and leaves the others' values for this call to append (per thread, so a threading
    backend's workers do not mix them up).
    """

    def __init__(self, engine: Engine, first: Score, others: Sequence[Score],
                 constraints: Sequence[Callable[[Any], Any]] = (),
                 names: Sequence[str] = NUMERIC_KEYS) -> None:
        super().__init__(engine, _Scores(first, others), constraints, names)
        self.full_stats = any(getattr(score, "needs_frames", True)
                              for score in [first, *others, *self.constraints])

    def __call__(self, params: dict[str, Any]) -> Outcome:
        scores: _Scores = self.score  # type: ignore[assignment]
        scores.local.others = None
        outcome = super().__call__(params)
        others = scores.local.others
        if others is None:  # no trade (or not scored): every objective unknown
            others = [math.nan] * len(scores.others)
        metrics = np.concatenate([np.asarray(outcome.metrics, dtype=float), others])
        return Outcome(outcome.state, outcome.value, metrics, outcome.duration, outcome.error)


class _Scores:
    """``stats -> first objective``, keeping the other objectives' values for the caller."""

    def __init__(self, first: Score, others: Sequence[Score]) -> None:
        self.first, self.others = first, list(others)
        self.local = threading.local()

    @property
    def reads(self) -> frozenset[str] | None:
        """The stats keys the objectives read; None when one may read any."""
        read = [keys_read(score) for score in [self.first, *self.others]]
        return None if None in read else frozenset().union(*read)

    def __call__(self, stats: pd.Series) -> Any:
        self.local.others = [real_number(score(stats), "Each objective") for score in self.others]
        return self.first(stats)

    def __getstate__(self) -> dict[str, Any]:
        return {"first": self.first, "others": self.others}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.local = threading.local()


