"""The Strategy base class users subclass: parameters, indicators, and orders."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from itertools import chain
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

from backtestkit import _cache
from backtestkit._data import OHLCV, Data, LiveArray, _Array, make_array
from backtestkit._errors import param_error
from backtestkit._orders import Order, Position, Trade, as_price, is_number

FULL_EQUITY = float(1 - sys.float_info.epsilon)  # default order size: all available margin

# The strategy whose init() is running: how helpers such as lib.resample_apply find it.
initialising: ContextVar[Strategy | None] = ContextVar("initialising", default=None)


def as_label(value: Any) -> str:
    """How an indicator argument shows in the indicator's name: ``SMA(C,10)``."""
    if isinstance(value, (Number, str)):
        return str(value)
    if isinstance(value, pd.DataFrame):
        return "df"
    if callable(value):
        name = getattr(value, "__name__", type(value).__name__).replace("<lambda>", "λ")
    else:
        name = str(getattr(value, "name", "") or "")
        if name in OHLCV:
            return name[:1]
    return name if len(name) <= 10 else f"{name[:9]}…"


def _indicator_values(value: Any) -> np.ndarray:
    if isinstance(value, pd.DataFrame):
        return value.to_numpy().T
    if isinstance(value, pd.Series):
        return value.to_numpy()
    if isinstance(value, tuple):
        return np.array([np.asarray(v) for v in value])
    return np.asarray(value)


