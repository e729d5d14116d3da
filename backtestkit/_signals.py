"""The compiled path: a run of a strategy whose orders are all known after ``init()`` (a
:class:`~backtestkit.lib.SignalStrategy` that only sets signals), done by the kernel of
``_signal_kernel.py`` instead of the bar loop, with the same results to the bit.

The engine asks the strategy for its signals (``Strategy._signals()``: None unless it qualifies) and
the broker for its settings; anything the kernel does not do (a commission callable, orders placed in
``init()``, an order the bar loop would refuse) leaves the run to the bar loop. See
doc/optimisation.md, "The compiled signals path".
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._broker import Broker, margin_warning
from backtestkit._errors import note_bar, warn
from backtestkit._fees import LinearFee
from backtestkit._orders import Order, Trade
from backtestkit._trades import frame_of, trade_columns


def _kernel() -> ModuleType:
    """The kernel's module, imported on the first compiled run: numba is imported with it. (An import
    statement, not a look in ``sys.modules``, which holds a module from the start of its import: a
    second thread would find it half made.)"""
    from backtestkit import _signal_kernel

    return _signal_kernel


#: Seconds the process's first compiled run may take before a note on stderr says what it waits for:
#: numba compiling the kernel takes about 10 s, once a machine; loading it from disk, under a second.
NOTE_AFTER = 2.0
_warm = False  # the kernel has run in this process (compiled or loaded)


def _first_run(kernel: Callable[..., Any], *args: Any) -> Any:
    """``kernel(*args)``; on the process's first call of a kernel numba has yet to compile or load, with a
    note on stderr if that takes over :data:`NOTE_AFTER` seconds, so the wait is not a silent hang. The
    note's thread is gone when this returns (a process that forks next has no other thread)."""
    global _warm
    if _warm or getattr(kernel, "signatures", True):  # loaded already, or plain Python (NUMBA_DISABLE_JIT)
        _warm = True
        return kernel(*args)
    timer = threading.Timer(NOTE_AFTER, _note_compiling)
    timer.daemon = True
    timer.start()
    try:
        return kernel(*args)
    finally:
        timer.cancel()
        timer.join()
        _warm = True


def _note_compiling() -> None:
    kept = ("the first time on a machine, then loads it from disk" if _kernel().ON_DISK else
            "in every process, as it finds no writable place to keep it")
    print(f"backtestkit: preparing the compiled signals kernel: numba compiles it, about 10 s, {kept}. "
          "backtestkit.set_compiled_signals(False) runs signal strategies bar by bar instead.",
          file=sys.stderr, flush=True)


@dataclass
class SignalRun:
    """What the kernel leaves: the closed and still open trades (rows of the kernel's columns), the
    orders still pending (closing orders, newest first, as (size, trade number); a new order's size or
    None), the cash, every bar's equity, and the bar the account was ruined on (None if it was not)."""

    closed: np.ndarray
    still_open: np.ndarray
    closing: np.ndarray
    entry: float | None
    cash: float
    equity: np.ndarray
    ruined_at: int | None

    def columns(self, index: pd.Index) -> MutableMapping[str, np.ndarray]:
        """The closed trades as ``_trades.stats_columns`` gives them (the stats read these)."""
        k, closed = _kernel(), self.closed
        size = closed[:, k.C_SIZE]
        sizes = size if closed[:, k.C_IS_FLOAT].any() else size.astype(int)
        return trade_columns(sizes, closed[:, k.C_ENTRY_BAR].astype(int), closed[:, k.C_EXIT_BAR].astype(int),
                             closed[:, k.C_ENTRY], closed[:, k.C_EXIT], closed[:, k.C_FEES], index)

    def frame(self, index: pd.Index, indicators: list[np.ndarray]) -> pd.DataFrame:
        """The ``_trades`` frame (a signal's trades have no SL, TP or tag)."""
        nothing = [None] * len(self.closed)
        return frame_of(self.columns(index), nothing, nothing, nothing, index, indicators)

    def to_broker(self, broker: Broker) -> None:
        """Leave the broker as the bar loop would have: its cash, its bar, its open trades, its closed
        ones (made Trade objects when first read: a long run closes thousands) and its pending orders."""
        k = _kernel()
        for row in self.still_open:
            trade = Trade(broker, _units(row[k.SIZE], row[k.IS_FLOAT]), float(row[k.ENTRY]), int(row[k.BAR]),
                          None, float(row[k.FEE]), 0)
            trade._seq = int(row[k.SEQ])
            broker.trades.append(trade)
        broker.closed_trades = _ClosedTrades(self.closed, broker)  # type: ignore[assignment]
        for size, seq in self.closing:
            broker.orders.append(Order(broker, float(size), parent_trade=self._trade_numbered(broker, seq)))
        if self.entry is not None:
            broker.orders.append(Order(broker, self.entry))
        broker.cash = self.cash
        broker.i = len(self.equity) - 1 if self.ruined_at is None else self.ruined_at

    def _trade_numbered(self, broker: Broker, seq: float) -> Trade:
        """The Trade object numbered ``seq``: open, or closed (its last closed record: the whole trade)."""
        k = _kernel()
        for trade in broker.trades:
            if trade._seq == seq:
                return trade
        return broker.closed_trades[int(np.flatnonzero(self.closed[:, k.C_SEQ] == seq)[-1])]


