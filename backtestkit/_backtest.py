"""Backtest: validates the set-up, runs the bar loop, and composes stats, optimisation and plotting."""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._broker import Broker
from backtestkit._data import Data
from backtestkit._errors import check_number, param_error, unknown_name_error, warn
from backtestkit._fees import fee_function
from backtestkit._objective import Objective, objective_for, quiet_runs, write_report
from backtestkit._ohlcv import validate_ohlcv
from backtestkit._stats import compute_stats, warmup_bars
from backtestkit._strategy import IndicatorViews, Strategy
from backtestkit._typing import Commission


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
        self._cash = check_number("Backtest", "cash", cash, "a number > 0", lambda x: x > 0)
        self._spread = check_number("Backtest", "spread", spread, "a number in [0, 0.1)",
                                    lambda x: 0 <= x < 0.1)
        self._fee, self._fixed_fee = fee_function(commission)
        self._margin = check_number("Backtest", "margin", margin, "a number in (0, 1]", lambda x: 0 < x <= 1)
        flags = {"trade_on_close": trade_on_close, "hedging": hedging,
                 "exclusive_orders": exclusive_orders, "finalize_trades": finalize_trades}
        for name, value in flags.items():
            if not isinstance(value, (bool, np.bool_)):
                raise param_error("Backtest", name, "True or False", value, exc=TypeError)
        self._flags = {k: bool(v) for k, v in flags.items()}
        self._data = validate_ohlcv(data, owner="Backtest", name="data", stacklevel=3)
        self._strategy = strategy
        self._results: pd.Series | None = None

    def __repr__(self) -> str:
        return f"<Backtest {self._strategy.__name__} on {len(self._data)} bars>"

    def run(self, **params: Any) -> pd.Series:
        """Run the strategy over the data; ``params`` override the strategy's class attributes.

        Returns the stats as a pandas Series (see doc/stats.md), with ``_strategy``, ``_equity_curve``
        and ``_trades`` at the end.
        """
        self._check_params(params)
        broker, strategy, equity = self._simulate(params)
        self._results = self._stats(broker, strategy, equity)
        return self._results

    def optimize(self, *, maximize: str | Callable[[pd.Series], float] = "SQN",
                 minimize: str | Callable[[pd.Series], float] | None = None, method: str = "grid",
                 max_tries: int | float | None = None, constraint: Callable[[Any], bool] | None = None,
                 return_heatmap: bool = False, return_optimization: bool = False,
                 random_state: int | np.random.Generator | None = None, n_jobs: int | None = None,
                 show_progress: bool | None = None, report: str | os.PathLike | None = None,
                 estimator: str = "et", **params: Any) -> Any:
        """Find the strategy parameters that maximise an objective; returns the best run's stats.

        Each keyword in ``params`` names a strategy parameter and gives its candidate values (a
        range, list, array or pandas Index; a scalar is one fixed value). ``maximize`` is a stats key
        or a callable ``stats -> float`` that sees the whole stats Series (``_trades`` and
        ``_equity_curve`` too); ``minimize`` is the same, lower being better. Runs without a trade
        rank last. ``constraint(p)`` keeps the combinations worth running (``p.n1 < p.n2``).
        ``method='grid'`` runs every admissible combination (or a random sample of ``max_tries``: a
        count, or a fraction of the grid); ``method='skopt'`` searches with a scikit-optimize
        surrogate model (``estimator``: ``'et'`` extra trees, ``'rf'``, ``'gbrt'`` or ``'gp'``) for
        ``max_tries`` runs (default 200). Runs go in parallel over ``n_jobs`` workers via joblib (all
        cores by default; ``joblib.parallel_config`` is honoured, e.g. a dask cluster). ``report``
        names an HTML file for a self-contained report of the search (settings, heatmaps, the top
        combinations' stats, the best run's chart). See doc/optimisation.md.

        Returns the best run's stats, then the heatmap (a Series with a row per evaluated
        combination, in the objective's own values) if ``return_heatmap``, then scikit-optimize's
        result if ``return_optimization``.
        """
        options = [name for name, p in inspect.signature(Backtest.optimize).parameters.items()
                   if p.kind is p.KEYWORD_ONLY]
        self._check_params(params, "Backtest.optimize", options=options)  # maximise=... is a typo
        objective_name, score = objective_for(maximize, minimize)
        if report is not None:
            from backtestkit.plotting._output import check_page_path

            check_page_path("Backtest.optimize", "report", report)
        from backtestkit.optimize import run_search

        settings = {"method": method, "max_tries": max_tries, "constraint": constraint,
                    "random_state": random_state, "n_jobs": n_jobs}
        started = time.perf_counter()
        result = run_search(
            Objective(self, score), params, known_params=strategy_parameters(self._strategy),
            owner="Backtest.optimize", show_progress=show_progress, return_optimization=return_optimization,
            objective_name=objective_name, estimator=estimator, **settings)
        elapsed = time.perf_counter() - started
        heatmap = result.heatmap if minimize is None else -result.heatmap  # in the objective's own values
        if report is not None:
            write_report(self, report, heatmap=heatmap, result=result, params=params, settings=settings,
                         direction="maximised" if minimize is None else "minimised", elapsed=elapsed)
        with quiet_runs():  # as quiet as the runs it chose from
            stats = self.run(**result.best_params)
        extras = [heatmap] * return_heatmap + [result.optimize_result] * return_optimization
        return (stats, *extras) if extras else stats

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
            ohlc=self._plot_ohlc(), stats=results, indicators=self._plot_indicators(results), filename=filename,
            plot_width=plot_width, plot_equity=plot_equity, plot_return=plot_return, plot_pl=plot_pl,
            plot_volume=plot_volume, plot_drawdown=plot_drawdown, plot_trades=plot_trades,
            smooth_equity=smooth_equity, relative_equity=relative_equity, superimpose=superimpose,
            resample=resample, reverse_indicators=reverse_indicators, show_legend=show_legend,
            open_browser=open_browser)

    def _plot_ohlc(self) -> pd.DataFrame:
        """The bars as the chart draws them (in the units ``run()`` reports: see FractionalBacktest)."""
        return self._data

    @staticmethod
    def _plot_indicators(results: Any) -> list:
        """A run's indicators as the plotting package takes them."""
        from backtestkit.plotting._chart import Indicator

        strategy = results.get("_strategy") if isinstance(results, pd.Series) else None
        return [Indicator(array.name, np.asarray(array), **{k: array._opts[k] for k in Indicator._fields[2:]})
                for array in getattr(strategy, "_indicators", [])]

    def _check_params(self, params: dict[str, Any], owner: str | None = None, *,
                      options: Iterable[str] = ()) -> None:
        """Every name in ``params`` is a strategy parameter; else the error, suggesting ``options`` too."""
        known, owner = strategy_parameters(self._strategy), owner or self._strategy.__name__
        for name in params:
            if name not in known:
                raise unknown_name_error("parameter", name, known, owner, also=options)

    def _simulate(self, params: dict[str, Any]) -> tuple[Broker, Strategy, np.ndarray]:
        data = Data(self._data)
        broker = Broker(ohlc=self._data, cash=self._cash, spread=self._spread, fee=self._fee,
                        fixed_fee=self._fixed_fee, margin=self._margin,
                        trade_on_close=self._flags["trade_on_close"], hedging=self._flags["hedging"],
                        exclusive_orders=self._flags["exclusive_orders"])
        strategy = self._strategy(broker, data, params)
        strategy._run_init()
        start = 1 + warmup_bars(strategy, len(self._data))
        views = IndicatorViews(strategy)
        try:
            ruined_at = self._loop(broker, data, strategy.next, views, start)
        finally:
            data._n = len(self._data)
            views.release()
        if ruined_at is None and self._flags["finalize_trades"]:
            broker.i = len(self._data) - 1
            broker.close_all(broker.last_price)
        elif ruined_at is None and broker.trades:
            warn("Some trades remain open at the end of the backtest and are not in the stats. "
                 "Use Backtest(..., finalize_trades=True) to close them at the last Close.")
        return broker, strategy, broker.equity_curve(self._cash, end=ruined_at)

    def _loop(self, broker: Broker, data: Data, next_: Callable[[], None], views: IndicatorViews,
              start: int) -> int | None:
        """The bar loop; returns the bar at which the account ran out of money, if it did."""
        orders, close = broker.orders, broker._close
        refreshed, refreshed_2d, state = views.refreshed, views.refreshed_2d, views.state
        ruin_below, ruin_above = broker.ruin_band
        i = start
        try:
            for i in range(start, len(close)):
                n = i + 1
                data._n = n
                broker.i = i
                for name, full in refreshed:  # every bar: the indicators the strategy has read, up to now
                    state[name] = full[:n]
                if refreshed_2d:  # 2-D indicators read, or next() rebound
                    next_ = views.catch_up(n, next_)
                if orders:
                    broker.process_orders()
                    ruin_below, ruin_above = broker.ruin_band
                price = close[i]
                if (price <= ruin_below or price >= ruin_above) and broker.is_ruined():
                    broker.close_all(price)
                    broker.cash = 0.0
                    return i
                next_()
        except Exception as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"(raised on bar {i}, {data._index_[i]})")
            raise
        return None

    def _stats(self, broker: Broker, strategy: Strategy, equity: np.ndarray, *,
               full: bool = True) -> pd.Series:
        trades = trades_frame(broker.closed_trades, broker.index, strategy._indicators, full=full)
        return compute_stats(trades, equity, self._data, strategy)


