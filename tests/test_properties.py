"""Invariants of the engine on random price data and random orders (hypothesis).

A random strategy places market, limit, stop and stop-limit orders with and without stop-loss and
take-profit, closes trades in part or in full, moves and removes their brackets and cancels orders,
all driven by a seed hypothesis draws. The books are then checked against arithmetic done here:
every fill is a price the bar traded, equity is cash plus open trades marked at the Close on every
bar, and the profits of the closed trades add up to the change in equity.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtestkit import Backtest, Strategy

CASH = 10_000.0
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- random data ---------------------------------------------------------------------------------

_gap = st.one_of(st.just(0.0), st.floats(0.005, 0.08), st.floats(-0.08, -0.005))  # the open's jump
_bar = st.tuples(_gap, st.floats(-0.05, 0.05), st.floats(0, 0.03), st.floats(0, 0.03))


@st.composite
def ohlc_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Valid OHLC bars in cents, some with gaps: Low <= min(Open, Close) <= max(Open, Close) <= High."""
    rows, close = [], 100.0
    for gap, change, up, down in draw(st.lists(_bar, min_size=5, max_size=30)):
        open_ = round(close * np.exp(gap), 2)
        close = round(open_ * np.exp(change), 2)
        high = round(max(open_, close) * (1 + up), 2)
        low = round(min(open_, close) * (1 - down), 2)
        rows.append((open_, high, low, close))
    index = pd.date_range("2024-01-01", periods=len(rows), freq="D")
    return pd.DataFrame(rows, index=index, columns=["Open", "High", "Low", "Close"])


# --- a strategy placing random orders ------------------------------------------------------------


