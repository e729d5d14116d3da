"""The broker: matches orders against each bar, fills them, charges fees and keeps the books.

Fill rules (see doc/execution.md for the worked cases):

- Market orders fill at the next bar's Open (the order bar's Close with ``trade_on_close``).
- A stop triggers when the bar trades through it and fills at the stop, or at the Open if the bar
  gaps past it. A limit fills at the limit or at a better Open. A stop-limit becomes a limit once
  its stop triggers; it never fills at a price the bar did not trade.
- Stop-loss and take-profit are contingent orders on the trade; within a bar the stop-loss is
  checked first. Closing orders are queued before new ones.
- Without ``hedging`` an order first closes opposite trades, oldest first.
- The spread is paid on entry; commissions are charged once per fill.

The broker works only on bars that have pending orders. The equity curve is not appended bar by
bar: cash and position sizes change only at fills, so the curve is built in one vectorised pass at
the end from the cash ledger and the trades' holding periods.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from math import copysign, inf

import numpy as np
import pandas as pd

from backtestkit._errors import warn
from backtestkit._orders import Order, Trade

FeeFunc = Callable[[float, float], float]
_PER_BAR = {"_open": "Open", "_high": "High", "_low": "Low", "_close": "Close"}  # read through memoryviews


class Broker:
    """Order matching and bookkeeping for one backtest run."""

    _open: memoryview  # the columns of _PER_BAR, read bar by bar
    _high: memoryview
    _low: memoryview
    _close: memoryview

    def __init__(
        self,
        *,
        ohlc: pd.DataFrame,
        cash: float,
        spread: float,
        fee: FeeFunc,
        fixed_fee: float,
        margin: float,
        trade_on_close: bool,
        hedging: bool,
        exclusive_orders: bool,
    ) -> None:
        self.index = ohlc.index
        # Per-bar reads go through memoryviews: their items are Python floats, whose arithmetic
        # is several times cheaper than numpy scalars' on every fill.
        for attribute, column in _PER_BAR.items():
            # a float array already (the engine's, made once: no copy), or a Series
            setattr(self, attribute, memoryview(np.asarray(ohlc[column], dtype=float)))
        self._closes = self._close.obj  # the array itself, for the vectorised equity curve
        self.cash = float(cash)
        self._spread = spread
        self._fee = fee
        self._fixed_fee = fixed_fee
        self._leverage = 1 / margin
        self._trade_on_close = trade_on_close
        self._hedging = hedging
        self._exclusive = exclusive_orders
        self.orders: list[Order] = []
        self.trades: list[Trade] = []
        self.closed_trades: list[Trade] = []
        self.i = 0
        self.ruin_band = (-inf, inf)  # Close prices outside it may ruin the account
        # Flat arrays of doubles: nothing for the garbage collector, and numpy copies them in one go
        self._cash_ledger = array("d")  # bar, cash after that bar's fills, bar, cash, ...
        self._holdings = array("d")  # from bar, to bar, size, entry price, trade number, from bar, ...
        self._opened = 0  # trades opened so far: the next trade's number

    def __getstate__(self) -> dict:  # memoryviews do not pickle; the arrays they view do
        return {k: v.obj if isinstance(v, memoryview) else v for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for attribute in _PER_BAR:
            setattr(self, attribute, memoryview(state[attribute]))

    # --- what the strategy reads -------------------------------------------------------------
    @property
    def last_price(self) -> float:
        return self._close[self.i]

    @property
    def equity(self) -> float:
        """The cash plus each open trade's P/L at the Close, added in turn, oldest first."""
        price, equity = self._close[self.i], self.cash
        for trade in self.trades:
            equity += trade._size * (price - trade._entry_price)
        return equity

    def margin_available(self) -> float:
        price, open_pl, used = self._close[self.i], 0.0, 0.0
        for trade in self.trades:
            open_pl += trade._size * (price - trade._entry_price)
            used += abs(trade._size) * price
        return max(0.0, self.cash + open_pl - used / self._leverage)

    # --- what the strategy asks for ----------------------------------------------------------
    def place(self, order: Order) -> Order:
        """Queue a new order (exclusive mode first cancels other orders and closes all trades)."""
        if self._exclusive:
            for other in list(self.orders):
                if not other.is_contingent:
                    self.cancel_order(other)
            for trade in self.trades:
                trade.close()
        self.orders.append(order)
        return order

    def queue_close(self, order: Order) -> None:
        """Closing orders go ahead of new orders."""
        self.orders.insert(0, order)

    def cancel_order(self, order: Order) -> None:
        if order._live:
            order._live = False
            self.orders.remove(order)
        trade = order._parent
        if trade is not None:
            if order is trade._sl_order:
                trade._sl_order = None
            elif order is trade._tp_order:
                trade._tp_order = None

    def set_contingent(self, trade: Trade, kind: str, price: float | None) -> None:
        """Replace a trade's stop-loss (``kind='sl'``) or take-profit order."""
        slot = f"_{kind}_order"
        old = getattr(trade, slot)
        if old is not None:
            self.cancel_order(old)
        if price is not None and trade in self.trades:
            price = float(price)
            order = Order(self, -float(trade._size), tag=trade._tag, parent_trade=trade,
                          **({"stop": price} if kind == "sl" else {"limit": price}))
            setattr(trade, slot, order)
            if kind == "sl":
                self.orders.insert(0, order)  # stop-losses are matched first
            else:
                self.orders.append(order)

    # --- matching ----------------------------------------------------------------------------
    def process_orders(self) -> None:
        """Match every pending order against the current bar.

        A market entry's new stop-loss/take-profit are matched on the entry bar too, and so are a
        stop or limit entry's where the bar's prices prove they traded after the entry: a second pass
        over just those orders, in queue order: the stop-losses first, the newest first, then the
        take-profits, the oldest first. Nothing else is matched twice, so a stop-limit that
        triggered on this bar, or a bracket deferred for an intrabar ambiguity, waits as it should.
        """
        self._brackets: list[tuple[Order, float | None]] = []  # (bracket, its price if already known)
        self._match(list(self.orders))
        stops = [b for b in reversed(self._brackets) if b[0] is b[0]._parent._sl_order]
        for order, price in stops + [b for b in self._brackets if b not in stops]:
            if price is None:
                self._match([order])
            elif order._live:
                self._fill_closing(order, price, self.i)
        self._refresh_exposure()

    def _refresh_exposure(self) -> None:
        """After fills: the Close prices at which equity would reach zero, widened a little.

        Equity is ``cash + net_size * close - cost_basis``, so a bar can only ruin the account when
        its Close is at or beyond the ruin price; the loop compares two floats per bar and calls
        :meth:`is_ruined` for the exact check only then.
        """
        net, cost = 0, 0.0
        for trade in self.trades:
            net += trade._size
            cost += trade._size * trade._entry_price
        lo, hi = -inf, inf
        if net > 0:
            lo = (cost - self.cash) / net
        elif net < 0:
            hi = (cost - self.cash) / net
        elif self.cash - cost <= 1e-9 * (abs(self.cash) + abs(cost)):
            lo, hi = inf, -inf  # flat (or hedged flat) with no money left: check now
        slack = 1e-9 * (1 + abs(cost) + abs(self.cash)) / max(abs(net), 1)
        self.ruin_band = (lo + slack, hi - slack)

    def is_ruined(self) -> bool:
        """Whether equity at the current Close is zero or less."""
        return self.equity <= 0

    def _match(self, orders: list[Order]) -> None:
        """Match ``orders`` (in queue order) against the current bar."""
        i = self.i
        bar_open, high, low = self._open[i], self._high[i], self._low[i]
        at_market = (self._close[i - 1], i - 1) if self._trade_on_close else (bar_open, i)
        for order in orders:
            if not order._live:
                continue
            is_market = order._limit is None and order._stop is None
            fill = at_market if is_market else self._fill_price(order, bar_open, high, low)
            if fill is None:
                continue
            price, bar = fill
            if order._parent is not None:
                self._fill_closing(order, price, bar)
            else:
                self._fill_new(order, price, bar, is_market)

    def _fill_price(self, order: Order, bar_open: float, high: float, low: float) -> tuple[float, int] | None:
        """The price and bar a limit or stop order fills at on this bar, or None if it does not fill."""
        is_long = order._size > 0
        stop, limit = order._stop, order._limit
        if stop is not None:
            if not (high >= stop if is_long else low <= stop):
                return None
            trigger = max(bar_open, stop) if is_long else min(bar_open, stop)
            if limit is None:
                return trigger, self.i
            order._stop = None  # triggered: from now on a plain limit order
            if trigger <= limit if is_long else trigger >= limit:
                return trigger, self.i
            gapped = bar_open > stop if is_long else bar_open < stop
            if gapped and (low <= limit if is_long else high >= limit):
                return limit, self.i
            return None  # the limit may have traded before the stop did: wait for a later bar
        if not (low <= limit if is_long else high >= limit):
            return None
        return (min(bar_open, limit) if is_long else max(bar_open, limit)), self.i

    def _fill_closing(self, order: Order, price: float, bar: int) -> None:
        trade = order._parent
        if trade in self.trades:
            if abs(order._size) >= abs(trade._size):
                self._close_trade(trade, price, bar)
            else:
                self._reduce_trade(trade, price, order._size, bar)
        if order._live:
            order._live = False
            self.orders.remove(order)

    def _fill_new(self, order: Order, price: float, bar: int, is_market: bool) -> None:
        """Fill a new order: close opposite trades (FIFO), then open a trade with what remains."""
        order._live = False  # filled: off the queue
        self.orders.remove(order)
        adjusted = price * (1 + copysign(self._spread, order._size))
        size = order._size
        unit_cost = self._unit_cost(size, adjusted, price)
        available = self.margin_available()
        if -1 < size < 1:
            size = self._units_for_share(size, unit_cost, available)
            if not size:
                self._warn_margin("relative-sized order")
                return
        need = int(size)
        if self.trades and not self._hedging:
            left = self._close_opposite(need, price, bar)
            if left != need:
                need, available = left, self.margin_available()  # with what closing freed
        if not need:
            return
        if abs(need) * unit_cost + self._fixed_fee > available * self._leverage:
            self._warn_margin("order")
            return
        trade = self._open_trade(adjusted, need, order, bar)
        if order._sl is not None or order._tp is not None:
            self._entry_brackets(trade, price, is_market)

    def _entry_brackets(self, trade: Trade, price: float, is_market: bool) -> None:
        """Match a new trade's stop-loss and take-profit on its entry bar, where that is sound.

        After a fill at the Open (market entries, gaps) the whole bar came after: its brackets are
        matched like any order. After a fill inside the bar at ``price``, the bar is known to have
        traded, after the fill, every price from it to the Close and to the High (reached on the way
        up) or the Low (on the way down); a bracket within those fills at its price (the stop-loss
        first) in the second pass. A bracket the bar reached only perhaps before the fill waits for
        the next bar, and so does the take-profit beside it.
        """
        i = self.i
        bar_open, high, low, close = self._open[i], self._high[i], self._low[i], self._close[i]
        brackets = [(o, o._stop if o is trade._sl_order else o._limit)
                    for o in (trade._sl_order, trade._tp_order) if o is not None]
        if is_market or price == bar_open:
            self._brackets += [(o, None) for o, _ in brackets]
            return
        after = (min(price, close), high) if price > bar_open else (low, max(price, close))
        for order, level in brackets:  # the stop-loss first
            if after[0] <= level <= after[1]:
                self._brackets.append((order, level))
                return
            if low <= level <= high:
                warn(f"({self.index[i]}) A stop-loss or take-profit would execute in the same bar as its "
                     f"stop/limit entry ({trade!r}), maybe before the entry: the bar's prices do not tell. "
                     "It is matched from the next bar on.")
                return

    def _close_opposite(self, need: int, price: float, bar: int) -> int:
        """Close or reduce opposite trades, oldest first, against ``need`` units; return the units left."""
        for trade in list(self.trades):
            if (trade._size > 0) == (need > 0):
                continue
            if abs(need) >= abs(trade._size):
                self._close_trade(trade, price, bar)
                need += trade._size
            else:
                self._reduce_trade(trade, price, need, bar)
                need = 0
            if not need:
                break
        return need

    def _unit_cost(self, size: float, adjusted: float, price: float) -> float:
        """Cash one unit takes: the spread-adjusted price plus its share of the variable fee.

        The fee is estimated at the order's own size and the quoted price; the fixed part of a
        ``(fixed, relative)`` commission is left out, as it is paid once per fill, not per unit.
        """
        return adjusted + (self._fee(size, price) - self._fixed_fee) / abs(size)

    def _units_for_share(self, share: float, unit_cost: float, available: float) -> int:
        """Whole units a share of the ``available`` margin pays for, fees included."""
        if unit_cost <= 0:
            raise ValueError(f"The 'commission' of Backtest makes a unit cost {unit_cost:g} (the price with "
                             "the spread, plus the fee a unit) <= 0, so no size can be worked out for a "
                             "share of the margin. A fee may be a rebate, but never the whole price.")
        budget = available * self._leverage * abs(share) - self._fixed_fee
        return int(copysign(max(0.0, budget) // unit_cost, share))

    def _warn_margin(self, what: str) -> None:
        warn(margin_warning(self.index[self.i], what, self.equity, self.margin_available()))

    # --- trades ------------------------------------------------------------------------------
    def _open_trade(self, price: float, size: int, order: Order, bar: int) -> Trade:
        fee = self._fee(size, price)
        trade = Trade(self, size, price, bar, order._tag, fee, self.i)
        trade._seq, self._opened = self._opened, self._opened + 1
        self.cash -= fee
        self._cash_ledger.extend((self.i, self.cash))
        self.trades.append(trade)
        if order._tp is not None:
            trade.tp = order._tp
        if order._sl is not None:
            trade.sl = order._sl
        return trade

    def _close_trade(self, trade: Trade, price: float, bar: int) -> None:
        if trade._sl_order is not None:
            trade._sl_value = trade._sl_order._stop
            self.cancel_order(trade._sl_order)
        if trade._tp_order is not None:
            trade._tp_value = trade._tp_order._limit
            self.cancel_order(trade._tp_order)
        self.trades.remove(trade)
        self._book_holding(trade)
        self._settle(trade, price, bar)

    def _settle(self, trade: Trade, price: float, bar: int) -> None:
        """Exit a trade (or a closed part of one) at ``price``: its exit fee, its record, the cash."""
        exit_fee = self._fee(trade._size, price)
        trade._fees = trade._entry_fee + exit_fee
        trade._entry_fee = 0.0
        trade._exit_price, trade._exit_bar = price, bar
        self.closed_trades.append(trade)
        self.cash += trade._size * (price - trade._entry_price) - exit_fee
        self._cash_ledger.extend((self.i, self.cash))

    def _reduce_trade(self, trade: Trade, price: float, size: float, bar: int) -> None:
        """Close ``size`` (opposite sign to the trade) of a trade as a separate closed record."""
        self._book_holding(trade)
        share = trade._entry_fee * abs(size) / abs(trade._size)
        trade._entry_fee -= share
        part = Trade(self, -size, trade._entry_price, trade._entry_bar, trade._tag, share, self.i)
        trade._size += size
        for order in (trade._sl_order, trade._tp_order):
            if order is not None:
                order._size = -float(trade._size)
        self._settle(part, price, bar)  # the part is never an open trade: its holding is the trade's

    def close_all(self, price: float) -> None:
        """Close every open trade at ``price`` on the current bar (end of data, out of money)."""
        for trade in list(self.trades):
            self._close_trade(trade, price, self.i)
        self._refresh_exposure()

    def _book_holding(self, trade: Trade) -> None:
        """Record that the trade held its current size from ``trade._since`` to the current bar."""
        self._holdings.extend((trade._since, self.i, trade._size, trade._entry_price, trade._seq))
        trade._since = self.i

    # --- the equity curve --------------------------------------------------------------------
    def equity_curve(self, start_cash: float, end: int | None = None) -> np.ndarray:
        """Equity at each bar's Close: the cash, plus each open trade's ``size * (close - entry price)``
        in turn, oldest first, as :attr:`equity` adds them up while the strategy runs.

        Bars from ``end`` on (the bar the account ran out of money) are zero. Every holding is
        expanded to its bars, and the cash and products are summed per bar in one vectorised pass
        (``np.bincount`` adds in order). A flat bar is exactly its cash, and a product is the same
        number on every bar it recurs on, so equal equity is equal to the bit and drawdown peaks
        compare exactly.
        """
        n = len(self._closes)
        stop = n if end is None else end
        cash = self._cash(n, start_cash)
        holdings = self._holdings + array("d", [x for t in self.trades
                                                for x in (t._since, stop, t._size, t._entry_price, t._seq)])
        if holdings:
            first, last, size, entry, seq = np.array(holdings).reshape(-1, 5).T
            oldest_first = np.argsort(seq, kind="stable")
            first, last = first[oldest_first].astype(np.intp), last[oldest_first].astype(np.intp)
            lengths = last - first
            bars = np.arange(n + lengths.sum(), dtype=np.intp)  # the bars themselves, for the cash
            bars[n:] += np.repeat(first - n - (np.cumsum(lengths) - lengths), lengths)  # each holding's bars
            amounts = np.concatenate((cash, self._closes[bars[n:]]))
            amounts[n:] -= np.repeat(entry[oldest_first], lengths)
            amounts[n:] *= np.repeat(size[oldest_first], lengths)
            cash = np.bincount(bars, weights=amounts, minlength=n)
        if end is not None:
            cash[end:] = 0.0
        return cash

    def _cash(self, n: int, start_cash: float) -> np.ndarray:
        """Cash at each bar's Close: the ledger's last entry of a bar holds until the next fill."""
        cash = np.full(n, start_cash, dtype=float)
        ledger = self._cash_ledger
        if ledger:
            bars, values = np.array(ledger).reshape(-1, 2).T  # a copy: the ledger stays growable
            last_of_bar = np.append(bars[1:] != bars[:-1], True)
            bars, values = bars[last_of_bar].astype(int), values[last_of_bar]
            cash[bars[0]:] = np.repeat(values, np.diff(bars, append=n))
        return cash


def margin_warning(label: object, what: str, equity: float, margin_available: float) -> str:
    """The warning for an order cancelled on bar ``label`` for want of margin."""
    # "insufficient margin": the words backtesting.py's users filter this warning by
    return (f"({label}) The broker cancelled the {what} due to insufficient margin "
            f"(equity={equity:.2f}, margin_available={margin_available:.2f}).")
