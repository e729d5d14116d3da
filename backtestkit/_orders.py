"""Order, Trade and Position: the objects a strategy places, holds and inspects.

They are thin handles on the broker's state; the broker (``_broker.py``) does the matching.
"""

from __future__ import annotations

from math import copysign, inf
from numbers import Number
from typing import TYPE_CHECKING, Any

import numpy as np

from backtestkit._data import _Array
from backtestkit._errors import param_error

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit._broker import Broker


_PLAIN_NUMBERS = (int, float, np.float64, np.int64)


def is_number(value: Any) -> bool:
    """A real number, not a bool (the common types checked first: this runs for every order)."""
    return type(value) in _PLAIN_NUMBERS or (
        isinstance(value, Number) and not isinstance(value, (bool, complex)))


def as_price(owner: str, name: str, value: Any) -> float | None:
    """A price of an order or bracket as a float: None, a finite number > 0, or a data column or
    indicator (``sl=self.data.Low``), which means its value on the current bar, as in backtesting.py.

    >>> as_price("Strategy.buy", "sl", 99), as_price("Strategy.buy", "sl", None)
    (99.0, None)
    """
    if value is None:
        return None
    if isinstance(value, _Array) and value.ndim == 1 and len(value):
        value = value[-1]
    if not (is_number(value) and 0 < value < inf):
        raise param_error(owner, name, "a finite price > 0 or None", value)
    return float(value)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


class Order:
    """An order to buy (size > 0) or sell (size < 0), placed by ``Strategy.buy()``/``sell()``.

    A fractional size in (0, 1) is a share of the available margin; a whole number is units.
    ``limit`` and ``stop`` make it a limit, stop or stop-limit order; ``sl``/``tp`` become the
    stop-loss and take-profit of the trade it opens. Orders with a ``parent_trade`` close that trade.
    """

    __slots__ = ("_broker", "_size", "_limit", "_stop", "_sl", "_tp", "_tag", "_parent", "_live")

    def __init__(
        self,
        broker: Broker,
        size: float,
        limit: float | None = None,
        stop: float | None = None,
        sl: float | None = None,
        tp: float | None = None,
        tag: object = None,
        parent_trade: Trade | None = None,
    ) -> None:
        self._broker = broker
        self._size = size
        self._limit = limit
        self._stop = stop
        self._sl = sl
        self._tp = tp
        self._tag = tag
        self._parent = parent_trade
        self._live = True

    def __repr__(self) -> str:
        fields = [("size", self._size), ("limit", self._limit), ("stop", self._stop), ("sl", self._sl),
                  ("tp", self._tp), ("contingent", self.is_contingent), ("tag", self._tag)]
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in fields if v is not None and v is not False)
        return f"<Order {shown}>"

    def cancel(self) -> None:
        """Cancel the order (a cancelled stop-loss or take-profit is removed from its trade)."""
        self._broker.cancel_order(self)

    @property
    def size(self) -> float:
        """Units (whole number) or share of available margin (0 < |size| < 1); negative for sells."""
        return self._size

    @property
    def limit(self) -> float | None:
        """The limit price, or None for a market or stop order."""
        return self._limit

    @property
    def stop(self) -> float | None:
        """The stop price; None once the stop has triggered (the order is then a market or limit order)."""
        return self._stop

    @property
    def sl(self) -> float | None:
        """The stop-loss price for the trade this order opens, or None."""
        return self._sl

    @property
    def tp(self) -> float | None:
        """The take-profit price for the trade this order opens, or None."""
        return self._tp

    @property
    def tag(self) -> object:
        """Whatever the strategy passed as ``tag``; the trade it opens carries it too."""
        return self._tag

    @property
    def parent_trade(self) -> Trade | None:
        """The trade this order closes (stop-loss, take-profit or ``close()``), or None."""
        return self._parent

    @property
    def is_long(self) -> bool:
        """True for a buy order."""
        return self._size > 0

    @property
    def is_short(self) -> bool:
        """True for a sell order."""
        return self._size < 0

    @property
    def is_contingent(self) -> bool:
        """True for the stop-loss and take-profit orders that guard an open trade."""
        parent = self._parent
        return parent is not None and (self is parent._sl_order or self is parent._tp_order)


