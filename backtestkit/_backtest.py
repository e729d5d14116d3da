"""Backtest: validates the set-up, runs the bar loop, and composes stats, optimisation and plotting."""

from __future__ import annotations

import copy
import datetime
import inspect
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._engine import Engine
from backtestkit._errors import check_number, param_error, unknown_name_error, warn
from backtestkit._fees import fee_function
from backtestkit._goal import Goal, goal_for
from backtestkit._objective import (
    constraints_for,
    quiet_runs,
    study_info,
    write_report,
)
from backtestkit._ohlcv import validate_ohlcv
from backtestkit._strategy import Strategy
from backtestkit._typing import Bound, Commission

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize import SearchMethod, Study


def strategy_parameters(strategy: type[Strategy]) -> list[str]:
    """The parameters a Strategy subclass declares: its public, non-callable class attributes."""
    base = set(dir(Strategy))
    names = []
    for name in dir(strategy):
        if name.startswith("_") or name in base:
            continue
        value = getattr(strategy, name)
        if not callable(value) and not isinstance(value, (property, staticmethod, classmethod)):
            names.append(name)
    return names


class Backtest:
    """Backtest a Strategy on OHLC data.

    Parameters mirror backtesting.py: ``cash`` to start with; ``spread`` (relative, paid on entry);
    ``commission`` per fill (relative float, ``(fixed, relative)`` tuple or ``callable(size, price)``);
    ``margin`` (0 < margin <= 1; 0.1 is 10x leverage); ``trade_on_close`` fills market orders at the
    order bar's Close; ``hedging`` allows opposite trades at once; ``exclusive_orders`` makes every
    new order close all trades and cancel other orders; ``finalize_trades`` closes trades left open
    at the last Close so they count in the stats.

    >>> from backtestkit.datasets import load_daily
    >>> stats = Backtest(load_daily(), Strategy).run()
    >>> stats['# Trades']
    0
    """

    def __init__(self, data: pd.DataFrame, strategy: type[Strategy], *, cash: float = 10_000,
                 spread: float = 0.0, commission: Commission = 0.0, margin: float = 1.0,
                 trade_on_close: bool = False, hedging: bool = False, exclusive_orders: bool = False,
                 finalize_trades: bool = False) -> None:
        if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
            raise param_error("Backtest", "strategy", "a Strategy subclass (the class, not an instance)",
                              strategy, exc=TypeError)
        cash = check_number("Backtest", "cash", cash, "a number > 0", lambda x: x > 0)
        spread = check_number("Backtest", "spread", spread, "a number in [0, 0.1)", lambda x: 0 <= x < 0.1)
        fee, fixed_fee = fee_function(commission)
        margin = check_number("Backtest", "margin", margin, "a number in (0, 1]", lambda x: 0 < x <= 1)
        flags = {"trade_on_close": trade_on_close, "hedging": hedging,
                 "exclusive_orders": exclusive_orders, "finalize_trades": finalize_trades}
        for name, value in flags.items():
            if not isinstance(value, (bool, np.bool_)):
                raise param_error("Backtest", name, "True or False", value, exc=TypeError)
        self._data = validate_ohlcv(data, owner="Backtest", name="data", stacklevel=3)
        self._strategy = strategy
        self._engine = Engine(self._data, strategy, cash=cash, spread=spread, fee=fee, fixed_fee=fixed_fee,
                              margin=margin, flags={k: bool(v) for k, v in flags.items()},
                              commission=commission)
        self._results: pd.Series | None = None

    def __repr__(self) -> str:
        return f"<Backtest {self._strategy.__name__} on {len(self._data)} bars>"

    def run(self, **params: Any) -> pd.Series:
        """Run the strategy over the data; ``params`` override the strategy's class attributes.

        Returns the stats as a pandas Series (see doc/stats.md), with ``_strategy``, ``_equity_curve``
        and ``_trades`` at the end.
        """
        self._check_params(params)
        self._results = self._engine.stats(params)
        return self._results

    def window(self, start: Bound = None, end: Bound = None) -> Backtest:
        """The same backtest over a window of its bars: a new Backtest that runs only inside it.

        ``start`` and ``end`` are positions (``end`` excluded, negative from the end, as in
        ``data.iloc[start:end]``) or timestamps / date strings (``end`` included, as in
        ``data.loc[start:end]``); None is the data's first or last bar. The strategy's ``init()`` sees
        every bar up to the window's end, so indicators are warm on its first bar (a 200-bar SMA has a
        value there if 200 bars precede it); ``next()`` runs, orders fill and stats count only inside
        the window, and trades still open on its last bar are closed at that bar's Close. Bars after
        the window are never seen. ``run()``, ``optimize()`` and ``plot()`` work as usual on the window;
        a window of a window is taken within it. See doc/execution.md.

        Raises ValueError or TypeError, naming the argument, for a bound that is not in the data or a
        window with no bar.

        >>> from backtestkit.datasets import load_daily
        >>> bt = Backtest(load_daily(), Strategy)
        >>> bt.window('2021-01-01', '2021-12-31').run()['Start']
        Timestamp('2021-01-01 00:00:00')
        """
        first, stop = window_bounds(self._data.index, start, end, "Backtest.window")
        offset = self._engine.start or 0
        windowed = copy.copy(self)
        windowed._engine = self._engine.window(offset + first, offset + stop)
        windowed._data = self._data.iloc[first:stop]
        windowed._results = None
        return windowed

    def optimize(self, *, maximize: str | Callable[[pd.Series], float] = "SQN",
                 minimize: str | Callable[[pd.Series], float] | None = None,
                 method: str | SearchMethod = "grid", max_tries: int | float | None = None,
                 constraint: Callable[[Any], bool] | None = None, return_heatmap: bool = False,
                 return_optimization: bool = False, return_study: bool = False,
                 random_state: int | np.random.Generator | None = None, n_jobs: int | None = None,
                 show_progress: bool | None = None, report: str | os.PathLike | None = None,
                 estimator: str = "et", study: str | os.PathLike | None = None, study_name: str | None = None,
                 constraints: Sequence[str | Callable[[pd.Series], bool]] | None = None,
                 target: float | None = None, timeout: float | datetime.timedelta | None = None,
                 patience: int | None = None, metrics: Sequence[str] | None = None, dry_run: bool = False,
                 **params: Any) -> Any:
        """Find the strategy parameters that maximise an objective; returns the best run's stats.

        Each keyword in ``params`` names a strategy parameter and gives its candidate values (a
        range, list, array or pandas Index; a scalar is one fixed value). ``maximize`` is a stats key
        or a callable ``stats -> float`` that sees the whole stats Series (``_trades`` and
        ``_equity_curve`` too); ``minimize`` is the same, lower being better. Runs without a trade
        rank last. ``maximize``/``minimize`` may also be a fitness expression over stats keys
        (``"Sharpe Ratio * min(1, `# Trades` / 100)"``). ``constraint(p)`` keeps the combinations worth
        running (``p.n1 < p.n2``); ``constraints`` are rules on a run's results (expressions such as
        ``"# Trades >= 30"`` or callables ``stats -> bool``): runs that break one are 'infeasible',
        ranked after every feasible run. The search stops early once the best value reaches
        ``target``, after ``timeout`` seconds (or a ``datetime.timedelta``), or after ``patience``
        evaluations in a row without improvement (checked between batches; the study's state is then
        'stopped', with the reason in ``study.info['stopped']``).
        ``method='grid'`` runs every admissible combination (or a random sample of ``max_tries``: a
        count, or a fraction of the grid); ``method='skopt'`` searches with a scikit-optimize
        surrogate model (``estimator``: ``'et'`` extra trees, ``'rf'``, ``'gbrt'`` or ``'gp'``) for
        ``max_tries`` runs (default 200); a ``backtestkit.optimize.SearchMethod`` object is used as
        given. Runs go in parallel over ``n_jobs`` workers via joblib (all cores by default;
        ``joblib.parallel_config`` is honoured, e.g. a dask cluster). ``report`` names an HTML file
        for a self-contained report of the search. ``study`` names a SQLite file that keeps every
        trial as it finishes (``study_name`` within it, by default the strategy's name): the same
        call run again resumes it, running only what is missing. ``dry_run=True`` searches nothing: it
        returns an :class:`~backtestkit.optimize.Estimate` of the search's cost (admissible
        combinations, planned runs, a few runs timed, the wall time on ``n_jobs`` workers).
        ``metrics`` names the stats keys each trial keeps (by default every numeric one): with a
        short list, each run computes only those and what the objective and ``constraints`` read,
        so a big grid runs faster and its study takes less memory. See doc/optimisation.md.

        Returns the best run's stats, then the heatmap (a Series with a row per evaluated
        combination, in the objective's own values) if ``return_heatmap``, then scikit-optimize's
        result if ``return_optimization``, then the :class:`~backtestkit.optimize.Study` (every
        trial, its state and stats) if ``return_study``.
        """
        given = {name: value for name, value in locals().items() if name not in ("self", "params")}
        defaults = {name: p.default for name, p in inspect.signature(Backtest.optimize).parameters.items()
                    if p.kind is p.KEYWORD_ONLY}
        self._check_params(params, "Backtest.optimize", options=defaults)  # maximise=... is a typo
        _check_flags(return_heatmap=return_heatmap, return_optimization=return_optimization,
                     return_study=return_study, dry_run=dry_run)
        _check_no_clash(self._strategy, [name for name, default in defaults.items()
                                         if not _is_default(given[name], default)])
        result_rules = constraints_for(constraints)
        goal = goal_for(maximize, minimize).keeping(metrics, result_rules)  # one objective or several
        if report is not None:
            from backtestkit.plotting._output import check_page_path

            check_page_path("Backtest.optimize", "report", report)
        from backtestkit.optimize import run_search

        objective, metric_names, searched = self._search_objective(goal, result_rules)
        if dry_run:
            return _estimate(objective, params, self._strategy, method=method, max_tries=max_tries,
                             constraint=constraint, random_state=random_state, n_jobs=n_jobs,
                             estimator=estimator)
        found = run_search(
            objective, params, known_params=strategy_parameters(self._strategy),
            owner="Backtest.optimize", method=method, max_tries=max_tries, constraint=constraint,
            random_state=random_state, n_jobs=n_jobs, show_progress=show_progress,
            return_optimization=return_optimization, objective_name=goal.name, estimator=estimator,
            maximize=goal.maximize, metric_names=metric_names, storage=study,
            study_name=study_name or self._strategy.__name__,
            info={**study_info(self, constraint, params, result_rules), **goal.info, **searched},
            target=target, timeout=timeout, patience=patience)
        if len(found) and np.isnan(found.best_value):
            warn(f"Every one of the {len(found):,} runs scored NaN ({_states(found)}): there is no best "
                 f"parameter set, and the stats returned are the first combination's.")
        with quiet_runs():  # as quiet as the runs it chose from
            stats = self.run(**found.best_params)
        if report is not None:
            write_report(self, report, found, stats)
        extras = ([found.heatmap()] * return_heatmap + [found.optimize_result] * return_optimization
                  + [found] * return_study)
        return (stats, *extras) if extras else stats

    def _search_objective(self, goal: Goal, constraints: Sequence[Callable[[Any], Any]] = ()
                          ) -> tuple[Any, list[str], dict[str, Any]]:
        """What the search runs for ``goal`` under the result ``constraints``: the objective, the stats
        columns each trial keeps, and more facts for the study's record (MultiBacktest's robust search
        scores several data sets)."""
        return goal.objective(self._engine, constraints), goal.metric_names, {}

    def plot(self, *, results: pd.Series | None = None, filename: str | None = None,
             plot_width: int | None = None, plot_equity: bool = True, plot_return: bool = False,
             plot_pl: bool = True, plot_volume: bool = True, plot_drawdown: bool = False,
             plot_trades: bool = True, smooth_equity: bool = False, relative_equity: bool = True,
             superimpose: bool | str = True, resample: bool | str = True, reverse_indicators: bool = False,
             show_legend: bool = True, open_browser: bool = True) -> Any:
        """Draw the last run (or ``results``) as an interactive Bokeh chart; returns the layout.

        Panels: equity, optional return and drawdown, trade P/L, candlesticks with trades and
        overlaid indicators, volume, and one panel per other indicator. Runs of over ~10k bars are
        downsampled (the title says so). Writes a standalone HTML file (``filename``, ``.html``
        added if it lacks it; by default named after the strategy and the parameters it ran with,
        ``SmaCross(n1=10,n2=15).html``) that needs no network, and opens it unless
        ``open_browser=False``; in a notebook it displays inline (see ``set_bokeh_output``).
        Indicators that are not numbers are left out, with a warning.
        """
        from backtestkit.plotting._chart import plot_backtest

        if results is None:
            if self._results is None:
                raise RuntimeError("Backtest.plot needs a run to draw: call Backtest.run() first, "
                                   "or pass results=stats.")
            results = self._results
        return plot_backtest(
            ohlc=self._plot_ohlc(), stats=results, indicators=self._plot_indicators(results),
            filename=filename,
            plot_width=plot_width, plot_equity=plot_equity, plot_return=plot_return, plot_pl=plot_pl,
            plot_volume=plot_volume, plot_drawdown=plot_drawdown, plot_trades=plot_trades,
            smooth_equity=smooth_equity, relative_equity=relative_equity, superimpose=superimpose,
            resample=resample, reverse_indicators=reverse_indicators, show_legend=show_legend,
            open_browser=open_browser)

    def _plot_ohlc(self) -> pd.DataFrame:
        """The bars as the chart draws them (in the units ``run()`` reports: see FractionalBacktest)."""
        return self._data

    def _plot_indicators(self, results: Any) -> list:
        """A run's indicators as the plotting package takes them (a window's bars of them)."""
        from backtestkit.plotting._chart import Indicator

        strategy, n = results.get("_strategy") if isinstance(results, pd.Series) else None, len(self._data)
        return [Indicator(array.name, np.asarray(array)[..., -n:],
                          **{k: array._opts[k] for k in Indicator._fields[2:]})
                for array in getattr(strategy, "_indicators", [])]

    def _check_params(self, params: dict[str, Any], owner: str | None = None, *,
                      options: Iterable[str] = ()) -> None:
        """Every name in ``params`` is a strategy parameter; else the error, suggesting ``options`` too."""
        known, owner = strategy_parameters(self._strategy), owner or self._strategy.__name__
        for name in params:
            if name not in known:
                raise unknown_name_error("parameter", name, known, owner, also=options)


