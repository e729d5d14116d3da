"""Building blocks for strategies: signal helpers, composable strategies and backtest variants.

Same names and behaviour as ``backtesting.lib`` (0.6), with the documented fixes: helpers never
look at future data, and ``resample_apply`` finds its strategy explicitly rather than by walking
stack frames.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest
from backtestkit._data import LiveArray, _Array
from backtestkit._errors import Verbatim, param_error
from backtestkit._goal import Goal
from backtestkit._ohlcv import validate_ohlcv
from backtestkit._robust import RobustObjective, aggregate_function, robust_metric_names
from backtestkit._stats import recompute_stats as compute_stats
from backtestkit._strategy import Strategy, as_label, initialising
from backtestkit.datasets._random import random_ohlc_data

if TYPE_CHECKING:  # at run time, __getattr__ below imports it (and bokeh) on first use
    from backtestkit.plotting import plot_heatmaps

__all__ = [
    "OHLCV_AGG",
    "TRADES_AGG",
    "FractionalBacktest",
    "MultiBacktest",
    "SignalStrategy",
    "TrailingStrategy",
    "barssince",
    "compute_stats",
    "cross",
    "crossover",
    "plot_heatmaps",
    "quantile",
    "random_ohlc_data",
    "resample_apply",
]

OHLCV_AGG = OrderedDict((("Open", "first"), ("High", "max"), ("Low", "min"), ("Close", "last"),
                         ("Volume", "sum")))
"""How to aggregate OHLCV columns when resampling: ``df.resample('W').agg(OHLCV_AGG)``."""

TRADES_AGG = OrderedDict((("Size", "sum"), ("EntryBar", "first"), ("ExitBar", "last"),
                          ("EntryPrice", "mean"), ("ExitPrice", "mean"), ("PnL", "sum"),
                          ("ReturnPct", "mean"), ("EntryTime", "first"), ("ExitTime", "last"),
                          ("Duration", "sum")))
"""How to aggregate the ``_trades`` frame when resampling it by time."""


_LEVELS = (float, int, np.float64, np.int64)  # a constant level, such as 70 in crossover(self.rsi, 70)
_ARRAYS = (_Array, LiveArray)  # a data column or indicator, as a strategy sees it


def _last_two(series: Any) -> tuple[Any, Any]:
    if isinstance(series, Number):
        return series, series
    if isinstance(series, (pd.Series, pd.DataFrame)):
        series = series.to_numpy()
    return series[-2], series[-1]


def crossover(series1: Sequence | float, series2: Sequence | float) -> bool:
    """True if ``series1`` has just crossed above ``series2`` (on the last bar).

    >>> crossover(np.array([1, 1, 3]), np.array([2, 2, 2]))
    True
    >>> crossover(np.array([1, 3, 1]), 2)
    False
    """
    kind = type(series1)
    if kind is LiveArray and type(series2) is LiveArray:  # two indicators in next(): floats read in place
        a, b, n = series1._floats, series2._floats, series1._bar[0]
        if a is not None and b is not None and series2._bar[0] == n:
            return n >= 2 and a[n - 2] < b[n - 2] and a[n - 1] > b[n - 1]
    try:  # fast paths, run every bar by many strategies: a strategy's own data and indicators, and levels
        if kind in _ARRAYS:
            other = type(series2)
            if other in _ARRAYS:
                return series1[-2] < series2[-2] and series1[-1] > series2[-1]  # type: ignore
            if other in _LEVELS:
                return series1[-2] < series2 and series1[-1] > series2  # type: ignore
        elif kind in _LEVELS and type(series2) in _ARRAYS:
            return series1 < series2[-2] and series1 > series2[-1]  # type: ignore
    except IndexError:
        return False
    try:
        (a0, a1), (b0, b1) = _last_two(series1), _last_two(series2)
    except IndexError:
        return False
    return bool(a0 < b0 and a1 > b1)


def cross(series1: Sequence | float, series2: Sequence | float) -> bool:
    """True if the two series have just crossed, in either direction.

    >>> cross(np.array([1, 3]), np.array([2, 2]))
    True
    """
    return crossover(series1, series2) or crossover(series2, series1)


def barssince(condition: Sequence[bool], default: float = np.inf) -> float:
    """Bars since ``condition`` was last True (0 on the last bar), or ``default`` if never.

    >>> barssince(np.array([True, True, False]))
    1
    >>> barssince(np.array([False, False]))
    inf
    """
    hits = np.flatnonzero(np.asarray(condition, dtype=bool)[::-1])
    return int(hits[0]) if hits.size else default


def quantile(series: Sequence, quantile: float | None = None) -> float:
    """Percentile rank of the last value among the earlier ones, or the ``quantile`` value of the series.

    >>> quantile(np.array([1, 2, 3, 4, 5]))
    1.0
    >>> float(quantile(np.array([1, 2, 3, 4, 5]), .5))
    3.0
    """
    values = np.asarray(series, dtype=float)
    if quantile is None:
        return float(np.mean(values[:-1] < values[-1])) if values.size > 1 else np.nan
    if not (isinstance(quantile, Number) and 0 <= quantile <= 1):
        raise param_error("quantile", "quantile", "a number in [0, 1] or None", quantile)
    return np.nanpercentile(values, quantile * 100)


def _as_pandas(series: Any) -> pd.Series | pd.DataFrame:
    if isinstance(series, _Array):
        return series.s if series.ndim == 1 else series.df
    if not isinstance(series, (pd.Series, pd.DataFrame)):
        raise param_error("resample_apply", "series", "a pandas Series/DataFrame or a strategy's data column "
                          "or indicator", Verbatim(type(series).__name__), exc=TypeError)
    if not isinstance(series.index, pd.DatetimeIndex):
        raise param_error("resample_apply", "series", "indexed by a DatetimeIndex",
                          Verbatim(type(series.index).__name__))
    return series


def resample_apply(rule: str, func: Callable[..., Sequence] | None, series: Any, *args: Any,
                   agg: str | dict | None = None, **kwargs: Any) -> Any:
    """Apply ``func`` to ``series`` resampled to a longer time frame, mapped back onto the bars.

    ``rule`` is a pandas offset alias (``'W-FRI'``, ``'4h'``, ``'5D'``). Resampled bars are labelled
    by their right edge, and a value shows from its label on but never before the last bar it
    aggregates, so each bar only sees completed higher-timeframe bars' values: below, the 5-day bar
    of Jan 1–5 closes at 5.0 and shows from Jan 6 on; on hourly bars, a ``'W-FRI'`` week shows from
    Friday's last bar on. Inside
    ``Strategy.init()`` the result is declared as an indicator (``name``/``plot``/``overlay``/... are
    passed to ``Strategy.I``); elsewhere the pandas result is returned.

    >>> close = pd.Series(range(1, 11), pd.date_range('2024-01-01', periods=10), name='Close', dtype=float)
    >>> resample_apply('5D', None, close).tolist()
    [nan, nan, nan, nan, nan, 5.0, 5.0, 5.0, 5.0, 5.0]
    """
    func = _identity if func is None else func
    if not callable(func):
        raise param_error("resample_apply", "func", "a callable or None", func, exc=TypeError)
    series = _as_pandas(series)
    if agg is None:
        agg = (OHLCV_AGG.get(series.name, "last") if isinstance(series, pd.Series)
               else {c: OHLCV_AGG.get(c, "last") for c in series.columns})
    resampled = series.resample(rule, label="right").agg(agg).dropna()
    if isinstance(resampled, pd.Series):
        resampled.name = f"{as_label(series)}[{rule}]"
    last_bars = series.index.to_series().resample(rule, label="right").max()  # each bin's last bar

    def apply(resampled: Any, *args: Any, **kwargs: Any) -> pd.Series | pd.DataFrame:
        result = func(resampled, *args, **kwargs)
        if not isinstance(result, (pd.Series, pd.DataFrame)):
            result = np.asarray(result)
            result = (pd.Series(result, index=resampled.index) if result.ndim == 1
                      else pd.DataFrame(result.T, index=resampled.index))
        elif not isinstance(result.index, pd.DatetimeIndex):  # e.g. pd.Series(values): one per resampled bar
            if len(result) != len(resampled):
                expected = (f"a function returning one value per resampled bar ({len(resampled)}) or a "
                            "Series on their timestamps")
                raise param_error("resample_apply", "func", expected,
                                  Verbatim(f"{len(result)} values on a {type(result.index).__name__}"))
            result = result.set_axis(resampled.index)
        available = _available(result.index, last_bars)
        result = result.set_axis(available)[available.notna()]
        full_index = result.index.union(series.index)
        return result.reindex(index=full_index, method="ffill").reindex(series.index)

    apply.__name__ = getattr(func, "__name__", type(func).__name__)
    strategy = initialising.get()
    if strategy is None:
        return apply(resampled, *args, **kwargs)
    return strategy.I(apply, resampled, *args, **kwargs)


def _available(labels: pd.DatetimeIndex, last_bars: pd.Series) -> pd.DatetimeIndex:
    """When each resampled bar's value is known: at its label (its right edge), but never before the
    last bar it aggregates. A weekly bar labelled Friday 00:00 holds Friday's intraday bars too: its
    value shows from Friday's last bar on, not from Friday's first. When the data ends inside such a
    bar, nothing tells whether it is complete: it does not show (NaT).

    >>> labels = pd.DatetimeIndex(['2024-01-05', '2024-01-12', '2024-01-19'])
    >>> last = pd.Series(pd.DatetimeIndex(['2024-01-05 16:00', '2024-01-11 16:00', '2024-01-19 12:00']),
    ...                  labels)
    >>> [str(when) for when in _available(labels, last)]
    ['2024-01-05 16:00:00', '2024-01-12 00:00:00', 'NaT']
    """
    last = pd.DatetimeIndex(last_bars.reindex(labels))
    late = np.asarray(last > labels)
    available = labels.where(~late, last)
    if len(late) and late[-1]:
        available = available.where(np.arange(len(late)) < len(late) - 1)
    return available


def _identity(series: Any, *_: Any, **__: Any) -> Any:
    return series


def _events(values: Sequence[float]) -> np.ndarray:
    """A signal as an indicator: floats, NaN where it is zero (nothing to do, nothing drawn)."""
    values = np.asarray(values, dtype=float)
    return np.where(values == 0, np.nan, values)


#: What SignalStrategy's bar-by-bar run calls: a subclass that defines any of them runs bar by bar.
_SIGNAL_PATH = frozenset(("next", "buy", "sell", "_order", "trades", "position"))


class SignalStrategy(Strategy):
    """Trade from precomputed signal arrays: call ``set_signal()`` in ``init()``.

    ``entry_size`` > 0 buys that size on the bar, < 0 sells; ``exit_portion`` > 0 closes that
    portion of long trades, < 0 of short trades.
    """

    _entry_signal: np.ndarray | None = None
    _exit_signal: np.ndarray | None = None

    def set_signal(self, entry_size: Sequence[float], exit_portion: Sequence[float] | None = None, *,
                   plot: bool = True) -> None:
        """Set the per-bar entry sizes and (optionally) exit portions; zeros mean "do nothing"."""
        # as self.I(...) would keep them, but never shared between an optimisation's runs: they differ
        style = {"plot": plot, "overlay": False, "color": "black", "scatter": True}
        self._entry_signal = self._indicator(_events(entry_size), "entry size", style)
        if exit_portion is not None:
            self._exit_signal = self._indicator(_events(exit_portion), "exit portion", style)

    def _signals(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The signals as the compiled kernel takes them, if :meth:`next` below is all that runs on each
        bar (nothing it calls replaced: by a subclass, a mixin or an attribute set on the instance) and
        they are one number a bar."""
        if not _SIGNAL_PATH.isdisjoint(self.__dict__) or any(
                not _SIGNAL_PATH.isdisjoint(vars(cls)) for cls in type(self).__mro__
                if cls is not SignalStrategy and cls is not Strategy):
            return None
        signals = tuple(np.zeros(len(self._data)) if a is None else np.asarray(a, dtype=float)
                        for a in (self._entry_signal, self._exit_signal))
        return signals if all(a.ndim == 1 for a in signals) else None  # type: ignore[return-value]

    def next(self) -> None:
        super().next()
        if self._exit_signal is not None:
            portion = self._exit_signal[-1]
            for trade in self.trades:
                if (portion > 0 and trade.is_long) or (portion < 0 and trade.is_short):
                    trade.close(abs(portion))
        if self._entry_signal is not None:
            size = self._entry_signal[-1]
            if size > 0:
                self.buy(size=size)
            elif size < 0:
                self.sell(size=-size)


