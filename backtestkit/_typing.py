"""Type aliases shared across modules (aliases only, no code)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CommissionFunc = Callable[[float, float], float]
Commission = float | tuple[float, float] | CommissionFunc
