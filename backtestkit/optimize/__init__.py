"""Parameter search: studies that keep every trial, the search methods, and the parallel runner.

The search methods see only a parameter space and the driver's ``evaluate``, never a backtest; a
:class:`Study` keeps every trial and can live in a SQLite file (resumable, readable later with
:func:`load_study` or ``python -m backtestkit``).
"""

from backtestkit.optimize._driver import SearchInterrupted
from backtestkit.optimize._estimate import Estimate, estimate_search
from backtestkit.optimize._euler import Euler
from backtestkit.optimize._expr import Expression, ExpressionError
from backtestkit.optimize._genetic import Genetic
from backtestkit.optimize._grid import Grid
from backtestkit.optimize._method import Context, SearchMethod
from backtestkit.optimize._runner import WorkerLostError
from backtestkit.optimize._search import ListedRangeWarning, run_search
from backtestkit.optimize._skopt import Skopt
from backtestkit.optimize._store import StoreError
from backtestkit.optimize._study import load_study
from backtestkit.optimize._trial import STATES, Outcome, Study, Trial

__all__ = [
    "STATES",
    "Context",
    "Estimate",
    "Euler",
    "Expression",
    "ExpressionError",
    "Genetic",
    "Grid",
    "ListedRangeWarning",
    "Outcome",
    "SearchInterrupted",
    "SearchMethod",
    "Skopt",
    "StoreError",
    "Study",
    "Trial",
    "WorkerLostError",
    "estimate_search",
    "load_study",
    "run_search",
]