class TrailingStrategy(Strategy):
    """Move every open trade's stop-loss to trail the price by ``n`` ATRs or by a percentage.

    Call ``super().init()`` and ``super().next()`` from your overrides. The ATR uses only past bars:
    while it is still warming up, stops are left where they are.
    """

    _n_atr: float = 6.0
    _trail_pct: float | None = None
    _atr: np.ndarray | None = None

    def init(self) -> None:
        super().init()
        self.set_atr_periods()

    def set_atr_periods(self, periods: int = 100) -> None:
        """Average true range over ``periods`` bars (simple moving average)."""
        if not (isinstance(periods, (int, np.integer)) and periods >= 1):
            raise param_error("TrailingStrategy.set_atr_periods", "periods", "an integer >= 1", periods)
        high, low = self.data.High, self.data.Low
        prev_close = pd.Series(self.data.Close).shift(1).to_numpy()
        true_range = np.max([high - low, np.abs(prev_close - high), np.abs(prev_close - low)], axis=0)
        self._atr = pd.Series(true_range).rolling(periods).mean().to_numpy()

    def set_trailing_sl(self, n_atr: float = 6) -> None:
        """Trail stops ``n_atr`` ATRs behind the close."""
        if not (isinstance(n_atr, Number) and n_atr > 0):
            raise param_error("TrailingStrategy.set_trailing_sl", "n_atr", "a number > 0", n_atr)
        self._n_atr, self._trail_pct = float(n_atr), None

    def set_trailing_pct(self, pct: float = 0.05) -> None:
        """Trail stops ``pct`` (e.g. 0.05 for 5%) behind the close."""
        if not (isinstance(pct, Number) and 0 < pct < 1):
            raise param_error("TrailingStrategy.set_trailing_pct", "pct", "a number in (0, 1)", pct)
        self._trail_pct = float(pct)

    def next(self) -> None:
        super().next()
        close = self.data.Close[-1]
        if self._trail_pct is not None:
            distance = close * self._trail_pct
        elif self._atr is None:
            raise RuntimeError(f"{type(self).__name__}.init() must call super().init(): TrailingStrategy "
                               "computes the ATR its stops trail by there (or call self.set_atr_periods()).")
        else:
            distance = self._atr[len(self.data) - 1] * self._n_atr
        if not np.isfinite(distance):
            return
        for trade in self.trades:
            if trade.is_long:
                trade.sl = max(trade.sl or -np.inf, close - distance)
            else:
                trade.sl = min(trade.sl or np.inf, close + distance)


