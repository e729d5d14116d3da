"""What Backtest.optimize hands the search methods, and what it makes of their result.

The search methods (``backtestkit.optimize``) see only ``objective(params) -> Outcome``: here that is
one run of the engine, its stats, and the user's objective. The report is written from the study's
trials, for the plotting package.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit import _settings
from backtestkit._cache import sharing
from backtestkit._engine import Engine
from backtestkit._errors import param_error, unknown_name_error
from backtestkit._stats import STATS_KEYS
from backtestkit.optimize import Expression, Outcome, Study
from backtestkit.optimize._expr import is_expression

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit._backtest import Backtest

Score = Callable[[pd.Series], float]
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


def objective_for(maximize: Any, minimize: Any, option: str = "maximize") -> tuple[str, Score, bool]:
    """The objective's name, a picklable ``stats -> float`` and whether higher is better.

    A stats key ranks by that key; any other text is a fitness expression over the stats keys
    (``"Sharpe Ratio * min(1, `# Trades` / 100)"``, see :class:`~backtestkit.optimize.Expression`).
    """
    if minimize is not None:
        if maximize != "SQN":
            raise ValueError("Backtest.optimize takes 'maximize' or 'minimize', not both.")
        name, score, _ = objective_for(minimize, None, "minimize")
        return name, score, False
    if callable(maximize):
        name = getattr(maximize, "__name__", "<lambda>")
        return ("objective" if name == "<lambda>" else name), maximize, True
    if not isinstance(maximize, str):
        raise param_error("Backtest.optimize", option, "a stats key or a callable stats -> float", maximize,
                          exc=TypeError, hint="A string may also be an expression over stats keys.")
    if is_expression(maximize, NUMERIC_KEYS):
        return maximize, Expression(maximize, NUMERIC_KEYS, f"Backtest.optimize({option}=...)"), True
    if maximize not in NUMERIC_KEYS:
        raise _not_numeric(maximize, option)
    return maximize, _StatsKey(maximize), True


def _not_numeric(key: str, option: str = "maximize") -> ValueError:
    """The error for an objective that is not a numeric stats key, with the likeliest fix."""
    owner = f"Backtest.optimize({option}=...)"
    if key in STATS_KEYS:
        fix = ("keep it as a trial's metric. Keep numeric keys such as 'Return [%]' or 'SQN'."
               if option == "metrics" else "rank by it. Rank by a numeric key such as 'Return [%]' or "
               "'SQN', or pass a function stats -> float.")
        return ValueError(f"The stats key {key!r} is not a number, so {owner} cannot {fix}")
    same_case = [known for known in NUMERIC_KEYS if known.lower() == str(key).lower()]
    if same_case:
        return ValueError(f"Unknown numeric stats key {key!r} for {owner}. Did you mean {same_case[0]!r}?")
    return unknown_name_error("numeric stats key", key, NUMERIC_KEYS, owner)  # type: ignore[return-value]


def constraints_for(constraints: Any) -> list[Callable[[Any], Any]]:
    """Result constraints as ``stats -> bool`` callables: expressions over the stats keys
    (``"# Trades >= 30"``, checked now) or the user's callables; one of them alone is a list of one."""
    if constraints is None:
        return []
    if isinstance(constraints, str) or callable(constraints):
        constraints = [constraints]
    expected = "a list of expressions over stats keys ('# Trades >= 30') or callables stats -> bool"
    if not isinstance(constraints, (list, tuple)):
        raise param_error("Backtest.optimize", "constraints", expected, constraints, exc=TypeError)
    found: list[Callable[[Any], Any]] = []
    for item in constraints:
        if isinstance(item, str):
            found.append(Expression(item, NUMERIC_KEYS, "Backtest.optimize(constraints=...)"))
        elif callable(item):
            found.append(item)
        else:
            raise param_error("Backtest.optimize", "constraints", expected, constraints, exc=TypeError)
    return found


def describe_constraints(constraints: list[Callable[[Any], Any]]) -> list[str] | None:
    """The constraints as a study records them (and a resumed study must match): texts or sources."""
    if not constraints:
        return None
    return [item.text if isinstance(item, Expression) else str(_source(item)) for item in constraints]


class _StatsKey:
    """Objective that reads one stats key: a number, so the run's stats come without their frames."""

    needs_frames = False

    def __init__(self, key: str) -> None:
        self.key = key
        self.reads = frozenset([key])

    def __call__(self, stats: Mapping[str, Any]) -> Any:
        return stats.get(self.key, np.nan)


def keys_read(function: Any) -> frozenset[str] | None:
    """The stats keys an objective or a result constraint reads; None when it may read any (a user's
    callable)."""
    if isinstance(function, Expression):
        return frozenset(function.keys)
    return getattr(function, "reads", None)


