"""The engine: a run set-up (data, strategy, broker settings) and the one way to run it.

``Backtest.run``, the optimiser's workers and every tool built on them call :meth:`Engine.stats`,
so whatever a run shows (a subclass's scaling of the trades included), the optimiser sees too.
An Engine pickles with its data: it is what workers receive, once per batch of combinations.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import weakref
from collections.abc import Callable, Collection
from math import inf
from typing import Any

import numpy as np
import pandas as pd

from backtestkit import _settings
from backtestkit._broker import Broker
from backtestkit._data import OHLCV, Data
from backtestkit._errors import note_bar, warn
from backtestkit._signals import SignalRun, run_signals
from backtestkit._stats import Clock, clock, stats_dict, stats_series, warmup_bars
from backtestkit._strategy import IndicatorViews, Strategy, ViewClasses
from backtestkit._trades import stats_columns, trades_frame


class Engine:
    """One backtest set-up: ``stats(params)`` runs the strategy with those parameters.

    ``unit`` is the fraction of a unit one traded unit stands for (``FractionalBacktest``): the
    ``_trades`` sizes and prices of every run are reported back in whole units.
    """

    def __init__(self, data: pd.DataFrame, strategy: type[Strategy], *, cash: float, spread: float,
                 fee: Callable[[float, float], float], fixed_fee: bool, margin: float,
                 flags: dict[str, bool], commission: Any, unit: float = 1.0) -> None:
        self.data, self.strategy = data, strategy
        self.cash, self.spread, self.fee, self.fixed_fee, self.margin = cash, spread, fee, fixed_fee, margin
        self.flags, self.commission, self.unit = flags, commission, unit
        self._times: Clock | None = None
        self._columns: dict[str, Any] | None = None  # the data's columns as a strategy sees them
        self._series: _Series | None = None  # and as the broker reads them
        self._classes: ViewClasses = {}  # the per-run strategy subclasses, made once (see IndicatorViews)
        self.start: int | None = None  # a window's first bar (see window()); None: the whole data

    def window(self, start: int, stop: int) -> Engine:
        """The same set-up run over bars ``start`` to ``stop - 1`` only (positions in this data).

        The strategy's ``init()`` sees the bars before ``stop`` (so indicators are warm on the window's
        first bar, and no later bar exists for it); ``next()`` is first called on bar ``start``, or
        once the indicators are warm if that is later; trades still open on the window's last bar are
        closed at its Close; the equity, trades (bars counted from ``start``) and stats cover the
        window alone.
        """
        if not 0 <= start < stop <= len(self.data):
            raise ValueError(f"A window needs 0 <= start < stop <= {len(self.data)}. "
                             f"Got start={start}, stop={stop} instead.")
        engine = self.on(self.data.iloc[:stop])
        engine.start = start
        return engine

    def on(self, data: pd.DataFrame) -> Engine:
        """The same set-up (strategy, cash, costs, flags) over other bars with the same columns: a
        cut copy of the data (check_lookahead), resampled bars (a Monte Carlo path)."""
        engine = copy.copy(self)
        engine.data = data
        engine._times = engine._columns = engine._series = None
        return engine

    def __getstate__(self) -> dict[str, Any]:
        """Without what the runs work out from the data: it is worked out again where unpickled, so
        the data travels once."""
        return {**self.__dict__, "_columns": None, "_times": None, "_series": None, "_classes": {}}

    def stats(self, params: dict[str, Any]) -> pd.Series:
        """The stats Series of one run, frames included: what ``Backtest.run`` returns."""
        broker, strategy, equity, compiled = self._run(params)
        if compiled is None:
            trades = trades_frame(broker.closed_trades, broker.index, strategy._indicators)
        else:
            compiled.to_broker(broker)
            trades = compiled.frame(broker.index, strategy._indicators)
        trades = self._in_window(trades)
        if self.unit != 1.0:
            trades["Size"] *= self.unit
            for column in ("EntryPrice", "ExitPrice", "SL", "TP"):
                trades[column] = pd.to_numeric(trades[column]) / self.unit
        return stats_series(trades, equity, self._bars(), strategy, 0.0, True, self._clock(),
                            warmup=self._warmup(strategy))

    def numbers(self, params: dict[str, Any], keys: Collection[str] | None = None) -> dict[str, Any]:
        """The stats of one run as a dict, without the ``_trades`` and ``_equity_curve`` frames:
        every other value equals the stats Series' to the bit, at a fraction of the cost (what an
        objective that reads stats keys needs). Given ``keys``, only what they need is computed
        (see :func:`~backtestkit._stats.stats_dict`)."""
        broker, strategy, equity, compiled = self._run(params)
        closed = (compiled.columns(broker.index) if compiled
                  else stats_columns(broker.closed_trades, broker.index))
        trades = self._in_window(closed)
        return stats_dict(trades, equity, self._bars(), strategy, 0.0, True, self._clock(),
                          warmup=self._warmup(strategy), keys=keys)

    def _in_window(self, trades: Any) -> Any:
        """``trades`` (a frame or :func:`stats_columns`' dict) with their bars counted from the window's
        first bar."""
        if self.start:
            for column in ("EntryBar", "ExitBar"):
                trades[column] = trades[column] - self.start
        return trades

    def _bars(self) -> pd.DataFrame:
        """The bars the stats cover: the window's, or all."""
        return self.data if self.start is None else self.data.iloc[self.start:]

    def _warmup(self, strategy: Strategy) -> int | None:
        """In a window, the bars of it the indicators are not warm on yet (Buy & Hold starts after them)."""
        if self.start is None:
            return None
        return max(0, warmup_bars(strategy, len(self.data)) - self.start)

    def _clock(self) -> Clock:
        """What the stats need of the data alone, worked out on the first run."""
        if self._times is None:
            self._times = clock(self._bars())
        return self._times

    def simulate(self, params: dict[str, Any]) -> tuple[Broker, Strategy, np.ndarray]:
        """Run the strategy; returns the broker, the strategy and the equity at each bar's Close (of the
        window's bars only, in a window)."""
        broker, strategy, equity, compiled = self._run(params)
        if compiled is not None:
            compiled.to_broker(broker)
        return broker, strategy, equity

    def _run(self, params: dict[str, Any]) -> tuple[Broker, Strategy, np.ndarray, SignalRun | None]:
        """:meth:`simulate`, leaving a compiled run's trades in its :class:`SignalRun`: the stats read them
        there, without the Trade objects."""
        broker, data, strategy = self.initialised(params)
        start = max(1 + warmup_bars(strategy, len(self.data)), self.start or 0)
        finalize = self.flags["finalize_trades"] or self.start is not None
        signals = strategy._signals() if _settings.compiled_signals else None
        compiled = run_signals(broker, signals, start, finalize) if signals is not None else None
        if compiled is not None:
            strategy.ran_compiled = True
            ruined_at, equity, still_open = compiled.ruined_at, compiled.equity, len(compiled.still_open)
        else:
            ruined_at = self._loop(broker, data, strategy, start)
            if ruined_at is None and finalize:
                broker.i = len(self.data) - 1
                broker.close_all(broker.last_price)
            equity, still_open = broker.equity_curve(self.cash, end=ruined_at), len(broker.trades)
        if ruined_at is None and still_open:
            warn("Some trades remain open at the end of backtest and are not in the stats. "
                 "Use Backtest(..., finalize_trades=True) to close them at the last Close.")
        return broker, strategy, equity if self.start is None else equity[self.start:], compiled

    def _loop(self, broker: Broker, data: Data, strategy: Strategy, start: int) -> int | None:
        """The bar loop from bar ``start``; returns the bar the account ran out of money on, if it did."""
        views = IndicatorViews(strategy, self._classes)
        try:
            return _loop(broker, data, strategy.next, views, start)
        finally:
            data._bar[0] = len(self.data)
            views.release()

    def initialised(self, params: dict[str, Any]) -> tuple[Broker, Data, Strategy]:
        """A run's broker, data and strategy after the strategy's ``init()``, before any bar."""
        data = Data(self.data, self._columns)
        if self._columns is None and all(not a.flags.writeable for a in data._arrays.values()):
            self._columns = dict(data._arrays)  # read-only (pandas' copy-on-write): the next runs share them
        if self._series is None:
            self._series = _Series({name: self.data[name].to_numpy(dtype=float) for name in OHLCV[:4]},
                                   self.data.index)
        broker = Broker(ohlc=self._series, cash=self.cash, spread=self.spread, fee=self.fee,
                        fixed_fee=self.fixed_fee, margin=self.margin,
                        trade_on_close=self.flags["trade_on_close"], hedging=self.flags["hedging"],
                        exclusive_orders=self.flags["exclusive_orders"])
        strategy = self.strategy(broker, data, params)
        strategy._run_init()
        return broker, data, strategy

    def settings(self) -> dict[str, Any]:
        """The run settings as plain values, for a study's record and a report."""
        commission = self.commission
        if callable(commission):
            commission = getattr(commission, "__qualname__", repr(commission))
        elif isinstance(commission, tuple):
            commission = [float(part) for part in commission]
        else:
            commission = float(commission)
        settings = {"cash": self.cash, "spread": self.spread, "commission": commission, "margin": self.margin,
                    **self.flags}
        if self.start is not None:
            settings["window"] = [str(self.data.index[self.start]), str(self.data.index[-1])]
        return settings if self.unit == 1.0 else {**settings, "fractional_unit": self.unit}

    def fingerprint(self) -> str:
        """A short hash of the data: its index and every column's values."""
        digest = hashlib.sha256()
        digest.update(pd.util.hash_pandas_object(self.data, index=True).to_numpy().tobytes())
        digest.update(repr(list(self.data.columns)).encode())
        if self.start is not None:
            digest.update(f"window from bar {self.start}".encode())
        return digest.hexdigest()[:16]

    def strategy_hash(self) -> str:
        """A short hash of the strategy's source, its bases' included (the class name alone when the
        source is not available, as for a class typed into an interactive prompt). Worked out again
        only when the class's contents changed: finding a class's source parses its whole module,
        some 10 ms a class, on every search."""
        contents = _contents(self.strategy)
        known = _SOURCE_HASHES.get(self.strategy)
        if known is None or known[0] != contents:  # element by element: the same object, or equal
            known = _SOURCE_HASHES[self.strategy] = (contents, _source_hash(self.strategy))
        return known[1]


#: Each strategy class's :func:`_source_hash`, with the :func:`_contents` it was worked out for, for as
#: long as the class lives. A class run again after an edit is a new class; one whose methods were
#: swapped in place (IPython's autoreload) has other contents.
_SOURCE_HASHES: weakref.WeakKeyDictionary[type, tuple[tuple[Any, ...], str]] = weakref.WeakKeyDictionary()


def _contents(strategy: type[Strategy]) -> tuple[tuple[str, Any], ...]:
    """What the class and its bases up to Strategy hold that an edit in place changes: each method's
    code and each plain attribute (a parameter's default). Nothing that refers back to the class."""
    found = []
    for cls in _own_classes(strategy):
        for name, value in vars(cls).items():
            function = getattr(value, "__func__", None) or getattr(value, "fget", None) or value
            code = getattr(function, "__code__", None)  # a method's, a staticmethod's, a property's
            if code is not None:
                found.append((name, code))
            elif isinstance(value, (int, float, str, bytes, type(None))):
                found.append((name, value))
    return tuple(found)


def _own_classes(strategy: type[Strategy]) -> list[type]:
    """The strategy's class and its bases before Strategy, in method resolution order."""
    return list(itertools.takewhile(lambda cls: cls is not Strategy and cls is not object, strategy.__mro__))


def _source_hash(strategy: type[Strategy]) -> str:
    digest = hashlib.sha256()
    for cls in _own_classes(strategy):
        try:
            digest.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            digest.update(cls.__qualname__.encode())
    return digest.hexdigest()[:16]


class _Series(dict):
    """The OHLC columns as Series or float arrays, with the index: what the broker reads of the data
    (``bars['Open']``, ``bars.index``), selected from the DataFrame once rather than on every run."""

    def __init__(self, columns: dict[str, pd.Series | np.ndarray], index: pd.Index) -> None:
        super().__init__(columns)
        self.index = index


def _loop(broker: Broker, data: Data, next_: Callable[[], None], views: IndicatorViews,
          start: int) -> int | None:
    """The bar loop; returns the bar at which the account ran out of money, if it did."""
    orders, close, bar = broker.orders, broker._close, data._bar
    refreshed, refreshed_2d, restore = views.refreshed, views.refreshed_2d, views.state.update
    ruin_below, ruin_above = broker.ruin_band
    watching = ruin_below > -inf or ruin_above < inf  # only an open position can ruin the account
    i = start
    try:
        for i in range(start, len(close)):
            bar[0] = i + 1
            broker.i = i
            if refreshed:  # every bar: the 1-D indicators read so far, back in place (one C call)
                restore(refreshed)
            if refreshed_2d:  # 2-D indicators read (their views move bar by bar), or next() rebound
                next_ = views.catch_up(i + 1, next_)
            if orders:
                broker.process_orders()
                ruin_below, ruin_above = broker.ruin_band
                watching = ruin_below > -inf or ruin_above < inf
            if watching and (close[i] <= ruin_below or close[i] >= ruin_above) and broker.is_ruined():
                broker.close_all(close[i])
                broker.cash = 0.0
                return i
            next_()
    except Exception as exc:
        note_bar(exc, i, data._index_[i])
        raise
    return None
