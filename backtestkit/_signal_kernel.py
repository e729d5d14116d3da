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
  newest first), so they are a stack ``front`` of (size, trade number); after them, at most one new
  order (a SignalStrategy places one a bar at the most): its size is ``money[ENTRY]``;
- counters ``k`` (``N_OPEN`` ...) and ``money[CASH]``.

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

# Columns of an open trade and of a closed one (SEQ: the number of the trade it was, or part of).
SIZE, ENTRY, BAR, FEE, SEQ, IS_FLOAT = range(6)
C_SIZE, C_IS_FLOAT, C_ENTRY_BAR, C_EXIT_BAR, C_ENTRY, C_EXIT, C_FEES, C_SEQ = range(8)
# The counters, ``money``'s slots, and what ``k[STATUS]`` says of a run.
N_OPEN, N_CLOSED, OPENED, N_FRONT, HAS_ENTRY, N_WARNED, STATUS = range(7)
CASH, ENTRY_SIZE = range(2)
SPREAD, FIXED, RELATIVE, LEVERAGE = range(4)  # ``terms``: the broker's costs
DONE, NEEDS_ROWS, FOR_BAR_LOOP = range(3)
#: What a warning row's kind means: the broker's words for the cancelled order.
WARNING_KINDS = ("relative-sized order", "order")
_EXACT = 2.0**53  # sizes from here on are not all floats: Python ints, for the bar loop


#: Whether the compiled kernel is kept on disk (see _jit): if not, each process compiles it again.
ON_DISK = True


def _jit(function):  # type: ignore[no-untyped-def]
    """Compiled on first call, and cached on disk where numba finds a writable place for it (beside
    this file, else in the user's cache directory); where there is none (a read-only install and
    home), compiled anew in each process instead of failing."""
    global ON_DISK
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        ON_DISK = False
        return njit(nogil=True)(function)



@_jit
def _fee(size: float, price: float, terms) -> float:
    return terms[FIXED] + abs(size) * price * terms[RELATIVE]  # LinearFee


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
def _settle(closed, k, money, size: float, is_float: float, entry_bar: float, entry: float, seq: float,
            entry_fee: float, price: float, bar: int, terms) -> None:
    """Broker._settle of ``size`` units of trade number ``seq``: the exit fee, the closed record, the
    cash."""
    row = k[N_CLOSED]
    if row == len(closed):
        k[STATUS] = NEEDS_ROWS
        return
    exit_fee = _fee(size, price, terms)
    closed[row, C_SIZE], closed[row, C_IS_FLOAT] = size, is_float
    closed[row, C_ENTRY_BAR], closed[row, C_EXIT_BAR] = entry_bar, bar
    closed[row, C_ENTRY], closed[row, C_EXIT] = entry, price
    closed[row, C_FEES], closed[row, C_SEQ] = entry_fee + exit_fee, seq
    k[N_CLOSED] = row + 1
    money[CASH] += size * (price - entry) - exit_fee


@_jit
def _close_trade(trades, closed, k, money, j: int, price: float, bar: int, terms) -> None:
    """Broker._close_trade of the ``j``-th open trade."""
    size, is_float, entry_bar, entry = trades[j, SIZE], trades[j, IS_FLOAT], trades[j, BAR], trades[j, ENTRY]
    seq, entry_fee = trades[j, SEQ], trades[j, FEE]
    trades[j:k[N_OPEN] - 1] = trades[j + 1:k[N_OPEN]]
    k[N_OPEN] -= 1
    _settle(closed, k, money, size, is_float, entry_bar, entry, seq, entry_fee, price, bar, terms)


@_jit
def _reduce_trade(trades, closed, k, money, j: int, price: float, size: float, is_float: float, bar: int,
                  terms) -> None:
    """Broker._reduce_trade: close ``size`` (of the opposite sign) of the ``j``-th open trade."""
    share = trades[j, FEE] * abs(size) / abs(trades[j, SIZE])
    trades[j, FEE] -= share
    trades[j, SIZE] += size
    trades[j, IS_FLOAT] = max(trades[j, IS_FLOAT], is_float)
    _settle(closed, k, money, -size, is_float, trades[j, BAR], trades[j, ENTRY], trades[j, SEQ], share, price,
            bar, terms)