class Trade:
    """A position opened by a filled order: open until closed, then a record in ``closed_trades``."""

    __slots__ = ("_broker", "_size", "_entry_price", "_exit_price", "_entry_bar", "_exit_bar",
                 "_sl_order", "_tp_order", "_tag", "_entry_fee", "_fees", "_since",
                 "_sl_value", "_tp_value", "_seq")

    def __init__(self, broker: Broker, size: int | float, entry_price: float, entry_bar: int,
                 tag: object, entry_fee: float, since: int) -> None:
        self._broker = broker
        self._size = size
        self._entry_price = entry_price
        self._exit_price: float | None = None
        self._entry_bar = entry_bar
        self._exit_bar: int | None = None
        self._sl_order: Order | None = None
        self._tp_order: Order | None = None
        self._tag = tag
        self._entry_fee = entry_fee  # entry commission not yet attributed to a closed part
        self._fees = 0.0  # commissions of a closed trade: its entry share plus its exit
        self._since = since  # bar from which the current size counts in the equity curve
        self._sl_value: float | None = None
        self._tp_value: float | None = None
        self._seq = 0  # the broker numbers the trades it opens, oldest first

    def __repr__(self) -> str:
        exit_ = f" exit={self._exit_price:.6g}@{self._exit_bar}" if self._exit_bar is not None else ""
        tag = f" tag={self._tag!r}" if self._tag is not None else ""
        return f"<Trade size={self._size} entry={self._entry_price:.6g}@{self._entry_bar}{exit_}{tag}>"

    def close(self, portion: float = 1.0) -> None:
        """Place a market order closing ``portion`` (0 < portion <= 1) of the trade."""
        if not 0 < portion <= 1:
            raise param_error("Trade.close", "portion", "a number in (0, 1]", portion)
        if portion == 1:
            size = -float(self._size)
        else:
            size = copysign(max(1, round(abs(self._size) * portion)), -self._size)
        # positional arguments: on this hot path keywords cost more than the rest of the call
        self._broker.queue_close(Order(self._broker, size, None, None, None, None, self._tag, self))

    @property
    def size(self) -> int | float:
        """Units held: positive for a long trade, negative for a short one."""
        return self._size

    # The broker keeps prices as Python floats (fast arithmetic on every fill); what a strategy reads
    # is a numpy float64, as in backtesting.py (e.g. x / 0 gives inf with a warning, not an exception).

    @property
    def entry_price(self) -> np.float64:
        """Price the trade was entered at (the spread included)."""
        return np.float64(self._entry_price)

    @property
    def exit_price(self) -> np.float64 | None:
        """Price the trade was closed at, or None while it is open."""
        return None if self._exit_price is None else np.float64(self._exit_price)

    @property
    def entry_bar(self) -> int:
        """Index (position) of the bar the trade was entered on."""
        return self._entry_bar

    @property
    def exit_bar(self) -> int | None:
        """Index (position) of the bar the trade was closed on, or None while it is open."""
        return self._exit_bar

    @property
    def entry_time(self) -> Any:
        """Index label (timestamp) of the entry bar."""
        return self._broker.index[self._entry_bar]

    @property
    def exit_time(self) -> Any:
        """Index label (timestamp) of the exit bar, or None while the trade is open."""
        return None if self._exit_bar is None else self._broker.index[self._exit_bar]

    @property
    def tag(self) -> object:
        """The ``tag`` of the order that opened the trade."""
        return self._tag

    @property
    def is_long(self) -> bool:
        """True for a long trade (size > 0)."""
        return self._size > 0

    @property
    def is_short(self) -> bool:
        """True for a short trade (size < 0)."""
        return self._size < 0

    def _price(self) -> float:
        return self._broker.last_price if self._exit_price is None else self._exit_price

    @property
    def pl(self) -> np.float64:
        """Profit (positive) or loss in cash; commissions count once the trade is closed."""
        return np.float64(self._size * (self._price() - self._entry_price) - self._fees)

    @property
    def pl_pct(self) -> np.float64:
        """Profit or loss as a fraction of the entry value; commissions count once closed."""
        gross = copysign(1, self._size) * (self._price() / self._entry_price - 1)
        return np.float64(gross - self._fees / (abs(self._size) * self._entry_price))

    @property
    def value(self) -> np.float64:
        """Value of the trade in cash: units times the current (or exit) price."""
        return np.float64(abs(self._size) * self._price())

    @property
    def sl(self) -> float | None:
        """Stop-loss price; set it to move the stop (None removes it)."""
        order = self._sl_order
        return order._stop if order is not None else self._sl_value

    @sl.setter
    def sl(self, price: float | None) -> None:
        self._broker.set_contingent(self, "sl", as_price("Trade.sl", "sl", price))

    @property
    def tp(self) -> float | None:
        """Take-profit price; set it to move the target (None removes it)."""
        order = self._tp_order
        return order._limit if order is not None else self._tp_value

    @tp.setter
    def tp(self, price: float | None) -> None:
        self._broker.set_contingent(self, "tp", as_price("Trade.tp", "tp", price))


class Position:
    """The net of all open trades. ``bool(position)`` is True while any units are held."""

    __slots__ = ("_broker",)

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def __repr__(self) -> str:
        return f"<Position size={self.size} ({len(self._broker.trades)} trades)>"

    def __bool__(self) -> bool:
        return self.size != 0

    @property
    def size(self) -> int | float:
        """Net units held over all open trades: positive long, negative short."""
        return sum(trade._size for trade in self._broker.trades)

    @property
    def pl(self) -> float:
        """Profit or loss of the open trades in cash (before their fees)."""
        return sum(trade.pl for trade in self._broker.trades)

    @property
    def pl_pct(self) -> float:
        """Profit or loss of the open trades in percent of what they cost to enter."""
        trades = self._broker.trades
        invested = sum(abs(trade._size) * trade._entry_price for trade in trades)
        return self.pl / invested * 100 if invested else 0.0

    @property
    def is_long(self) -> bool:
        """True when the net position is long."""
        return self.size > 0

    @property
    def is_short(self) -> bool:
        """True when the net position is short."""
        return self.size < 0

    def close(self, portion: float = 1.0) -> None:
        """Close ``portion`` of every open trade."""
        for trade in self._broker.trades:
            trade.close(portion)