def _units(size: float, is_float: float) -> int | float:
    """A size as the broker holds it: an int, or a float once a partial close made it one."""
    return float(size) if is_float else int(size)


class _ClosedTrades(Sequence):
    """The closed trades of a compiled run (rows of the kernel's columns), as Trade objects once read."""

    def __init__(self, rows: np.ndarray, broker: Broker) -> None:
        self._rows, self._broker = rows, broker
        self._trades: list[Trade] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, item: Any) -> Any:
        if self._trades is None:
            self._trades = [self._trade(row) for row in self._rows]
        return self._trades[item]

    def _trade(self, row: np.ndarray) -> Trade:
        k = _kernel()
        trade = Trade(self._broker, _units(row[k.C_SIZE], row[k.C_IS_FLOAT]), float(row[k.C_ENTRY]),
                      int(row[k.C_ENTRY_BAR]), None, 0.0, 0)
        trade._exit_price, trade._exit_bar = float(row[k.C_EXIT]), int(row[k.C_EXIT_BAR])
        trade._fees = float(row[k.C_FEES])
        return trade


def run_signals(broker: Broker, signals: tuple[np.ndarray, np.ndarray], start: int,
                finalize: bool) -> SignalRun | None:
    """Run the entry sizes and exit portions ``signals`` on the broker's bars from bar ``start`` in the
    kernel (closing what is open at the last Close if ``finalize``); None when the run is for the bar
    loop: a commission callable, orders already placed, or what the bar loop raises an error for (a
    size or portion the broker refuses, an order whose unit cost is <= 0)."""
    if type(broker._fee) is not LinearFee or broker.orders or broker.trades:
        return None
    k = _kernel()
    entries, exits = signals
    close, n = broker._closes, len(broker._closes)
    terms = np.array([broker._spread, broker._fee.fixed, broker._fee.relative, broker._leverage])
    rows = 2 * n + 16
    while True:
        trades, closed, front = np.empty((n + 1, 6)), np.empty((rows, 8)), np.empty((2 * n + 2, 2))
        counts, money = np.zeros(7, dtype=np.int64), np.array([broker.cash, 0.0])
        warned, equity = np.empty((n, 4)), np.empty(n)
        ruined = _first_run(k.run, broker._open.obj, close, entries, exits, start, terms,
                            broker._trade_on_close, broker._hedging, broker._exclusive, finalize, trades,
                            closed, front, counts, money, warned, equity)
        if counts[k.STATUS] != k.NEEDS_ROWS:
            break
        rows *= 2  # more partial closes than rows for them: again, with room
    if counts[k.STATUS] == k.FOR_BAR_LOOP:
        return None
    for bar, kind, equity_then, margin in warned[:counts[k.N_WARNED]]:
        label = broker.index[int(bar)]
        try:
            warn(margin_warning(label, k.WARNING_KINDS[int(kind)], equity_then, margin))
        except Exception as exc:  # warnings made errors: as the bar loop raises them
            note_bar(exc, int(bar), label)
            raise
    entry = float(money[k.ENTRY_SIZE]) if counts[k.HAS_ENTRY] else None
    return SignalRun(closed[:counts[k.N_CLOSED]], trades[:counts[k.N_OPEN]], front[:counts[k.N_FRONT]][::-1],
                     entry, float(money[k.CASH]), equity, None if ruined < 0 else int(ruined))