@_jit
def _find(trades, k, seq: float) -> int:
    """Where the trade numbered ``seq`` is among the open trades, or -1 once it is closed."""
    for j in range(k[N_OPEN]):
        if trades[j, SEQ] == seq:
            return j
    return -1


@_jit
def _warn(warned, k, trades, money, i: int, kind: int, close: float, leverage: float) -> None:
    """Broker._warn_margin: what it says, kept to be said after the run."""
    row = k[N_WARNED]
    warned[row, 0], warned[row, 1] = i, kind
    warned[row, 2] = _equity(trades, k, money[CASH], close)
    warned[row, 3] = _margin_available(trades, k, money[CASH], close, leverage)
    k[N_WARNED] = row + 1


@_jit
def _fill_new(trades, closed, k, money, warned, order_size: float, price: float, bar: int, i: int,
              close: float, terms, hedging: bool) -> None:
    """Broker._fill_new for a market order: close opposite trades (FIFO), open one with what remains."""
    leverage = terms[LEVERAGE]
    adjusted = price * (1 + copysign(terms[SPREAD], order_size))
    unit_cost = adjusted + (_fee(order_size, price, terms) - terms[FIXED]) / abs(order_size)
    available = _margin_available(trades, k, money[CASH], close, leverage)
    size = order_size
    if -1 < size < 1:
        if unit_cost <= 0:  # the bar loop raises the error
            k[STATUS] = FOR_BAR_LOOP
            return
        units = max(0.0, available * leverage * abs(size) - terms[FIXED]) // unit_cost
        if units >= _EXACT:
            k[STATUS] = FOR_BAR_LOOP
            return
        size = copysign(units, size)
        if size == 0:
            _warn(warned, k, trades, money, i, 0, close, leverage)
            return
    need, need_is_float = size, 0.0  # whole units below _EXACT: int(size) is size
    if k[N_OPEN] and not hedging:
        left, j = need, 0
        while j < k[N_OPEN]:
            if (trades[j, SIZE] > 0) == (left > 0):
                j += 1
                continue
            if abs(left) >= abs(trades[j, SIZE]):
                left += trades[j, SIZE]
                need_is_float = max(need_is_float, trades[j, IS_FLOAT])
                _close_trade(trades, closed, k, money, j, price, bar, terms)
            else:
                _reduce_trade(trades, closed, k, money, j, price, left, need_is_float, bar, terms)
                left = 0.0
            if left == 0:
                break
        if left != need:
            need, available = left, _margin_available(trades, k, money[CASH], close, leverage)
    if need == 0:
        return
    if abs(need) * unit_cost + terms[FIXED] > available * leverage:
        _warn(warned, k, trades, money, i, 1, close, leverage)
        return
    row = k[N_OPEN]
    fee = _fee(need, adjusted, terms)
    trades[row, SIZE], trades[row, ENTRY], trades[row, BAR] = need, adjusted, bar
    trades[row, FEE], trades[row, SEQ], trades[row, IS_FLOAT] = fee, k[OPENED], need_is_float
    k[OPENED] += 1
    k[N_OPEN] = row + 1
    money[CASH] -= fee