class RandomOrders(Strategy):
    """Random orders from ``seed``; records ``self.equity`` and a recomputation of it on every bar."""

    seed = 0
    spread = 0.0
    fees: float | str = 0.0  # the commission: a relative rate or "per-unit"
    actions: tuple[int, ...] = tuple(range(8))  # to draw from, see _act()

    def init(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.fee = fee_function(self.fees)
        self.books: dict[int, tuple[float, float]] = {}

    def next(self) -> None:
        self.books[len(self.data) - 1] = (self.equity, self._recomputed_equity())
        for _ in range(self.rng.integers(0, 4)):
            self._act(int(self.rng.choice(self.actions)))

    def _recomputed_equity(self) -> float:
        """Cash plus open trades at the Close, from the trades alone (fees linear in the size)."""
        close, fee = self.data.Close[-1], self.fee
        closed = sum(t.size * (t.exit_price - t.entry_price) - fee(t.size, t.entry_price)
                     - fee(t.size, t.exit_price) for t in self.closed_trades)
        held = sum(t.size * (close - t.entry_price) - fee(t.size, t.entry_price) for t in self.trades)
        return CASH + closed + held

    def _act(self, action: int) -> None:
        """0-3: market, limit, stop, stop-limit order; 4: close part of a trade; 5: close the position;
        6: move or remove a stop-loss or take-profit; 7: cancel an order."""
        rng, trades, orders = self.rng, self.trades, self.orders
        if action <= 3:
            self._place(limit=action in (1, 3), stop=action in (2, 3))
        elif action == 4 and trades:
            trades[rng.integers(len(trades))].close(float(rng.uniform(0.05, 1)))
        elif action == 5:
            self.position.close()
        elif action == 6 and trades:
            trade = trades[rng.integers(len(trades))]
            price = self.data.Close[-1] * (1 + rng.uniform(-0.06, 0.06))
            setattr(trade, "sl" if rng.random() < 0.5 else "tp", None if rng.random() < 0.2 else price)
        elif action == 7 and orders:
            orders[rng.integers(len(orders))].cancel()

    def _place(self, *, limit: bool, stop: bool) -> None:
        rng, close = self.rng, self.data.Close[-1]
        sign = 1 if rng.random() < 0.5 else -1
        size = float(rng.uniform(0.05, 0.95)) if rng.random() < 0.5 else int(rng.integers(1, 40))
        kwargs: dict[str, Any] = {"size": size}
        if stop:
            kwargs["stop"] = close * (1 + sign * rng.uniform(0, 0.04))
        if limit:  # a stop-limit's limit mostly lies past its stop
            base = kwargs.get("stop", close)
            kwargs["limit"] = base * (1 + rng.uniform(-0.04, 0.04) + (sign * 0.03 if stop else 0))
        reference = kwargs.get("limit") or kwargs.get("stop") or close * (1 + sign * self.spread)
        if rng.random() < 0.4:
            kwargs["sl"] = reference * (1 - sign * rng.uniform(0.005, 0.06))
        if rng.random() < 0.4:
            kwargs["tp"] = reference * (1 + sign * rng.uniform(0.005, 0.06))
        (self.buy if sign > 0 else self.sell)(**kwargs)


PER_UNIT = 0.01


def fee_function(fees: float | str) -> Callable[[float, float], float]:
    """The fee of a fill, done here again: a relative rate, or 0.01 a unit."""
    if fees == "per-unit":
        return lambda size, price: PER_UNIT * abs(size)
    return lambda size, price: fees * abs(size) * price


def commission(fees: float | str) -> Any:
    """The same fee as Backtest's ``commission``."""
    return (lambda size, price: PER_UNIT * abs(size)) if fees == "per-unit" else fees


_options = st.fixed_dictionaries({
    "spread": st.sampled_from([0.0, 0.002]),
    "margin": st.sampled_from([1.0, 0.5, 0.05]),
    "trade_on_close": st.booleans(),
    "hedging": st.booleans(),
    "exclusive_orders": st.booleans(),
    "finalize_trades": st.booleans(),
})
_fees = st.sampled_from([0.0, 0.002, "per-unit"])


def run(data: pd.DataFrame, seed: int, fees: float | str, actions: tuple[int, ...] = RandomOrders.actions,
        **options: Any) -> pd.Series:
    with warnings.catch_warnings():
        # margin cancellations, brackets deferred past an entry bar, trades left open: all expected here
        warnings.simplefilter("ignore", UserWarning)
        backtest = Backtest(data, RandomOrders, commission=options.pop("commission", commission(fees)),
                            **options)
        return backtest.run(seed=seed, spread=options.get("spread", 0.0), fees=fees, actions=actions)


def assert_fills_were_traded(stats: pd.Series, data: pd.DataFrame) -> None:
    """Every fill (entry price before the spread, exit price) lies in its bar's [Low, High]: a fill
    after a gap is at the Open, which the bar traded too."""
    strategy, spread = stats["_strategy"], stats["_strategy"].spread
    fills = []
    for trade in (*strategy.closed_trades, *strategy.trades):
        fills.append((trade.entry_bar, trade.entry_price / (1 + np.sign(trade.size) * spread)))
        if trade.exit_bar is not None:
            fills.append((trade.exit_bar, trade.exit_price))
    low, high = data["Low"].to_numpy(), data["High"].to_numpy()
    for bar, price in fills:
        assert low[bar] - 1e-9 <= price <= high[bar] + 1e-9, (bar, price)


# --- the properties ------------------------------------------------------------------------------


@settings(max_examples=150, **SETTINGS)
@given(data=ohlc_frames(), seed=st.integers(0, 2**32 - 1), fees=_fees, options=_options)
def test_random_orders_keep_the_books(data, seed, fees, options):
    before = data.copy(deep=True)
    stats = run(data, seed, fees, **options)
    strategy = stats["_strategy"]

    assert_fills_were_traded(stats, data)

    # on every bar, equity == cash + open trades at the Close, as the strategy saw it and as recorded
    # (but for the last bar's exit fees when finalize_trades closes the trades after the last next())
    curve = stats["_equity_curve"]["Equity"].to_numpy()
    for bar, (equity, recomputed) in strategy.books.items():
        assert equity == pytest.approx(recomputed, rel=1e-9, abs=1e-6)
        if bar < len(data) - 1 or not options["finalize_trades"]:
            assert curve[bar] == pytest.approx(equity, rel=1e-9, abs=1e-6)

    # the closed trades' P/L (fees included) adds up to the change in equity, once all are closed
    trades = stats["_trades"]
    ruined = curve[-1] == 0
    if options["finalize_trades"] and not ruined:
        assert trades["PnL"].sum() == pytest.approx(curve[-1] - CASH, rel=1e-9, abs=1e-6)
    if ruined:
        assert trades["PnL"].sum() <= -CASH + 1e-6  # the trades lost at least all the cash
    assert stats.get("Commissions [$]", 0.0) == pytest.approx(trades["Commission"].sum(), abs=1e-9)

    pd.testing.assert_frame_equal(data, before)  # the caller's frame is untouched


@settings(max_examples=100, **SETTINGS)
@given(data=ohlc_frames(), seed=st.integers(0, 2**32 - 1), hedging=st.booleans())
def test_pending_orders_fill_at_prices_the_bar_traded(data, seed, hedging):
    # limit, stop and stop-limit orders (twice as many), and brackets moved about
    stats = run(data, seed, 0.0, actions=(1, 2, 3, 3, 6), hedging=hedging, finalize_trades=True)
    assert_fills_were_traded(stats, data)


@settings(max_examples=100, **SETTINGS)
@given(data=ohlc_frames(), seed=st.integers(0, 2**32 - 1), fixed=st.sampled_from([1.0, 2.5]),
       relative_fee=st.sampled_from([0.0, 0.001]), hedging=st.booleans())
def test_fixed_fees_are_attributed_exactly(data, seed, fixed, relative_fee, hedging):
    # with a fixed fee per fill, partial closes must still pass on every cent of the entry fee
    stats = run(data, seed, 0.0, commission=(fixed, relative_fee), hedging=hedging, finalize_trades=True)
    curve, trades = stats["_equity_curve"]["Equity"].to_numpy(), stats["_trades"]
    if curve[-1] != 0:  # not ruined
        assert trades["PnL"].sum() == pytest.approx(curve[-1] - CASH, rel=1e-12, abs=1e-8)


@settings(max_examples=30, **SETTINGS)
@given(data=ohlc_frames(), seed=st.integers(0, 2**32 - 1), fees=_fees, options=_options)
def test_results_are_deterministic(data, seed, fees, options):
    first = run(data, seed, fees, **options)
    second = run(data, seed, fees, **options)
    pd.testing.assert_frame_equal(first["_trades"], second["_trades"])
    pd.testing.assert_frame_equal(first["_equity_curve"], second["_equity_curve"])
    public = [key for key in first.index if not key.startswith("_")]
    pd.testing.assert_series_equal(first[public], second[public])
