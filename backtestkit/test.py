"""The names tutorials import from ``backtesting.test``: sample data ``GOOG`` and ``EURUSD``, and ``SMA``.

With them, code written for backtesting.py runs after changing ``from backtesting.test import ...`` to
``from backtestkit.test import ...``. The samples are backtestkit's bundled synthetic prices, not
backtesting.py's market data: ``GOOG`` is daily bars (:func:`~backtestkit.datasets.load_daily`, 2015-2024)
and ``EURUSD`` hourly bars (:func:`~backtestkit.datasets.load_hourly`, 2019-2023), so the tutorials run the
same way but print different numbers. Each import gives a fresh copy, loaded on first use.

>>> from backtestkit.test import GOOG, EURUSD
>>> len(GOOG), len(EURUSD), list(GOOG.columns)
(2500, 10000, ['Open', 'High', 'Low', 'Close', 'Volume'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from backtestkit.datasets import load_daily, load_hourly

__all__ = ["EURUSD", "GOOG", "SMA"]  # noqa: F822 -- GOOG and EURUSD come from __getattr__

_SAMPLES = {"GOOG": load_daily, "EURUSD": load_hourly}


def SMA(values: Sequence[float], n: int) -> pd.Series:  # noqa: N802 - backtesting.test's name
    """Simple moving average of ``values`` over the last ``n`` values (NaN for the first ``n - 1``).

    >>> SMA([1, 2, 3, 4], 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    return pd.Series(values).rolling(n).mean()


def __getattr__(name: str) -> Any:
    """``GOOG`` and ``EURUSD``: the bundled samples, read when first imported."""
    if name in _SAMPLES:
        return _SAMPLES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