class FractionalBacktest(Backtest):
    """A Backtest that trades fractions of a unit (e.g. satoshis of a bitcoin).

    Prices are divided into ``fractional_unit`` parts, so whole-unit orders buy fractions; the
    ``_trades`` sizes and prices are reported back in whole units, and ``plot()`` draws the bars and the
    indicators it overlays on them in whole units too. Indicators see the scaled prices.
    """

    def __init__(self, data: pd.DataFrame, *args: Any, fractional_unit: float = 1 / 100e6,
                 **kwargs: Any) -> None:
        if not (isinstance(fractional_unit, Number) and 0 < fractional_unit <= 1):
            raise param_error("FractionalBacktest", "fractional_unit", "a number in (0, 1]", fractional_unit)
        scaled = validate_ohlcv(data, owner="FractionalBacktest", name="data", stacklevel=3)
        scaled[["Open", "High", "Low", "Close"]] *= fractional_unit
        scaled["Volume"] /= fractional_unit
        super().__init__(scaled, *args, **kwargs)
        self._engine.unit = float(fractional_unit)

    def _plot_ohlc(self) -> pd.DataFrame:
        """The bars in whole units, as ``run()`` reports the trades."""
        data = self._data.copy()
        data[["Open", "High", "Low", "Close"]] /= self._engine.unit
        data["Volume"] *= self._engine.unit
        return data

    def _plot_indicators(self, results: Any) -> list:
        """Indicators drawn on the price (price-like: an SMA, a band) in whole units; others as they are."""
        from backtestkit.plotting._downsample import is_overlay

        close = self._data["Close"].to_numpy()
        indicators = super()._plot_indicators(results)
        for i, indicator in enumerate(indicators):
            values = np.asarray(indicator.values)
            overlay = indicator.overlay
            if overlay is None and values.dtype.kind in "biuf":
                overlay = is_overlay(np.atleast_2d(values).astype(float), close)  # as the chart decides
            if overlay:
                indicators[i] = indicator._replace(values=values / self._engine.unit, overlay=True)
        return indicators


