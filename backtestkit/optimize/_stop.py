"""Stop rules: end a search early when its objective reaches a target, its time is up, or it stops
improving. The driver asks them after every batch; the study records which one fired and why."""

from __future__ import annotations

import datetime
import math
import numbers
import time
from collections.abc import Sequence
from typing import Any

from backtestkit._errors import param_error


class SearchStopped(Exception):  # noqa: N818 -- not an error: how the driver leaves a method's search
    """Raised by the driver out of a method's search when a stop rule fires; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StopRules:
    """``target``, ``timeout`` and ``patience``, checked once, then asked after every batch.

    Args:
        target: stop once the best value reaches it (>= when maximising, <= when minimising).
        timeout: stop once this many seconds (a number or a ``datetime.timedelta``) have passed since
            the search started.
        patience: stop after this many evaluations in a row that do not improve on the best value.
        maximize: the objective's direction.
        owner: who asks, for error messages.

    Raises:
        TypeError, ValueError: a rule of the wrong type or out of range.

    >>> rules = StopRules(target=1.5, maximize=True)
    >>> rules.start(math.nan)
    >>> rules.after([1.52])
    'target reached: 1.52 >= 1.5'
    """

    def __init__(self, *, target: Any = None, timeout: Any = None, patience: Any = None,
                 maximize: bool = True, owner: str = "Backtest.optimize") -> None:
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        _check(owner, "target", target, "a number or None", numbers.Real, lambda x: not math.isnan(x))
        _check(owner, "timeout", timeout, "a number of seconds > 0, a datetime.timedelta or None",
               numbers.Real, lambda x: x > 0)
        _check(owner, "patience", patience, "an int >= 1 or None", numbers.Integral, lambda x: x >= 1)
        self.target = None if target is None else float(target)
        self.timeout = None if timeout is None else float(timeout)
        self.patience = None if patience is None else int(patience)
        self.maximize = maximize
        self._started = time.monotonic()
        self._best = math.nan
        self._since_best = 0

    def __bool__(self) -> bool:
        return any(rule is not None for rule in (self.target, self.timeout, self.patience))

    def describe(self) -> dict[str, Any] | None:
        """The rules as a study records them (None when there is none)."""
        rules = {"target": self.target, "timeout": self.timeout, "patience": self.patience}
        return {name: value for name, value in rules.items() if value is not None} or None

    def start(self, best: float) -> None:
        """The search starts now, with ``best`` the value to beat (a resumed study's best, or NaN)."""
        self._started, self._best, self._since_best = time.monotonic(), best, 0

    def after(self, values: Sequence[float]) -> str | None:
        """Why the search must stop after new trials of these values (in the order they finished; NaN
        for a trial without a value), or None."""
        for value in values:
            if self._better(value):
                self._best, self._since_best = value, 0
            else:
                self._since_best += 1
        sign = ">=" if self.maximize else "<="
        if self.target is not None and self._reached(self._best):
            return f"target reached: {self._best:.6g} {sign} {self.target:.6g}"
        if self.patience is not None and self._since_best >= self.patience:
            best = "a value" if math.isnan(self._best) else f"{self._best:.6g}"
            return f"patience: {self._since_best:,} evaluations without improving on {best}"
        elapsed = time.monotonic() - self._started
        if self.timeout is not None and elapsed >= self.timeout:
            return f"timeout: {elapsed:,.1f} s >= {self.timeout:,.6g} s"
        return None

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if math.isnan(self._best):
            return True
        return value > self._best if self.maximize else value < self._best

    def _reached(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value >= self.target if self.maximize else value <= self.target  # type: ignore[operator]


def _check(owner: str, name: str, value: Any, expected: str, kind: type, ok: Any) -> None:
    """Raise the house-style error unless ``value`` is None or a ``kind`` (not a bool) for which ``ok``
    holds: a TypeError for the wrong type, a ValueError for a value out of range."""
    if value is None:
        return
    if not isinstance(value, kind) or isinstance(value, bool):
        raise param_error(owner, name, expected, value, exc=TypeError)
    if not ok(value):
        raise param_error(owner, name, expected, value)