@_jit
def _fill_orders(trades, closed, front, k, money, warned, i: int, price: float, bar: int, close: float,
                 terms, hedging: bool) -> None:
    """Broker.process_orders: every pending order fills (market orders), in queue order."""
    for q in range(k[N_FRONT] - 1, -1, -1):  # the newest closing order first
        j = _find(trades, k, front[q, 1])
        if j < 0:
            continue  # its trade was closed by an order before it
        if abs(front[q, 0]) >= abs(trades[j, SIZE]):
            _close_trade(trades, closed, k, money, j, price, bar, terms)
        else:
            _reduce_trade(trades, closed, k, money, j, price, front[q, 0], 1.0, bar, terms)
    if k[HAS_ENTRY]:
        _fill_new(trades, closed, k, money, warned, money[ENTRY_SIZE], price, bar, i, close, terms, hedging)
    k[N_FRONT] = k[HAS_ENTRY] = 0


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
def _next(trades, front, k, money, portion: float, size: float, exclusive: bool) -> bool:
    """SignalStrategy.next(): the exits, then the entry; False where the bar loop raises an error (a
    portion Trade.close refuses, for a trade it would close; a size buy() refuses), or takes sizes
    this kernel does not (from ``_EXACT`` units)."""
    if portion != 0 and not np.isnan(portion):
        for j in range(k[N_OPEN]):
            if (portion > 0) == (trades[j, SIZE] > 0):
                if abs(portion) > 1:
                    return False
                _queue_close(trades, front, k, j, abs(portion))
    if size != 0 and not np.isnan(size):
        units = abs(size)
        if not (units < 1 or (units < _EXACT and units == floor(units))):
            return False
        if exclusive:  # Broker.place: other orders cancelled, every trade closed
            k[N_FRONT] = 0
            for j in range(k[N_OPEN]):
                _queue_close(trades, front, k, j, 1.0)
        money[ENTRY_SIZE], k[HAS_ENTRY] = size, 1
    return True


@_jit
def run(open_, close, entries, exits, start: int, terms, trade_on_close: bool, hedging: bool,
        exclusive: bool, finalize: bool, trades, closed, front, k, money, warned, equity) -> int:
    """Run the signals over bars ``start`` on, from the cash in ``money``; returns the bar the account
    was ruined on (-1 if it was not). ``k[STATUS]`` says whether the run is done: NEEDS_ROWS if
    ``closed`` was too small (run again with more), FOR_BAR_LOOP if the run met what the bar loop
    raises an error for or what it alone handles (see :func:`_next`, an order's unit cost <= 0).
    The orders still pending at the end are left in ``front`` and ``money[ENTRY_SIZE]``.

    ``equity`` (every bar's, from ``start`` on) is filled as ``Broker.equity_curve`` adds it up: the
    cash after the bar's fills plus each open trade's ``size * (close - entry price)``, oldest first.
    """
    n = len(close)
    lo, hi, watching = -inf, inf, False
    equity[:start] = money[CASH]
    for i in range(start, n):
        if k[N_FRONT] or k[HAS_ENTRY]:
            price, bar = (close[i - 1], i - 1) if trade_on_close else (open_[i], i)
            _fill_orders(trades, closed, front, k, money, warned, i, price, bar, close[i], terms, hedging)
            if k[STATUS] != DONE:
                return -1
            lo, hi = _ruin_band(trades, k, money[CASH])
            watching = lo > -inf or hi < inf
        if watching and (close[i] <= lo or close[i] >= hi) and _equity(trades, k, money[CASH], close[i]) <= 0:
            while k[N_OPEN]:  # Broker.close_all, then no money left
                _close_trade(trades, closed, k, money, 0, close[i], i, terms)
            money[CASH] = 0.0
            equity[i:] = 0.0
            return i
        equity[i] = _equity(trades, k, money[CASH], close[i])
        portion, size = exits[i], entries[i]
        # most bars have no signal: a call per bar, passing four arrays, tripled the kernel's time
        if (portion != 0 and not np.isnan(portion)) or (size != 0 and not np.isnan(size)):
            if not _next(trades, front, k, money, portion, size, exclusive):
                k[STATUS] = FOR_BAR_LOOP
                return -1
    if finalize:
        while k[N_OPEN]:
            _close_trade(trades, closed, k, money, 0, close[n - 1], n - 1, terms)
        equity[n - 1] = money[CASH]
    return -1
