"""The compiled run of a :class:`~backtestkit.lib.SignalStrategy`: the event engine's broker rules for
market orders, as one numba kernel over arrays.

Every function here does, operation for operation, what ``_broker.py`` does for the orders a
``SignalStrategy`` places (market entries, partial and full closes, exclusive orders, hedging, the
spread, ``(fixed, relative)`` commissions, margin and ruin), so each float comes out equal to the bit;
``tests/test_signals.py`` compares the two over random signals and every broker setting. Importing
this module compiles nothing; the first run compiles the kernel (a few seconds, then cached on disk
beside this file). Without numba the same functions run as plain Python: slower, the same results.

The state lives in arrays, numba's cheapest containers:

- open trades, oldest first: rows of ``_TRADE`` columns (a trade's number is its ``SEQ``);
- closed trades (and closed parts of trades), in the order they closed: rows of ``_CLOSED`` columns;
- pending orders, in the broker's queue order: closing orders are queued in front of new ones (the
  newest first), so they are a stack ``front`` (size, trade number) and new orders a list ``back``;
- counters ``k`` (``_K``) and the cash ``cash[0]``.

A whole number of units is kept as a float with a flag saying whether the event engine holds it as a
Python float (after a partial close) rather than an int: the ``_trades`` frame's ``Size`` column is
an int column only if every size is an int.
"""

from __future__ import annotations

from math import copysign, floor, inf

import numpy as np

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; without it, plain Python
    def njit(**_options):  # type: ignore[no-redef]
        return lambda function: function

# Columns of an open trade, of a closed one, and the counters.
SIZE, ENTRY, BAR, FEE, SEQ, IS_FLOAT = range(6)
C_SIZE, C_IS_FLOAT, C_ENTRY_BAR, C_EXIT_BAR, C_ENTRY, C_EXIT, C_FEES = range(7)
N_OPEN, N_CLOSED, OPENED, N_FRONT, N_BACK, N_WARNED, FULL = range(7)
#: What a warning row's kind means: the broker's words for the cancelled order.
WARNING_KINDS = ("relative-sized order", "order")

_jit = njit(cache=True, nogil=True)


@_jit
def _fee(size: float, price: float, fixed: float, relative: float) -> float:
    return fixed + abs(size) * price * relative  # LinearFee


@_jit
def _equity(trades, k, cash: float, price: float) -> float:
    equity = cash
    for j in range(k[N_OPEN]):
        equity += trades[j, SIZE] * (price - trades[j, ENTRY])
    return equity


@_jit
def _margin_available(trades, k, cash: float, price: float, leverage: float) -> float:
    open_pl, used = 0.0, 0.0
    for j in range(k[N_OPEN]):
        open_pl += trades[j, SIZE] * (price - trades[j, ENTRY])
        used += abs(trades[j, SIZE]) * price
    return max(0.0, cash + open_pl - used / leverage)


@_jit
def _settle(closed, k, cash, size: float, is_float: float, entry_bar: float, entry: float,
            entry_fee: float, price: float, bar: int, fixed: float, relative: float) -> None:
    """Broker._settle: the exit fee, the closed record, the cash."""
    row = k[N_CLOSED]
    if row == len(closed):
        k[FULL] = 1
        return
    exit_fee = _fee(size, price, fixed, relative)
    closed[row, C_SIZE], closed[row, C_IS_FLOAT] = size, is_float
    closed[row, C_ENTRY_BAR], closed[row, C_EXIT_BAR] = entry_bar, bar
    closed[row, C_ENTRY], closed[row, C_EXIT], closed[row, C_FEES] = entry, price, entry_fee + exit_fee
    k[N_CLOSED] = row + 1
    cash[0] += size * (price - entry) - exit_fee


@_jit
def _close_trade(trades, closed, k, cash, j: int, price: float, bar: int, fixed: float,
                 relative: float) -> None:
    """Broker._close_trade of the ``j``-th open trade."""
    size, is_float, entry_bar = trades[j, SIZE], trades[j, IS_FLOAT], trades[j, BAR]
    entry, entry_fee = trades[j, ENTRY], trades[j, FEE]
    trades[j:k[N_OPEN] - 1] = trades[j + 1:k[N_OPEN]]
    k[N_OPEN] -= 1
    _settle(closed, k, cash, size, is_float, entry_bar, entry, entry_fee, price, bar, fixed, relative)