def _estimate(objective: Any, params: dict[str, Any], strategy: type[Strategy], **options: Any) -> Any:
    """``optimize(..., dry_run=True)``: the search's estimated cost, a few runs timed (quietly)."""
    from backtestkit.optimize import estimate_search

    with quiet_runs():
        return estimate_search(objective, params, known_params=strategy_parameters(strategy),
                               owner="Backtest.optimize", **options)


def window_bounds(index: pd.Index, start: Bound, end: Bound, owner: str) -> tuple[int, int]:
    """The positions ``first, stop`` of the bars from ``start`` to ``end`` (see :meth:`Backtest.window`).

    >>> window_bounds(pd.RangeIndex(10), 2, -3, "f")
    (2, 7)
    """
    first = _position(index, start, "start", owner)
    stop = _position(index, end, "end", owner)
    if first >= stop:
        raise ValueError(f"The window of {owner} from start={start!r} to end={end!r} holds no bar "
                         f"(bars {first} to {stop - 1} of {len(index)}).")
    return first, stop


def _position(index: pd.Index, bound: Bound, name: str, owner: str) -> int:
    """One bound as a position: the window's first bar for ``start``, one past its last for ``end``."""
    n = len(index)
    if bound is None:
        return 0 if name == "start" else n
    if isinstance(bound, numbers.Integral) and not isinstance(bound, (bool, np.bool_)):
        if not -n <= bound <= n:
            raise param_error(owner, name, f"a position in [-{n}, {n}]", bound)
        return int(bound) % n if bound != n else n
    if isinstance(bound, (str, datetime.date, np.datetime64)):
        try:
            found = (index.slice_indexer(bound, None).start if name == "start"
                     else index.slice_indexer(None, bound).stop)
        except (KeyError, TypeError, ValueError):
            found = None
        if found is None or isinstance(found, slice):
            raise param_error(owner, name, "a timestamp or date string in the data's index", bound)
        return min(max(int(found), 0), n)
    raise param_error(owner, name, "a position, a timestamp or a date string (or None)", bound, exc=TypeError)


def _check_flags(**flags: Any) -> None:
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise param_error("Backtest.optimize", name, "True or False", value, exc=TypeError)


def _check_no_clash(strategy: type[Strategy], given: Iterable[str]) -> None:
    """An optimize() option ``given`` that is also a strategy parameter's name may mean either: say so.
    (A strategy parameter named like an option not given keeps its value, as in backtesting.py.)"""
    clash = sorted(set(strategy_parameters(strategy)) & set(given))
    if clash:
        names = ", ".join(map(repr, clash))
        raise ValueError(f"{strategy.__name__} has parameters named like options of Backtest.optimize "
                         f"({names}), so they cannot be searched over: the values given go to the "
                         f"options. Rename them in the strategy, e.g. {clash[0]}_ instead of {clash[0]}.")


def _is_default(value: Any, default: Any) -> bool:
    """Whether an option's value is its default (None, a flag, a name such as 'grid')."""
    return value is default or (type(value) is str and type(default) is str and value == default)


def _states(study: Study) -> str:
    counts = study.trials_dataframe()["state"].value_counts()
    return ", ".join(f"{count:,} {state.replace('_', ' ')}" for state, count in counts.items() if count)
