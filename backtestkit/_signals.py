"""The compiled path: a run of a strategy whose orders are all known after ``init()`` (a
:class:`~backtestkit.lib.SignalStrategy` that only sets signals), done by the kernel of
``_signal_kernel.py`` instead of the bar loop, with the same results to the bit.

The engine asks the strategy for its signals (``Strategy._signals()``: None unless it qualifies) and
the broker for its settings; anything the kernel does not do (a commission callable, orders placed in
``init()``, an order the event engine would refuse) leaves the run to the bar loop. See
doc/performance.md, "The compiled signals path".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtestkit._broker import Broker, margin_warning
from backtestkit._errors import note_bar, warn
from backtestkit._fees import LinearFee
from backtestkit._orders import Trade
from backtestkit._trades import trade_columns


@dataclass
class SignalRun:
    """What the kernel leaves: the closed and still open trades (rows of the kernel's columns), the
    cash and every bar's equity, and the bar the account was ruined on (None if it was not)."""

    closed: np.ndarray
    open: np.ndarray
    cash: float
    equity: np.ndarray
    ruined_at: int | None

    def columns(self, index: pd.Index) -> dict[str, np.ndarray]:
        """The closed trades as ``_trades.stats_columns`` gives them (the stats read these)."""
        from backtestkit import _signal_kernel as k

        closed = self.closed
        size = closed[:, k.C_SIZE]
        sizes = size if closed[:, k.C_IS_FLOAT].any() else size.astype(int)
        return trade_columns(sizes, closed[:, k.C_ENTRY_BAR].astype(int), closed[:, k.C_EXIT_BAR].astype(int),
                             closed[:, k.C_ENTRY], closed[:, k.C_EXIT], closed[:, k.C_FEES], index)

    def to_broker(self, broker: Broker) -> None:
        """Leave the broker as the bar loop would have: its cash, open and closed trades (what
        ``stats._strategy.closed_trades`` and the ``_trades`` frame read)."""
        from backtestkit import _signal_kernel as k

        for row in self.closed:
            size = float(row[k.C_SIZE]) if row[k.C_IS_FLOAT] else int(row[k.C_SIZE])
            trade = Trade(broker, size, float(row[k.C_ENTRY]), int(row[k.C_ENTRY_BAR]), None, 0.0, 0)
            trade._exit_price, trade._exit_bar = float(row[k.C_EXIT]), int(row[k.C_EXIT_BAR])
            trade._fees = float(row[k.C_FEES])
            broker.closed_trades.append(trade)
        for row in self.open:
            size = float(row[k.SIZE]) if row[k.IS_FLOAT] else int(row[k.SIZE])
            trade = Trade(broker, size, float(row[k.ENTRY]), int(row[k.BAR]), None, float(row[k.FEE]), 0)
            trade._seq = int(row[k.SEQ])
            broker.trades.append(trade)
        broker.cash = self.cash
        broker.i = len(self.equity) - 1


def run_signals(broker: Broker, signals: tuple[np.ndarray, np.ndarray], start: int,
                finalize: bool) -> SignalRun | None:
    """Run the entry sizes and exit portions ``signals`` on the broker's bars from bar ``start`` in the
    kernel (closing what is open at the last Close if ``finalize``); None when the broker's settings
    or state are for the bar loop: a commission callable, orders already placed, an order whose unit
    cost is <= 0 (the bar loop raises the error)."""
    if type(broker._fee) is not LinearFee or broker.orders or broker.trades:
        return None
    from backtestkit import _signal_kernel as k

    entries, exits = signals
    close, n = broker._closes, len(broker._closes)
    rows = 2 * n + 16
    while True:
        trades, closed = np.empty((n + 1, 6)), np.empty((rows, 7))
        warned, equity = np.empty((n, 4)), np.empty(n)
        ruined, cash, counts = k.run(
            broker._open.obj, close, entries, exits, start, broker.cash, broker._spread, broker._fee.fixed,
            broker._fee.relative, broker._leverage, broker._trade_on_close, broker._hedging,
            broker._exclusive, finalize, trades, closed, warned, equity)
        if counts[k.FULL] != 1:
            break
        rows *= 2  # more partial closes than rows for them: again, with room
    if counts[k.FULL] == 2:
        return None
    for bar, kind, equity_then, margin in warned[:counts[k.N_WARNED]]:
        label = broker.index[int(bar)]
        try:
            warn(margin_warning(label, k.WARNING_KINDS[int(kind)], equity_then, margin))
        except Exception as exc:  # warnings made errors: as the bar loop raises them
            note_bar(exc, int(bar), label)
            raise
    return SignalRun(closed[:counts[k.N_CLOSED]], trades[:counts[k.N_OPEN]], 0.0 if ruined >= 0 else cash,
                     equity, None if ruined < 0 else int(ruined))