@_jit
def _reduce_trade(trades, closed, k, cash, j: int, price: float, size: float, is_float: float, bar: int,
                  fixed: float, relative: float) -> None:
    """Broker._reduce_trade: close ``size`` (of the opposite sign) of the ``j``-th open trade."""
    share = trades[j, FEE] * abs(size) / abs(trades[j, SIZE])
    trades[j, FEE] -= share
    trades[j, SIZE] += size
    trades[j, IS_FLOAT] = max(trades[j, IS_FLOAT], is_float)
    _settle(closed, k, cash, -size, is_float, trades[j, BAR], trades[j, ENTRY], share, price, bar, fixed,
            relative)


@_jit
def _find(trades, k, seq: float) -> int:
    """Where the trade numbered ``seq`` is among the open trades, or -1 once it is closed."""
    for j in range(k[N_OPEN]):
        if trades[j, SEQ] == seq:
            return j
    return -1


@_jit
def _warn(warned, k, i: int, kind: int, equity: float, margin: float) -> None:
    row = k[N_WARNED]
    warned[row, 0], warned[row, 1], warned[row, 2], warned[row, 3] = i, kind, equity, margin
    k[N_WARNED] = row + 1


@_jit
def _fill_new(trades, closed, k, cash, warned, order_size: float, price: float, bar: int, i: int,
              close: float, spread: float, fixed: float, relative: float, leverage: float,
              hedging: bool) -> None:
    """Broker._fill_new for a market order: close opposite trades (FIFO), open one with what remains."""
    adjusted = price * (1 + copysign(spread, order_size))
    unit_cost = adjusted + (_fee(order_size, price, fixed, relative) - fixed) / abs(order_size)
    available = _margin_available(trades, k, cash[0], close, leverage)
    size = order_size
    if -1 < size < 1:
        if unit_cost <= 0:  # the event engine raises; the caller runs it
            k[FULL] = 2
            return
        budget = available * leverage * abs(size) - fixed
        size = float(int(copysign(max(0.0, budget) // unit_cost, size)))
        if size == 0:
            _warn(warned, k, i, 0, _equity(trades, k, cash[0], close),
                  _margin_available(trades, k, cash[0], close, leverage))
            return
    need, need_is_float = float(int(size)), 0.0
    if k[N_OPEN] and not hedging:
        left, j = need, 0
        while j < k[N_OPEN]:
            if (trades[j, SIZE] > 0) == (left > 0):
                j += 1
                continue
            if abs(left) >= abs(trades[j, SIZE]):
                left += trades[j, SIZE]
                need_is_float = max(need_is_float, trades[j, IS_FLOAT])
                _close_trade(trades, closed, k, cash, j, price, bar, fixed, relative)
            else:
                _reduce_trade(trades, closed, k, cash, j, price, left, need_is_float, bar, fixed, relative)
                left = 0.0
                need_is_float = 0.0  # the broker's literal 0
            if left == 0:
                break
        if left != need:
            need, available = left, _margin_available(trades, k, cash[0], close, leverage)
    if need == 0:
        return
    if abs(need) * unit_cost + fixed > available * leverage:
        _warn(warned, k, i, 1, _equity(trades, k, cash[0], close),
              _margin_available(trades, k, cash[0], close, leverage))
        return
    row = k[N_OPEN]
    fee = _fee(need, adjusted, fixed, relative)
    trades[row, SIZE], trades[row, ENTRY], trades[row, BAR] = need, adjusted, bar
    trades[row, FEE], trades[row, SEQ], trades[row, IS_FLOAT] = fee, k[OPENED], need_is_float
    k[OPENED] += 1
    k[N_OPEN] = row + 1
    cash[0] -= fee


@_jit
def _ruin_band(trades, k, cash: float) -> tuple[float, float]:
    """Broker._refresh_exposure: the Close prices outside which the account may be ruined."""
    net, cost = 0.0, 0.0
    for j in range(k[N_OPEN]):
        net += trades[j, SIZE]
        cost += trades[j, SIZE] * trades[j, ENTRY]
    lo, hi = -inf, inf
    if net > 0:
        lo = (cost - cash) / net
    elif net < 0:
        hi = (cost - cash) / net
    elif cash - cost <= 1e-9 * (abs(cash) + abs(cost)):
        lo, hi = inf, -inf
    slack = 1e-9 * (1 + abs(cost) + abs(cash)) / max(abs(net), 1.0)
    return lo + slack, hi - slack


@_jit
def _queue_close(trades, front, k, j: int, portion: float) -> None:
    """Trade.close(portion) of the ``j``-th open trade: a closing order in front of the queue."""
    size = trades[j, SIZE]
    if portion == 1:
        amount = -size
    else:
        amount = copysign(max(1, round(abs(size) * portion)), -size)
    front[k[N_FRONT], 0], front[k[N_FRONT], 1] = amount, trades[j, SEQ]
    k[N_FRONT] += 1


@_jit
def run(open_, close, entries, exits, start: int, cash0: float, spread: float, fixed: float,
        relative: float, leverage: float, trade_on_close: bool, hedging: bool, exclusive: bool,
        finalize: bool, trades, closed, warned, equity):
    """Run the signals over bars ``start`` on; returns the bar the account was ruined on (-1 if it was
    not), the cash at the end and the counters ``k``: ``k[FULL]`` is 1 if ``closed`` was too small
    (run again with more rows), 2 if the run met what the bar loop raises an error for (a size or
    portion the broker refuses, an order's unit cost <= 0): run the bar loop, which says where.

    ``equity`` (every bar's, from ``start`` on) is filled as ``Broker.equity_curve`` adds it up: the
    cash after the bar's fills plus each open trade's ``size * (close - entry price)``, oldest first.
    """
    n = len(close)
    k = np.zeros(7, dtype=np.int64)
    cash = np.array([cash0])
    front = np.empty((len(trades) * 2 + 2, 2))  # closing orders: size, trade number
    back = np.empty(1)  # a new order: its size (a SignalStrategy places at most one a bar)
    lo, hi, watching, ruined = -inf, inf, False, -1
    equity[:start] = cash0
    for i in range(start, n):
        if k[N_FRONT] or k[N_BACK]:
            price, bar = (close[i - 1], i - 1) if trade_on_close else (open_[i], i)
            for q in range(k[N_FRONT] - 1, -1, -1):  # the newest closing order first
                j = _find(trades, k, front[q, 1])
                if j < 0:
                    continue
                if abs(front[q, 0]) >= abs(trades[j, SIZE]):
                    _close_trade(trades, closed, k, cash, j, price, bar, fixed, relative)
                else:
                    _reduce_trade(trades, closed, k, cash, j, price, front[q, 0], 1.0, bar, fixed, relative)
            for q in range(k[N_BACK]):
                _fill_new(trades, closed, k, cash, warned, back[q], price, bar, i, close[i], spread, fixed,
                          relative, leverage, hedging)
            k[N_FRONT] = k[N_BACK] = 0
            if k[FULL]:
                return ruined, cash[0], k
            lo, hi = _ruin_band(trades, k, cash[0])
            watching = lo > -inf or hi < inf
        if watching and (close[i] <= lo or close[i] >= hi) and _equity(trades, k, cash[0], close[i]) <= 0:
            while k[N_OPEN]:
                _close_trade(trades, closed, k, cash, 0, close[i], i, fixed, relative)
            equity[i:] = 0.0
            return i, cash[0], k
        equity[i] = _equity(trades, k, cash[0], close[i])
        # SignalStrategy.next(): the exits, then the entry
        portion = exits[i]
        if portion != 0 and not np.isnan(portion):
            for j in range(k[N_OPEN]):
                if (portion > 0) == (trades[j, SIZE] > 0):
                    if abs(portion) > 1:  # Trade.close refuses it: the bar loop raises the error
                        k[FULL] = 2
                        return ruined, cash[0], k
                    _queue_close(trades, front, k, j, abs(portion))
        size = entries[i]
        if size != 0 and not np.isnan(size):
            units = abs(size)
            if not (units < 1 or (units < inf and units == floor(units))):  # buy()/sell() refuse it
                k[FULL] = 2
                return ruined, cash[0], k
            if exclusive:
                k[N_FRONT] = k[N_BACK] = 0
                for j in range(k[N_OPEN]):
                    _queue_close(trades, front, k, j, 1.0)
            back[k[N_BACK]] = size
            k[N_BACK] += 1
    if finalize:
        while k[N_OPEN]:
            _close_trade(trades, closed, k, cash, 0, close[n - 1], n - 1, fixed, relative)
        equity[n - 1] = cash[0]
    return ruined, cash[0], k
