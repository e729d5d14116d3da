"""The search-method protocol: a method proposes parameter combinations; the driver evaluates them.

A method never runs a backtest. ``search(space, driver, context)`` calls ``driver.evaluate(keys)``
with the keys of the combinations it wants (lazily, any number at a time) and gets their trials
back. The driver answers repeats and a resumed study's stored trials without running them, runs the
rest in parallel, records and saves them. A method must be deterministic given its seed and the
trials it is told, so that running the same search again replays the same proposals: that is how a
stored study resumes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from backtestkit.optimize._space import ParamSpace
from backtestkit.optimize._trial import Key, Trial


class Evaluator(Protocol):
    """What a method calls: the driver's two entry points."""

    def evaluate(self, keys: Iterable[Key], n: int, *, results: bool = True) -> list[Trial]:
        """Evaluate the combinations of ``keys`` (at most ``n`` of them, which sets the batch size);
        their trials in the order given, or ``[]`` with ``results=False``."""

    def expect(self, total: int) -> None:
        """How many combinations the search will evaluate in all (for the progress bar)."""


@dataclass(frozen=True)
class Context:
    """What a method gets besides the space: the constraint, its seed, the objective's direction (a
    trial's value is in the objective's own units) and who is asking."""

    constraint: Callable[[Any], Any] | None
    seed: np.random.SeedSequence
    maximize: bool
    owner: str


class SearchMethod(ABC):
    """Base of the search methods: override :meth:`search` (and :meth:`check` for its own rules)."""

    #: The name ``optimize(method=...)`` knows the method by.
    name: ClassVar[str]

    def check(self, space: ParamSpace, owner: str) -> None:  # noqa: B027 -- no rule by default
        """Raise a clear error, before anything runs, if the method cannot search ``space``."""

    @abstractmethod
    def search(self, space: ParamSpace, driver: Evaluator, context: Context) -> dict[str, Any]:
        """Propose combinations to ``driver.evaluate`` until the search is done; returns what it learnt
        about the space for the study's record (e.g. ``{'n_admissible': 230}``), or ``{}``."""

    def options(self) -> dict[str, Any]:
        """The method's settings, as a study records them (a resumed search must have the same)."""
        return {name: value for name, value in vars(self).items() if not name.startswith("_")}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.options().items())
        return f"{type(self).__name__}({shown})"
