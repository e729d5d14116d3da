"""Commissions: the three forms a user may give, turned into one ``fee(size, price)``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backtestkit._errors import check_number, param_error
from backtestkit._typing import Commission


class LinearFee:
    """A fill's fee: ``fixed + relative * |size| * price`` (a class, so results stay picklable)."""

    __slots__ = ("fixed", "relative")

    def __init__(self, fixed: float, relative: float) -> None:
        self.fixed, self.relative = fixed, relative

    def __call__(self, size: float, price: float) -> float:
        return self.fixed + abs(size) * price * self.relative

    def __repr__(self) -> str:
        return f"LinearFee(fixed={self.fixed}, relative={self.relative})"


class UserFee:
    """A user's ``commission(size, price)``, called with the price as a numpy float64, as backtesting.py
    does, and its fee returned as a Python float, the broker's arithmetic type."""

    __slots__ = ("function",)

    def __init__(self, function: Callable[[float, float], float]) -> None:
        self.function = function

    def __call__(self, size: float, price: float) -> float:
        return float(self.function(size, np.float64(price)))

    def __repr__(self) -> str:
        return f"UserFee({self.function!r})"


def fee_function(commission: Commission) -> tuple[Callable[[float, float], float], float]:
    """The fee of a fill as ``fee(size, price)``, and the fixed part charged once per fill."""
    owner = "Backtest"
    expected = "a relative fee in (-0.1, 0.1), a (fixed, relative) tuple or a callable (size, price) -> fee"
    if callable(commission):
        return UserFee(commission), 0.0
    if isinstance(commission, tuple):
        if len(commission) != 2:
            raise param_error(owner, "commission", expected, commission)
        fixed = check_number(owner, "commission", commission[0], "a (fixed >= 0, relative) tuple",
                        lambda x: x >= 0)
        relative = check_number(owner, "commission", commission[1], expected, lambda x: -0.1 < x < 0.1)
        return LinearFee(fixed, relative), fixed
    relative = check_number(owner, "commission", commission, expected, lambda x: -0.1 < x < 0.1)
    return LinearFee(0.0, relative), 0.0
