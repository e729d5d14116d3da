"""What Backtest.optimize hands the search methods, and what it makes of their result.

The search methods (``backtestkit.optimize``) see only ``objective(params) -> float``: here that is
one backtest, its stats, and the user's objective. The report assembles finished frames for the
plotting package.
"""

from __future__ import annotations

import ast
import copy
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._errors import param_error, unknown_name_error
from backtestkit._stats import STATS_KEYS

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit._backtest import Backtest

Score = Callable[[pd.Series], float]
REPORT_COLUMNS = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]", "SQN")
REPORT_ROWS = 20
# Keys an objective can rank by: numbers, not the dates and durations.
NUMERIC_KEYS = [k for k in STATS_KEYS if not k.startswith("_") and k not in (
    "Start", "End", "Duration", "Max. Drawdown Duration", "Avg. Drawdown Duration", "Max. Trade Duration",
    "Avg. Trade Duration")]


@contextmanager
def quiet_runs() -> Iterator[None]:
    """Engine warnings (trades left open, cancelled orders) are per-run noise inside a search."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def objective_for(maximize: Any, minimize: Any) -> tuple[str, Score]:
    """The objective's name and a picklable ``stats -> float`` where higher is better."""
    if minimize is not None:
        if maximize != "SQN":
            raise ValueError("Backtest.optimize takes 'maximize' or 'minimize', not both.")
        name, score = objective_for(minimize, None)
        return name, _Negated(score)
    if callable(maximize):
        name = getattr(maximize, "__name__", "<lambda>")
        return ("objective" if name == "<lambda>" else name), maximize
    if not isinstance(maximize, str):
        raise param_error("Backtest.optimize", "maximize", "a stats key or a callable stats -> float",
                          maximize, exc=TypeError)
    if maximize not in NUMERIC_KEYS:
        raise unknown_name_error("numeric stats key", maximize, NUMERIC_KEYS,
                                 "Backtest.optimize(maximize=...)")
    return maximize, _StatsKey(maximize)


class _StatsKey:
    """Objective that reads one stats key (a number: no need for the full ``_trades`` frame)."""

    needs_frames = False

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, stats: pd.Series) -> float:
        return float(stats.get(self.key, np.nan))


class _Negated:
    """Objective for minimisation: the negated score."""

    def __init__(self, score: Score) -> None:
        self.score = score
        self.needs_frames = getattr(score, "needs_frames", True)

    def __call__(self, stats: pd.Series) -> float:
        return -float(self.score(stats))


class Objective:
    """``params -> score`` for the search methods: one backtest, its stats, the user's objective.

    Pickled once per batch of combinations, with the data inside.
    """

    def __init__(self, backtest: Backtest, score: Score) -> None:
        self.backtest = copy.copy(backtest)
        self.backtest._results = None  # workers need the set-up, not the last run's results
        self.score = score
        self.full_stats = getattr(score, "needs_frames", True)  # a user's callable sees everything

    def __call__(self, params: dict[str, Any]) -> float:
        """The score of one combination; NaN (ranked last) when it made no trade, as in backtesting.py."""
        with quiet_runs():
            stats = self.backtest._engine.stats(params, full=self.full_stats)
        if not stats["# Trades"]:
            return np.nan
        value = self.score(stats)
        return float(value) if value is not None else np.nan


def _shown(values: Any, limit: int = 13) -> Any:
    """Candidate values as the report lists them: all of a short list, the ends of a long one.

    >>> _shown(range(5, 100, 5))
    '[5, 10, 15, 20, 25, 30, 35, 40, 45, 50, …, 85, 90, 95]'
    """
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        return values
    values = list(values)
    if len(values) <= limit:
        return values
    return f"[{', '.join(map(repr, values[:10]))}, …, {', '.join(map(repr, values[-3:]))}]"


def _when(label: Any) -> str:
    """A bar's label for a title: a date alone when it is midnight."""
    if isinstance(label, pd.Timestamp) and label == label.normalize():
        return str(label.date())
    return str(label)


def _source(constraint: Callable | None) -> str | None:
    """The constraint's code as the report shows it: a function's source, or just the lambda."""
    if constraint is None:
        return None
    try:
        source = inspect.getsource(constraint).strip()
    except (OSError, TypeError):
        return repr(constraint)
    if getattr(constraint, "__name__", None) == "<lambda>":
        return _lambda_in(source, constraint.__code__) or source
    return source


def _lambda_in(source: str, code: Any) -> str | None:
    """The text of the lambda compiled to ``code`` in ``source`` (the lines that hold it, e.g. a call).

    >>> f = lambda p: p.n1 < p.n2
    >>> _lambda_in("optimize(maximize=lambda s: s.SQN, constraint=lambda p: p.n1 < p.n2)", f.__code__)
    'lambda p: p.n1 < p.n2'
    """
    starts = (i for i in range(len(source)) if source.startswith("lambda", i))
    found = [text for i in starts if (text := _expression_at(source[i:]))]
    if len(found) == 1:
        return found[0]
    for text in found:  # several lambdas on these lines: the one that compiles to the same code
        compiled = compile(text, "<constraint>", "eval").co_consts
        if any(isinstance(c, type(code)) and c.co_code == code.co_code for c in compiled):
            return text
    return None


def _expression_at(text: str) -> str | None:
    """The lambda that ``text`` starts with: the longest prefix that parses as one."""
    for end in range(len(text), 0, -1):
        try:
            node = ast.parse(text[:end], mode="eval").body
        except SyntaxError:
            continue
        node = node.elts[0] if isinstance(node, ast.Tuple) and node.elts else node  # "lambda p: x, y"
        return ast.get_source_segment(text[:end], node) if isinstance(node, ast.Lambda) else None
    return None


def write_report(backtest: Backtest, path: Any, *, heatmap: pd.Series, result: Any, direction: str,
                 settings: Mapping[str, Any], params: Mapping[str, Any], elapsed: float) -> None:
    """Re-run the best combinations for their key stats and write the optimisation report."""
    from backtestkit.plotting._chart import backtest_layout
    from backtestkit.plotting._report import write_report as write_page

    best = heatmap.dropna().sort_values(ascending=direction == "minimised", kind="stable").head(REPORT_ROWS)
    rows, runs = [], []
    with quiet_runs():
        for combination, value in best.items():
            combination = dict(zip(best.index.names, combination, strict=True))
            runs.append(backtest.run(**combination))
            rows.append({**combination, **{k: runs[-1][k] for k in REPORT_COLUMNS}, heatmap.name: value})
        # the top row is the best run (ties in index order, as the search picks); all NaN: no rows
        best_run = runs[0] if runs else backtest.run(**result.best_params)
    data = backtest._data
    first, last = (_when(data.index[i]) for i in (0, -1))
    title = f"{backtest._strategy.__name__} on {len(data):,} bars, {first} to {last}"
    write_page(
        path, title=title,
        objective=f"{heatmap.name} ({direction})",
        settings={**settings, "constraint": _source(settings.get("constraint")),
                  **{name: _shown(values) for name, values in params.items()}},
        n_admissible=result.n_admissible, n_evaluated=result.n_evaluated, elapsed=elapsed,
        heatmap=heatmap, top=pd.DataFrame(rows),
        best_chart=backtest_layout(ohlc=data, stats=best_run, indicators=backtest._plot_indicators(best_run)))