class MultiBacktest:
    """Run one strategy on several data sets: ``run()`` gives a stats frame, a column per data set."""

    def __init__(self, df_list: Sequence[pd.DataFrame], strategy_cls: type[Strategy], **kwargs: Any) -> None:
        if isinstance(df_list, pd.DataFrame) or not len(df_list):
            raise param_error("MultiBacktest", "df_list", "a non-empty list of DataFrames", df_list,
                              exc=TypeError)
        self._backtests = [Backtest(df, strategy_cls, **kwargs) for df in df_list]

    def run(self, **params: Any) -> pd.DataFrame:
        """Stats of every run (without the ``_`` entries), one column per data set."""
        return _stats_frame(self._backtests, params)

    def optimize(self, *, aggregate: str | Callable[[np.ndarray], float] | None = None, **kwargs: Any) -> Any:
        """``Backtest.optimize(**kwargs)``'s heatmap for every data set, one column per data set; or,
        with ``aggregate``, one search that scores each parameter set on every data set at once.

        Without ``aggregate``: with ``study='runs.db'`` each data set's study is saved as
        ``'<study_name>[i]'`` (by default the strategy's name); with ``return_study=True`` the list of
        studies comes second.

        With ``aggregate`` (``'min'``: the worst data set's score, ``'mean'``, ``'median'``, ``'max'``,
        or a function of the array of the data sets' scores): each trial runs every data set, its
        value is the scores reduced, and it keeps each data set's stats (``'Sharpe Ratio[0]'``, ...)
        and each stats key reduced the same way (``'Sharpe Ratio'``). A parameter set that makes no
        trade on some data set ranks last (``no_trades``). Every option of ``Backtest.optimize`` is
        taken and passed on; the result is :meth:`run`'s frame for the best parameter set, then the
        heatmap, skopt's result and the one :class:`~backtestkit.optimize.Study`, as asked for.
        ``report`` writes the study's report (no chart). With ``dry_run=True``, the search's
        :class:`~backtestkit.optimize.Estimate` (a list of them, one per data set, without ``aggregate``).

        >>> from backtestkit.test import GOOG, SMA
        >>> class Cross(Strategy):
        ...     n = 10
        ...     def init(self):
        ...         self.sma = self.I(SMA, self.data.Close, self.n)
        ...     def next(self):
        ...         if crossover(self.data.Close, self.sma):
        ...             self.position.close(); self.buy()
        ...         elif crossover(self.sma, self.data.Close):
        ...             self.position.close(); self.sell()
        >>> multi = MultiBacktest([GOOG.iloc[:1000], GOOG.iloc[1000:]], Cross, finalize_trades=True)
        >>> stats, study = multi.optimize(n=[10, 20, 40], maximize="Return [%]", aggregate="min",
        ...                               return_study=True, n_jobs=1, show_progress=False)
        >>> study.best_value == min(study.best_trial.metrics[f"Return [%][{i}]"] for i in range(2))
        True
        """
        if aggregate is not None:
            return self._optimize_together(aggregate, kwargs)
        if kwargs.get("dry_run"):  # the cost of each data set's search
            return [bt.optimize(**kwargs) for bt in self._backtests]
        kwargs = {**kwargs, "return_heatmap": True}
        return_study = kwargs.pop("return_study", False)
        name = kwargs.pop("study_name", None) or self._backtests[0]._strategy.__name__
        heatmaps, studies = {}, []
        for i, bt in enumerate(self._backtests):
            *_, heatmap, study = bt.optimize(**kwargs, return_study=True, study_name=f"{name}[{i}]")
            heatmaps[i] = heatmap
            studies.append(study)
        frame = pd.DataFrame(heatmaps)
        return (frame, studies) if return_study else frame


    def _optimize_together(self, aggregate: Any, kwargs: dict[str, Any]) -> Any:
        """One search over every data set (``aggregate``): Backtest.optimize's, on :class:`_Together`."""
        aggregate_function(aggregate)  # a bad aggregate is refused before anything runs
        if kwargs.get("dry_run"):  # the search's estimated cost: every data set runs in each timed run
            return _Together(self._backtests, aggregate).optimize(**kwargs)
        report, return_study = kwargs.pop("report", None), kwargs.pop("return_study", False)
        if report is not None:
            from backtestkit.plotting._output import check_page_path

            check_page_path("MultiBacktest.optimize", "report", report)
        *result, study = _Together(self._backtests, aggregate).optimize(**kwargs, return_study=True)
        if report is not None:
            study.write_report(report)
        result = [*result, study] if return_study else result
        return result[0] if len(result) == 1 else tuple(result)