class Objective:
    """``params -> Outcome`` for the search methods: one run, its stats and the user's objective.

    Pickled once per batch of combinations, with the data inside (the engine). An objective that
    reads stats keys gets the stats as a dict, without the frames; a user's callable, the whole Series.
    Each outcome's metrics are the stats keys ``names``; when those are not every numeric key, a run
    computes only them and what the objective and constraints read.
    """

    def __init__(self, engine: Engine, score: Score, constraints: Sequence[Callable[[Any], Any]] = (),
                 names: Sequence[str] = NUMERIC_KEYS) -> None:
        self.engine, self.score, self.constraints = engine, score, list(constraints)
        # a user's callable sees everything
        self.full_stats = any(getattr(f, "needs_frames", True) for f in [score, *self.constraints])
        self.names = tuple(names)
        read = [keys_read(f) for f in [score, *self.constraints]]
        self.keys = (None if self.names == tuple(NUMERIC_KEYS) or None in read
                     else frozenset(self.names).union(*read))
        self.share_indicators = _settings.indicator_cache  # read here: workers get it with the objective
        self.compiled_signals = _settings.compiled_signals

    def __call__(self, params: dict[str, Any]) -> Outcome:
        """The outcome of one combination: 'no_trades' (value NaN, ranked last, as in backtesting.py)
        when it made no trade, 'infeasible' (value NaN, the first broken constraint as its error) when
        its stats break a result constraint, else 'ok' with the objective's value."""
        started = time.perf_counter()
        with quiet_runs(), sharing(self.share_indicators), _settings.compiling(self.compiled_signals):
            stats = (self.engine.stats(params) if self.full_stats
                     else self.engine.numbers(params, keys=self.keys))
        metrics = metric_values(stats, self.names)
        if not stats["# Trades"]:
            return Outcome("no_trades", math.nan, metrics, time.perf_counter() - started)
        broken = next((f for f in self.constraints if not _holds(f(stats))), None)
        if broken is not None:
            return Outcome("infeasible", math.nan, metrics, time.perf_counter() - started,
                           f"broke the constraint {describe_constraints([broken])[0]}")  # type: ignore[index]
        value = real_number(self.score(stats), "The objective")
        return Outcome("ok", value, metrics, time.perf_counter() - started)


def real_number(value: Any, what: str) -> float:
    """``value`` as a float, when it is a real number (a numpy scalar too); else a TypeError that
    says ``what`` returned it."""
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{what} must return a real number (or NaN). "
                        f"Got {value!r} of type {type(value).__name__} instead.")
    return float(value)


def _holds(verdict: Any) -> bool:
    """Whether a constraint's verdict lets a run through: true, and not NaN (which breaks it)."""
    return bool(verdict) and not (isinstance(verdict, float) and math.isnan(verdict))


def metric_values(stats: Mapping[str, Any], names: tuple[str, ...] = tuple(NUMERIC_KEYS)) -> np.ndarray:
    """The stats keys ``names`` of a run (its Series or :meth:`Engine.numbers`' dict), as floats in
    that order (NaN where absent)."""
    if not isinstance(stats, pd.Series):
        return np.array([stats.get(key, math.nan) for key in names], dtype=float)
    found, positions = _positions(tuple(stats.index), names)
    values = np.full(len(names), math.nan)
    values[found] = stats.to_numpy()[positions]
    return values


@functools.lru_cache(maxsize=8)
def _positions(keys: tuple[str, ...], names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``names`` stands in a stats Series with these keys: (its place in ``names``, its
    place in the Series), for the names the Series has."""
    at = {key: i for i, key in enumerate(keys)}
    found = [i for i, name in enumerate(names) if name in at]
    return np.array(found, dtype=int), np.array([at[names[i]] for i in found], dtype=int)


def kept_metrics(metrics: Any, reads: Sequence[frozenset[str] | None], owner: str = "Backtest.optimize"
                 ) -> list[str] | None:
    """The stats keys each trial keeps for ``optimize(metrics=...)``: None (the default) for every
    numeric key; else the keys given, those the objectives and constraints ``reads`` and ``# Trades``,
    in the stats' order.

    >>> kept_metrics(["SQN"], [frozenset({"Sharpe Ratio"})])
    ['Sharpe Ratio', '# Trades', 'SQN']
    """
    if metrics is None:
        return None
    expected = "None (every numeric stats key) or a list of numeric stats keys"
    given = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(given, (list, tuple)) or not all(isinstance(key, str) for key in given):
        raise param_error(owner, "metrics", expected, metrics, exc=TypeError)
    for key in given:
        if key not in NUMERIC_KEYS:
            raise _not_numeric(key, "metrics")
    wanted = {"# Trades", *given}.union(*(read for read in reads if read is not None))
    return [key for key in NUMERIC_KEYS if key in wanted]


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


def study_info(backtest: Backtest, constraint: Callable | None, params: Mapping[str, Any],
               constraints: list[Callable[[Any], Any]] = ()) -> dict[str, Any]:
    """What a study records of the backtest it searched: strategy, data, settings, constraint, space."""
    engine, data = backtest._engine, backtest._data
    return {
        "strategy": backtest._strategy.__qualname__,
        "strategy_source": engine.strategy_hash(),
        "data": {"fingerprint": engine.fingerprint(), "bars": len(data), "first": _when(data.index[0]),
                 "last": _when(data.index[-1])},
        "settings": engine.settings(),
        "constraint": _source(constraint),
        "constraints": describe_constraints(list(constraints)),
        "candidates": {name: _shown(values) for name, values in params.items()},
    }


def write_report(backtest: Backtest, path: Any, study: Study, best_run: pd.Series) -> None:
    """Write the optimisation report of ``study``; ``best_run`` (already run) gives its trades and chart."""
    from backtestkit.plotting._chart import backtest_layout

    indicators = backtest._plot_indicators(best_run)
    chart = backtest_layout(ohlc=backtest._plot_ohlc(), stats=best_run, indicators=indicators)
    study.write_report(path, best_run=best_run, chart=chart)
