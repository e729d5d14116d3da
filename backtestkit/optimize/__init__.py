"""Parameter search for ``Backtest.optimize``: grid and scikit-optimize, run in parallel with joblib.

The search methods see only ``objective(params) -> float`` and a parameter space, never a backtest.
"""

from backtestkit.optimize._result import SearchResult
from backtestkit.optimize._search import run_search

__all__ = ["SearchResult", "run_search"]
