"""What holdout and walk-forward share: checking their arguments, splitting the bars, the selection
rule, the search of one window and the out-of-sample score of a run."""

from __future__ import annotations

import datetime
import math
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest
from backtestkit._errors import param_error
from backtestkit._objective import objective_for, quiet_runs

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize import Study

#: ``select``: ``'best'`` (the study's best parameters) or a callable ``study -> parameters``.
Select = str | Callable[["Study"], Mapping[str, Any]]
#: The stats shown in and out of sample, beside the objective.
KEY_STATS = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]")
#: Options of Backtest.optimize that these tools set themselves.
_RESERVED = ("return_heatmap", "return_optimization", "return_study")


def check_backtest(owner: str, bt: Any) -> Backtest:
    if not isinstance(bt, Backtest):
        raise param_error(owner, "bt", "a Backtest", bt, exc=TypeError)
    return bt


def check_select(owner: str, select: Any) -> Select:
    if select == "best" or callable(select):
        return select
    raise param_error(owner, "select", "'best' or a callable study -> parameters", select,
                      exc=TypeError if not isinstance(select, str) else ValueError)


def check_options(owner: str, options: Mapping[str, Any]) -> None:
    """The options go to Backtest.optimize as they are, except the ones that shape its return value."""
    for name in _RESERVED:
        if name in options:
            raise ValueError(f"{owner} does not take {name!r}: it keeps each search's study in its result "
                             f"(and the heatmap is result.study.heatmap()).")


def selected(study: Study, select: Select, owner: str) -> dict[str, Any]:
    """The parameters ``select`` picks from the study: its best, or what the user's rule returns."""
    if select == "best":
        return dict(study.best_params)
    picked = select(study)  # type: ignore[operator]
    if not isinstance(picked, Mapping) or not all(isinstance(name, str) for name in picked):
        raise TypeError(f"The 'select' callable of {owner} must return a dict of parameters "
                        f"(name -> value). Got {picked!r} instead.")
    return dict(picked)


def scorer(options: Mapping[str, Any]) -> tuple[str, Callable[[pd.Series], Any], bool]:
    """The search's objective: its name, ``stats -> value`` and whether higher is better."""
    return objective_for(options.get("maximize", "SQN"), options.get("minimize"))


def score(stats: pd.Series, objective: Callable[[pd.Series], Any]) -> float:
    """A run's objective as a search scores it: NaN without a trade."""
    if not stats["# Trades"]:
        return math.nan
    value = objective(stats)
    return float(value) if isinstance(value, (numbers.Real, np.generic)) else math.nan


def run_quietly(bt: Backtest, params: Mapping[str, Any]) -> pd.Series:
    """One run, without the per-run warnings a search keeps quiet too."""
    with quiet_runs():
        return bt.run(**params)


def search(bt: Backtest, options: Mapping[str, Any]) -> Study:
    """The study of ``bt.optimize(**options)`` (the best run it returns is not needed); with fewer
    ``metrics`` kept, the :data:`KEY_STATS` the tables show are kept too."""
    metrics = options.get("metrics")
    if isinstance(metrics, (str, list, tuple)):  # anything else: optimize() says what is wrong with it
        options = {**options, "metrics": [*([metrics] if isinstance(metrics, str) else metrics), *KEY_STATS]}
    return bt.optimize(**options, return_study=True)[-1]


def bars_from(owner: str, name: str, value: Any, index: pd.Index, *, fraction_of: int,
              from_end: bool = False) -> int:
    """Where a part of the data ends, given as a fraction (of the first ``fraction_of`` bars), a bar count,
    or the timestamp or date string of its last bar (included) -- or, ``from_end``, where a part at the
    end of the data starts (a fraction of all bars or a count, from the end; or its first bar's label)."""
    expected = "a fraction in (0, 1), a bar count >= 2, or a timestamp or date string in the data"
    n = len(index)
    if isinstance(value, (bool, np.bool_)):
        raise param_error(owner, name, expected, value, exc=TypeError)
    if isinstance(value, numbers.Integral):
        if value < 2:
            raise param_error(owner, name, expected, value)
        return n - int(value) if from_end else int(value)
    if isinstance(value, numbers.Real):
        if not 0 < value < 1:
            raise param_error(owner, name, expected, value)
        return n - int(round(value * n)) if from_end else int(round(value * fraction_of))
    if isinstance(value, (str, datetime.date, np.datetime64)):
        try:
            found = index.slice_indexer(value).start if from_end else index.slice_indexer(None, value).stop
        except (KeyError, TypeError, ValueError):
            found = None
        if found is None or isinstance(found, slice) or not 0 < found < n:
            raise param_error(owner, name, expected, value)
        return int(found)
    raise param_error(owner, name, expected, value, exc=TypeError)


def period(index: pd.Index, first: int, stop: int) -> str:
    """The bars ``first`` to ``stop - 1`` as text: 'first – last'."""
    return f"{_when(index[first])} – {_when(index[stop - 1])}"


def _when(label: Any) -> str:
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return str(label.date())
    return str(label)