def trades_frame(trades: list, index: pd.Index, indicators: list[np.ndarray], *,
                 full: bool = True) -> pd.DataFrame:
    """The ``_trades`` frame: one row per closed trade, then each indicator at entry and exit.

    ``full=False`` gives only the numeric columns the stats read (EntryBar, ExitBar, PnL, Commission,
    ReturnPct, Duration): all an optimisation by a stats key needs, at a fraction of the cost.
    P/L and return are computed from the columns with the formulas of ``Trade.pl`` and
    ``Trade.pl_pct``, operation for operation, so they equal those properties exactly.
    """
    def field(name: str) -> list:  # a list per column, not a tuple per row: less work for the GC
        return list(map(attrgetter(name), trades))

    sizes = np.array(field("_size"))  # whole units: int, or float once a partial close made them so
    size = sizes.astype(float)
    entry_bars, exit_bars = (np.array(field(name), dtype=int) for name in ("_entry_bar", "_exit_bar"))
    entry, exit_, fee = (np.array(field(name), dtype=float)
                         for name in ("_entry_price", "_exit_price", "_fees"))
    pnl = size * (exit_ - entry) - fee
    return_pct = np.copysign(1.0, size) * (exit_ / entry - 1) - fee / (np.abs(size) * entry)
    entry_times, exit_times = index[entry_bars], index[exit_bars]
    try:
        durations = exit_times - entry_times
    except TypeError:  # labels that do not subtract (names): durations in bars
        durations = pd.Index(exit_bars - entry_bars)
    if not full:
        return pd.DataFrame({"EntryBar": entry_bars, "ExitBar": exit_bars, "PnL": pnl, "Commission": fee,
                             "ReturnPct": return_pct, "Duration": durations})
    columns: dict[str, Any] = {
        "Size": sizes if trades else [],  # empty: the dtype pandas gives an empty list
        "EntryBar": entry_bars,
        "ExitBar": exit_bars,
        "EntryPrice": entry,
        "ExitPrice": exit_,
        "SL": field("_sl_value"),
        "TP": field("_tp_value"),
        "PnL": pnl,
        "Commission": fee,
        "ReturnPct": return_pct,
        "EntryTime": entry_times,
        "ExitTime": exit_times,
        "Duration": durations,
        "Tag": field("_tag"),
    }
    for array in indicators if trades else ():
        name, values = array.name, np.asarray(array)
        rows = ([(f"{name}", values)] if values.ndim == 1
                else [(f"{name}_{j}", row) for j, row in enumerate(values)])
        for label, row in rows:
            columns[f"Entry_{label}"] = row[entry_bars]
            columns[f"Exit_{label}"] = row[exit_bars]
    return pd.DataFrame(columns)
