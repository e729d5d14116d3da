"""Type aliases shared across modules (aliases only, no code)."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CommissionFunc = Callable[[float, float], float]
Commission = float | tuple[float, float] | CommissionFunc
#: A window's bound: a position, a timestamp or date string, or None (the data's first or last bar).
Bound = int | str | datetime.date | np.datetime64 | None