class _Together(Backtest):
    """The first data set's Backtest, whose searches score every data set at once and whose run gives
    :meth:`MultiBacktest.run`'s frame."""

    def __init__(self, backtests: Sequence[Backtest], aggregate: Any) -> None:  # noqa: D107 -- no super()
        self.__dict__.update(vars(backtests[0]))
        self._backtests, self._aggregate = list(backtests), aggregate

    def _search_objective(self, goal: Goal, constraints: Sequence[Callable[[Any], Any]] = ()
                          ) -> tuple[Any, list[str], dict[str, Any]]:
        if goal.objectives:
            raise ValueError("MultiBacktest.optimize with 'aggregate' takes one objective, not a list: "
                             "combine them in one function of the stats (maximize=lambda s: ...).")
        engines = [bt._engine for bt in self._backtests]
        objective = RobustObjective(engines, goal.score, goal.name, self._aggregate, constraints,
                                    goal.stats_names)
        aggregate = self._aggregate if isinstance(self._aggregate, str) else getattr(
            self._aggregate, "__name__", repr(self._aggregate))
        facts = {"aggregate": aggregate, "datasets": [e.fingerprint() for e in engines]}
        return objective, robust_metric_names(len(engines), goal.name, goal.stats_names), facts

    def run(self, **params: Any) -> pd.DataFrame:  # type: ignore[override]
        return _stats_frame(self._backtests, params)


def _stats_frame(backtests: Sequence[Backtest], params: dict[str, Any]) -> pd.DataFrame:
    """Each backtest's stats with ``params`` (without the ``_`` entries), one column per data set."""
    columns = [bt.run(**params) for bt in backtests]
    return pd.DataFrame({i: s[[k for k in s.index if not k.startswith("_")]] for i, s in enumerate(columns)})


def __getattr__(name: str) -> Any:
    """``plot_heatmaps`` (backtestkit.plotting) is imported, with bokeh, on first use."""
    if name == "plot_heatmaps":
        from backtestkit.plotting import plot_heatmaps

        return plot_heatmaps
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