class Strategy:
    """Base class of trading strategies: subclass it, declare parameters, implement init() and next().

    Parameters are class attributes; ``Backtest.run(**params)`` overrides them per run. ``init()``
    computes indicators with ``self.I(...)``; ``next()`` runs on every bar and places orders with
    ``self.buy()``/``self.sell()``. Inside ``next()``, ``self.data`` columns and indicators end at
    the current bar (``[-1]`` is now).

    >>> from backtestkit.lib import crossover
    >>> class SmaCross(Strategy):
    ...     n1, n2 = 10, 20
    ...     def init(self):
    ...         close = self.data.Close
    ...         self.fast = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n1)
    ...         self.slow = self.I(lambda x, n: pd.Series(x).rolling(n).mean(), close, self.n2)
    ...     def next(self):
    ...         if crossover(self.fast, self.slow):
    ...             self.position.close()
    ...             self.buy()
    """

    def __init__(self, broker: Any, data: Data, params: dict[str, Any]) -> None:
        self._broker = broker
        self._data = data
        self._params = dict(params)
        self._indicators: list[_Array] = []
        self._position = Position(broker)
        for name, value in params.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return "<Strategy " + str(self) + ">"

    def __str__(self) -> str:
        if not self._params:
            return type(self).__name__
        params = ",".join(f"{k}={as_label(v)}" for k, v in self._params.items())
        return f"{type(self).__name__}({params})"

    #: True after a run done by the compiled kernel rather than bar by bar (see ``SignalStrategy``).
    ran_compiled: bool = False

    def init(self) -> None:
        """Compute indicators (``self.I(...)``) and other set-up; runs once before the first bar."""

    def next(self) -> None:
        """Decide what to do on the current bar; runs once per bar after the indicators warm up."""

    def I(  # noqa: E741, E743, N802 - backtesting.py's name
        self,
        func: Callable[..., Any],
        *args: Any,
        name: str | list[str] | None = None,
        plot: bool = True,
        overlay: bool | None = None,
        color: str | list[str] | None = None,
        scatter: bool = False,
        **kwargs: Any,
    ) -> np.ndarray:
        """Declare an indicator: ``func(*args, **kwargs)`` over the whole data, seen bar by bar in next().

        Returns an array as long as the data (or a 2-D array, one row per line, for a tuple or
        DataFrame result, or a ``(n_bars, k)`` array, which is transposed) that inside ``next()``
        ends at the current bar. ``name`` labels it in stats and plots (a string, or one per line);
        ``plot``, ``overlay``, ``color`` and ``scatter`` say how it is drawn.
        """
        if not callable(func):
            raise param_error("Strategy.I", "func", "a callable", func, exc=TypeError)
        label = self._indicator_name(func, args, kwargs, name)
        cache = _cache.active()
        if cache is None:
            values = _indicator_values(func(*args, **kwargs))
        else:
            values = cache.values(func, args, kwargs, lambda: _indicator_values(func(*args, **kwargs)))
        return self._indicator(values, label, {"plot": plot, "overlay": overlay, "color": color,
                                               "scatter": scatter})

    def _indicator(self, values: np.ndarray, label: Any, opts: dict[str, Any]) -> np.ndarray:
        """Keep computed ``values`` as an indicator named ``label``, drawn as ``opts`` say (``I()``'s
        plot, overlay, color and scatter); returns the array ``I()`` returns."""
        length = len(self._data)
        if values.ndim == 2 and values.shape[-1] != length and values.shape[0] == length:
            values = np.ascontiguousarray(values.T)  # one row per bar, as (n_bars, k) functions return
        if isinstance(label, list) and len(label) == 1 and values.ndim == 1:
            label = label[0]  # name=("RSI",) on a one-line indicator
        if values.ndim not in (1, 2) or values.shape[-1] != length:
            raise ValueError(
                f"Indicator {label!r} must return a 1-D array (or a tuple of them / a DataFrame) as long as "
                f"the data ({length} bars). Got shape {values.shape} instead.")
        if isinstance(label, list) and (values.ndim != 2 or len(label) != len(values)):
            lines = len(values) if values.ndim == 2 else 1
            raise param_error("Strategy.I", "name", f"one name per indicator line ({lines})", label)
        array = make_array(values, name=label, index=self._data._index_, opts=opts)
        self._indicators.append(array)
        return array

    @staticmethod
    def _indicator_name(func: Callable, args: tuple, kwargs: dict, name: Any) -> Any:
        if name is None:
            params = ",".join(filter(None, map(as_label, chain(args, kwargs.values()))))
            func_name = as_label(func)
            return f"{func_name}({params})" if params else func_name
        if isinstance(name, str):
            return name
        names = list(name) if isinstance(name, Iterable) else [name]
        if not all(isinstance(n, str) for n in names):
            raise param_error("Strategy.I", "name", "a string or a list of strings", name, exc=TypeError)
        return names

    def _run_init(self) -> None:
        """Run ``init()``. It sees the whole data, so its latest price, the one an order's sl/tp are
        checked against, is the last Close; its orders are matched from the first bar next() runs on."""
        token = initialising.set(self)
        broker = self._broker
        broker.i = len(self._data) - 1
        try:
            self.init()
        finally:
            broker.i = 0
            initialising.reset(token)

    def _signals(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Entry sizes and exit portions per bar, when they are all this strategy does (after ``init()``),
        for the compiled kernel; None (here: always) runs ``next()`` bar by bar."""
        return None

    # --- orders ------------------------------------------------------------------------------
    def buy(self, *, size: float = FULL_EQUITY, limit: float | None = None, stop: float | None = None,
            sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """Place a long order; fills next bar (see doc/execution.md). Returns the Order.

        ``size`` in (0, 1) is a share of available margin, a whole number is units. ``limit`` and
        ``stop`` make it a limit/stop(-limit) order; ``sl``/``tp`` guard the trade it opens. A price
        given as a data column or indicator (``sl=self.data.Low``) is its value on the current bar.
        """
        return self._order("buy", size, limit, stop, sl, tp, tag)

    def sell(self, *, size: float = FULL_EQUITY, limit: float | None = None, stop: float | None = None,
             sl: float | None = None, tp: float | None = None, tag: object = None) -> Order:
        """Place a short order (or, without hedging, reduce a long position). Returns the Order."""
        return self._order("sell", size, limit, stop, sl, tp, tag)

    def _order(self, side: str, size: float, limit: float | None, stop: float | None,
               sl: float | None, tp: float | None, tag: object) -> Order:
        if not (is_number(size) and (0 < size < 1 or (size >= 1 and float(size).is_integer()))):
            raise param_error(f"Strategy.{side}", "size", "a share of available margin in (0, 1) or a "
                              "whole number of units >= 1", size)
        sign = 1 if side == "buy" else -1
        broker = self._broker
        if limit is None and stop is None and sl is None and tp is None:  # plain market order, the hot path:
            return broker.place(Order(broker, sign * float(size), None, None, None, None, tag))  # no keywords
        owner = f"Strategy.{side}"
        limit, stop, sl, tp = (as_price(owner, name, value) for name, value in
                               (("limit", limit), ("stop", stop), ("sl", sl), ("tp", tp)))
        price = limit or stop or broker.last_price * (1 + sign * broker._spread)
        _check_brackets(owner, sign, price, sl, tp)
        return broker.place(Order(broker, sign * float(size), limit, stop, sl, tp, tag))

    # --- state -------------------------------------------------------------------------------
    @property
    def data(self) -> Data:
        """The price data up to the current bar: ``data.Close[-1]`` is the latest close."""
        return self._data

    @property
    def equity(self) -> np.float64:
        """Current account equity: cash plus open trades marked at the current Close."""
        return np.float64(self._broker.equity)  # a numpy float, as backtesting.py gives

    @property
    def position(self) -> Position:
        """The net position of all open trades (``bool(self.position)``: anything held?)."""
        return self._position

    @property
    def orders(self) -> tuple[Order, ...]:
        """Pending orders, including the stop-loss/take-profit orders of open trades."""
        return tuple(self._broker.orders)

    @property
    def trades(self) -> tuple[Trade, ...]:
        """Open trades, oldest first."""
        return tuple(self._broker.trades)

    @property
    def closed_trades(self) -> tuple[Trade, ...]:
        """Closed trades (and closed parts of trades), in the order they were closed."""
        return tuple(self._broker.closed_trades)


def _check_brackets(owner: str, sign: int, price: float, sl: float | None, tp: float | None) -> None:
    """Stop-loss and take-profit must lie on the losing and winning side of the entry price."""
    low, high = (sl, tp) if sign > 0 else (tp, sl)
    if (low is not None and low >= price) or (high is not None and high <= price):
        rule = "SL < entry price < TP" if sign > 0 else "TP < entry price < SL"
        fractions = price > 1 and any(x is not None and x < 1 for x in (sl, tp))
        hint = " sl and tp are prices, not fractions: e.g. sl=price * 0.95." if fractions else ""
        shown = {k: "None" if v is None else f"{v:.10g}" for k, v in (("sl", sl), ("tp", tp))}
        raise ValueError(
            f"{owner}: {'long' if sign > 0 else 'short'} orders need {rule}. "
            f"Got sl={shown['sl']}, entry price={price:.6g}, tp={shown['tp']} instead.{hint}")


class _View:
    """Non-data descriptor: the indicator up to the current bar, on its first read in a run.

    The view goes into the instance ``__dict__``, where reads find it before this descriptor, and
    joins what the bar loop puts back in place on every later bar (so an attribute reassigned in
    ``next()`` lasts one bar, as in backtesting.py); see :meth:`IndicatorViews.view`. The descriptor
    holds only the attribute's name, so the per-run subclass it sits on serves every run of an
    engine; what a run reads, it finds in that run's :class:`IndicatorViews`.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, strategy: Strategy | None, owner: type | None = None) -> Any:
        if strategy is None:
            return self
        return strategy.__dict__[_RUN].view(self.name)


class _NextSlot:
    """Data descriptor for ``next`` on the per-run subclass: ``self.next = ...`` takes effect on the next bar.

    The bar loop holds ``next`` as a bound method rather than looking it up on every bar. An
    assignment (or ``del``) here leaves a marker in ``views.refreshed_2d``, the list the loop checks
    on every bar anyway, so the loop picks up the new callable there: a run that never rebinds
    ``next`` pays nothing for it.
    """

    def __init__(self, cls: type[Strategy]) -> None:
        self.cls = cls

    def __get__(self, strategy: Strategy | None, owner: type | None = None) -> Any:
        if strategy is None:
            return self.cls.next
        if "next" in strategy.__dict__:
            return strategy.__dict__["next"]
        return super(type(strategy), strategy).next  # type: ignore[misc] - the user's class's method

    def __set__(self, strategy: Strategy, value: Any) -> None:
        strategy.__dict__["next"] = value
        strategy.__dict__[_RUN].refreshed_2d.append((_REBOUND, None))

    def __delete__(self, strategy: Strategy) -> None:
        if "next" not in strategy.__dict__:
            raise AttributeError("next")
        del strategy.__dict__["next"]
        strategy.__dict__[_RUN].refreshed_2d.append((_REBOUND, None))


_REBOUND = "<next rebound>"  # the marker _NextSlot leaves for the bar loop
_RUN = "_indicator_views"  # where a strategy holds its run's IndicatorViews, for the descriptors

#: Per-run subclasses by (user's class, indicator attributes): what IndicatorViews reuses when the
#: caller (an Engine) keeps one.
ViewClasses = dict[tuple[type, tuple[str, ...]], type]


class IndicatorViews:
    """Makes a strategy's indicator attributes end at the current bar, for the length of a run.

    The attributes become descriptors on a per-run subclass, as does ``next`` (see
    :class:`_NextSlot`); given ``classes``, a subclass made for an earlier run with the same
    attributes is reused (making one costs more than a short run). :meth:`release` puts the user's
    class and the full arrays back, so results stay picklable and ``_strategy`` is the user's class.
    """

    def __init__(self, strategy: Strategy, classes: ViewClasses | None = None) -> None:
        ids = {id(a) for a in strategy._indicators}
        self._strategy = strategy
        self._attrs = {k: v for k, v in vars(strategy).items() if id(v) in ids}
        self._cls = type(strategy)
        self._bar = strategy._data._bar
        self.refreshed: dict[str, LiveArray] = {}  # attribute: its live view, of the 1-D ones read
        self.refreshed_2d: list[tuple[str, Any]] = []  # (attribute, full array) of 2-D ones, _REBOUND markers
        self.state = strategy.__dict__
        key = (self._cls, tuple(self._attrs))
        bound = None if classes is None else classes.get(key)
        if bound is None:
            views: dict[str, Any] = {name: _View(name) for name in self._attrs}
            views["next"] = _NextSlot(self._cls)
            bound = type(self._cls.__name__, (self._cls,), views)
            bound.__qualname__, bound.__module__ = self._cls.__qualname__, self._cls.__module__
            if classes is not None:
                classes[key] = bound
        for name in self._attrs:
            del strategy.__dict__[name]
        self.state[_RUN] = self
        strategy.__class__ = bound

    def view(self, name: str) -> Any:
        """Attribute ``name`` as ``next()`` sees it, put in the instance ``__dict__``: a 1-D indicator's
        :class:`LiveArray`, which follows the bars by itself, in the ``refreshed`` dict (one
        ``dict.update`` a bar); a 2-D one's numpy view, which the loop slices anew, in the
        ``refreshed_2d`` list. An indicator the strategy never reads costs nothing."""
        full = self._attrs[name]
        if full.ndim == 1:
            view = self.refreshed.get(name)  # there if the user deleted the view
            if view is None:
                view = self.refreshed[name] = LiveArray(full, self._bar)  # type: ignore[arg-type]
        else:
            view = full[:, : self._bar[0]]
            if all(entry != name for entry, _ in self.refreshed_2d):
                self.refreshed_2d.append((name, full))
        self.state[name] = view
        return view

    def catch_up(self, n: int, next_: Callable[[], None]) -> Callable[[], None]:
        """The rarer per-bar work: 2-D indicator views up to bar ``n``; returns the ``next`` to call."""
        rebound = False
        for name, full in self.refreshed_2d:
            if name is _REBOUND:
                rebound = True
            else:
                self.state[name] = full[:, :n]
        if rebound:
            self.refreshed_2d[:] = [entry for entry in self.refreshed_2d if entry[0] is not _REBOUND]
            next_ = self._strategy.next
        return next_

    def release(self) -> None:
        self._strategy.__class__ = self._cls
        self.state.pop(_RUN, None)
        self.state.update(self._attrs)  # the full arrays, over this run's views
