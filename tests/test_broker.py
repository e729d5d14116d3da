"""The broker's rules, each on a hand-made frame of 3-6 bars with the fills worked out in a comment.

``next()`` runs from bar 1 (no indicators), so an order placed on bar ``i`` is matched on bar
``i + 1``. Unless a test says otherwise the run uses ``finalize_trades=True``: trades still open
after the last bar close at its Close (99 on ``FRAME``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy

Action = Callable[[Strategy], Any]


def bars(*rows: tuple[float, float, float, float]) -> pd.DataFrame:
    """A daily frame from (Open, High, Low, Close) rows."""
    index = pd.date_range("2024-01-01", periods=len(rows), freq="D")
    return pd.DataFrame(rows, index=index, columns=["Open", "High", "Low", "Close"], dtype=float)


#          Open  High  Low  Close
FRAME = bars(
    (100, 101, 99, 100),  # 0: next() does not run here
    (100, 102, 98, 101),  # 1
    (102, 106, 101, 105),  # 2
    (105, 107, 96, 97),  # 3
    (98, 100, 95, 99),  # 4: trades left open close at 99 with finalize_trades
)
GAPS = bars(
    (100, 101, 99, 100),
    (100, 102, 99, 101),
    (101, 103, 100, 102),
    (95, 96, 94, 95),  # 3: gaps down, opening 7 below bar 2's close
    (110, 112, 109, 111),  # 4: gaps up, opening 15 above bar 3's close
)
CRASH = bars(
    (100, 101, 99, 100),
    (100, 102, 98, 101),
    (102, 106, 101, 105),
    (104, 104, 88, 90),  # 3: falls 15
    (91, 95, 90, 94),
)


def scripted(actions: dict[int, Action]) -> type[Strategy]:
    """A strategy doing ``actions[bar](self)`` on the bars listed."""

    class Scripted(Strategy):
        def next(self) -> None:
            action = actions.get(len(self.data) - 1)
            if action is not None:
                action(self)

    return Scripted


def run(actions: dict[int, Action], data: pd.DataFrame = FRAME, *, finalize_trades: bool = True,
        **kwargs: Any) -> pd.Series:
    return Backtest(data, scripted(actions), finalize_trades=finalize_trades, **kwargs).run()


def buy(**kwargs: Any) -> Action:
    return lambda strategy: strategy.buy(**kwargs)


def sell(**kwargs: Any) -> Action:
    return lambda strategy: strategy.sell(**kwargs)


def close(trade: int = 0, portion: float = 1.0) -> Action:
    return lambda strategy: strategy.trades[trade].close(portion)


FILL_COLUMNS = ["Size", "EntryBar", "ExitBar", "EntryPrice", "ExitPrice"]


def assert_fills(stats: pd.Series, *expected: tuple[float, float, float, float, float]) -> None:
    """The closed trades' (Size, EntryBar, ExitBar, EntryPrice, ExitPrice), in the ``_trades`` order."""
    actual = stats["_trades"][FILL_COLUMNS].to_numpy(dtype=float)
    np.testing.assert_allclose(actual, np.array(expected, dtype=float).reshape(-1, 5), rtol=1e-12)


def equity(stats: pd.Series) -> list[float]:
    return stats["_equity_curve"]["Equity"].tolist()


def pnl(stats: pd.Series) -> list[float]:
    return stats["_trades"]["PnL"].tolist()


def commissions(stats: pd.Series) -> list[float]:
    return stats["_trades"]["Commission"].tolist()


# --- market orders -------------------------------------------------------------------------------


def test_market_buy_fills_at_next_open():
    stats = run({1: buy(size=10)})
    # placed on bar 1, filled at bar 2's open (102); finalize closes it at bar 4's close (99)
    assert_fills(stats, (10, 2, 4, 102, 99))
    assert pnl(stats) == pytest.approx([-30])  # 10 * (99 - 102)
    # equity = 10_000 + 10 * (Close - 102) from bar 2: 10_030, 9_950, 9_970
    assert equity(stats) == pytest.approx([10_000, 10_000, 10_030, 9_950, 9_970])


def test_market_sell_fills_at_next_open():
    stats = run({1: sell(size=10)})
    assert_fills(stats, (-10, 2, 4, 102, 99))
    assert pnl(stats) == pytest.approx([30])  # -10 * (99 - 102)
    # equity = 10_000 - 10 * (Close - 102): 9_970, 10_050, 10_030
    assert equity(stats) == pytest.approx([10_000, 10_000, 9_970, 10_050, 10_030])


def test_order_placed_on_the_last_bar_is_never_filled():
    stats = run({4: buy(size=10)})  # there is no bar 5 to fill it on
    assert stats["# Trades"] == 0
    assert equity(stats) == pytest.approx([10_000] * 5)


# --- limit, stop and stop-limit orders -----------------------------------------------------------


@pytest.mark.parametrize(
    "order, expected",
    [
        # bar 2's low (101) equals the limit: fills at min(Open 102, 101) = 101
        (buy(size=10, limit=101), (10, 2, 4, 101, 99)),
        # bar 2 opens at 102, already better than the limit 104: fills at the open
        (buy(size=10, limit=104), (10, 2, 4, 102, 99)),
        # bar 2's low 101 > 100; bar 3's low 96 <= 100 and it opens at 105: fills at 100 on bar 3
        (buy(size=10, limit=100), (10, 3, 4, 100, 99)),
        # sell limit: bar 2's high (106) equals the limit: fills at max(Open 102, 106) = 106
        (sell(size=10, limit=106), (-10, 2, 4, 106, 99)),
        # sell limit below bar 2's open: fills at the better open, 102
        (sell(size=10, limit=100), (-10, 2, 4, 102, 99)),
    ],
    ids=["low-equals-limit", "open-better-than-limit", "waits-for-bar-3", "sell-high-equals-limit",
         "sell-open-better"],
)
def test_limit_orders(order, expected):
    assert_fills(run({1: order}), expected)


@pytest.mark.parametrize(
    "actions, expected",
    [
        # bar 2's high (106) equals the stop: triggers, fills at max(Open 102, 106) = 106
        ({1: buy(size=10, stop=106)}, (10, 2, 4, 106, 99)),
        # bar 2 opens at 102, beyond the stop 101: fills at the open
        ({1: buy(size=10, stop=101)}, (10, 2, 4, 102, 99)),
        # sell stop placed on bar 2: bar 3's low 96 <= 97, opens at 105: fills at 97
        ({2: sell(size=10, stop=97)}, (-10, 3, 4, 97, 99)),
        # sell stop placed on bar 3: bar 4 opens at 98, below the stop 99: fills at the open, 98
        ({3: sell(size=10, stop=99)}, (-10, 4, 4, 98, 99)),
    ],
    ids=["high-equals-stop", "gap-past-stop", "sell-stop", "sell-gap-past-stop"],
)
def test_stop_orders(actions, expected):
    assert_fills(run(actions), expected)


def test_stop_never_reached_stays_pending_and_is_dropped_at_the_end():
    seen = []
    stats = run({1: buy(size=10, stop=108), 4: lambda s: seen.append(s.orders)})
    # the highest high is 107 < 108: never triggers; finalize drops the pending order
    assert len(seen[0]) == 1 and seen[0][0].stop == 108
    assert stats["# Trades"] == 0
    assert equity(stats) == pytest.approx([10_000] * 5)


@pytest.mark.parametrize(
    "actions, expected",
    [
        # bar 2 opens at 102 < stop 104, reaches 104: the limit 105 allows 104
        ({1: buy(size=10, stop=104, limit=105)}, (10, 2, 4, 104, 99)),
        # gap: bar 2 opens at 102 past the stop 101, above the limit 101.5; its low 101 reaches the
        # limit: fills at 101.5 (backtesting.py fills at the stop, 101, a price bar 2 never traded)
        ({1: buy(size=10, stop=101, limit=101.5)}, (10, 2, 4, 101.5, 99)),
        # gap with the open inside the limit: bar 2 opens at 102 past the stop 101, limit 103: the open
        ({1: buy(size=10, stop=101, limit=103)}, (10, 2, 4, 102, 99)),
        # the limit 103 lies below the stop 104: bar 2 triggers at 104 without a gap, but whether it
        # came back to 103 afterwards is unknown, so the limit waits: bar 3 opens at 105, low 96 → 103
        ({1: buy(size=10, stop=104, limit=103)}, (10, 3, 4, 103, 99)),
        # sell stop-limit with a gap: bar 4 opens at 98 below the stop 99 and the limit 98.5; its high
        # 100 reaches the limit: fills at 98.5
        ({3: sell(size=10, stop=99, limit=98.5)}, (-10, 4, 4, 98.5, 99)),
    ],
    ids=["normal", "gap-limit-reached", "gap-open-inside-limit", "waits-for-next-bar", "sell-gap"],
)
def test_stop_limit_orders(actions, expected):
    assert_fills(run(actions), expected)


def test_triggered_stop_limit_waits_even_when_another_entry_fills():
    stats = run({1: lambda s: (s.buy(size=5, sl=90), s.buy(size=10, stop=104, limit=103))})
    # as in the waits-for-next-bar case above: the stop 104 triggers on bar 2 without a gap, so the
    # limit 103 waits for bar 3 (fills at 103); the market buy of 5 at 102 with its SL 90 changes nothing
    assert_fills(stats, (5, 2, 4, 102, 99), (10, 3, 4, 103, 99))


def test_triggered_stop_limit_becomes_a_limit_order():
    seen = []
    run({1: buy(size=10, stop=104, limit=103), 2: lambda s: seen.append(s.orders)})
    # after bar 2 triggered the stop, the order still waits, now as a plain limit order at 103
    (order,) = seen[0]
    assert (order.stop, order.limit) == (None, 103)


# --- stop-loss and take-profit -------------------------------------------------------------------


def test_stop_loss_is_checked_before_take_profit_in_a_bar():
    stats = run({1: buy(size=10, sl=100, tp=106.5)})
    # entry at bar 2's open 102; bar 2 (101..106) reaches neither; bar 3 (96..107) reaches both:
    # the stop-loss wins, filling at min(Open 105, 100) = 100
    assert_fills(stats, (10, 2, 3, 102, 100))
    assert pnl(stats) == pytest.approx([-20])  # 10 * (100 - 102)
    assert stats["_trades"][["SL", "TP"]].to_numpy(dtype=float).tolist() == [[100, 106.5]]


def test_take_profit_alone():
    stats = run({1: buy(size=10, tp=106.5)})
    # bar 3 opens at 105 and reaches 107 >= 106.5: fills at the limit, 106.5
    assert_fills(stats, (10, 2, 3, 102, 106.5))
    assert pnl(stats) == pytest.approx([45])  # 10 * 4.5


@pytest.mark.parametrize(
    "order, expected",
    [
        # long from bar 2's open 101 with SL 99: bar 3 opens at 95, below the stop: fills at 95
        (buy(size=10, sl=99), (10, 2, 3, 101, 95)),
        # long from 101 with TP 108: bar 4 opens at 110, above the limit: fills at the better 110
        (buy(size=10, tp=108), (10, 2, 4, 101, 110)),
        # short from 101 with SL 105: bar 4 opens at 110, above the stop: fills at 110
        (sell(size=10, sl=105), (-10, 2, 4, 101, 110)),
    ],
    ids=["long-sl", "long-tp", "short-sl"],
)
def test_stop_loss_and_take_profit_on_a_gap_fill_at_the_open(order, expected):
    assert_fills(run({1: order}, GAPS), expected)


@pytest.mark.parametrize(
    "order, exit_price",
    [
        (buy(size=10, sl=100.5), 100.5),  # bar 2 (100..103) reaches the SL: min(Open 101, 100.5)
        (buy(size=10, tp=102.5), 102.5),  # bar 2 reaches the TP: max(Open 101, 102.5)
    ],
    ids=["sl", "tp"],
)
def test_market_entry_stop_loss_and_take_profit_match_on_the_entry_bar(order, exit_price):
    stats = run({1: order}, GAPS)  # no warning: a market entry fills at the open, before the bar trades
    assert_fills(stats, (10, 2, 2, 101, exit_price))


ENTRY = bars(
    (100, 101, 99, 100),
    (100, 101, 99, 100),  # 1: the orders are placed
    (100, 106, 99.5, 105),  # 2: the entry bar
    (105, 105.5, 103, 104),  # 3
    (100, 101, 99, 100),  # 4
)


@pytest.mark.parametrize(
    "order, expected",
    [
        # buy stop 102: bar 2 rose from 100 through 102 (the fill) and on to 106, so it traded 104 after
        # the fill: the TP fills on bar 2 at 104
        (buy(size=10, stop=102, tp=104), (10, 2, 2, 102, 104)),
        # buy limit 99.8: bar 2 fell from 100 through 99.8 (the fill) on to 99.5: the SL 99.6 fills
        (buy(size=10, limit=99.8, sl=99.6), (10, 2, 2, 99.8, 99.6)),
        # buy limit 99.8: after the fill bar 2 also went on to its close 105, through the TP 103
        (buy(size=10, limit=99.8, tp=103), (10, 2, 2, 99.8, 103)),
        # buy limit 101: bar 2 opens at 100, below the limit: filled at the open, the whole bar came
        # after: the TP fills at 104, as a market entry's would
        (buy(size=10, limit=101, tp=104), (10, 2, 2, 100, 104)),
        # sell stop 99.8: bar 2 fell through 99.8 (the fill), then closed at 105, through the SL 100.5
        (sell(size=10, stop=99.8, sl=100.5), (-10, 2, 2, 99.8, 100.5)),
    ],
    ids=["stop-tp-up-to-the-high", "limit-sl-down-to-the-low", "limit-tp-to-the-close", "limit-at-the-open",
         "stop-sl-to-the-close"],
)
def test_stop_and_limit_entry_brackets_proven_after_the_fill_fill_on_the_entry_bar(order, expected):
    assert_fills(run({1: order}, ENTRY), expected)


@pytest.mark.parametrize(
    "order, expected",
    [
        # buy stop 102: bar 2 traded 101 (99.5..106), but perhaps only before it rose to 102 (it closed
        # at 105): the SL waits; bar 3 stays above it (low 103), bar 4 opens at 100 below it: fills at 100
        (buy(size=10, stop=102, sl=101), (10, 2, 4, 102, 100)),
        # the same SL with a TP of 104 that bar 2 did trade after the fill: which came first is unknown,
        # so both wait; bar 3 opens at 105, above the TP: fills at the open
        (buy(size=10, stop=102, sl=101, tp=104), (10, 2, 3, 102, 105)),
        # sell limit 103: bar 2 rose through 103 (the fill) to 106 and closed at 105; whether it came
        # back to the TP 101 afterwards is unknown: bar 4 opens at 100, below it: fills at 100
        (sell(size=10, limit=103, tp=101), (-10, 2, 4, 103, 100)),
    ],
    ids=["stop-sl", "stop-sl-and-tp", "limit-tp"],
)
def test_stop_and_limit_entry_brackets_maybe_before_the_fill_wait_with_a_warning(order, expected):
    with pytest.warns(UserWarning, match=r"would execute in the same bar as its stop/limit entry"):
        stats = run({1: order}, ENTRY)
    assert_fills(stats, expected)


def test_deferred_bracket_stays_deferred_when_another_entry_fills():
    with pytest.warns(UserWarning, match=r"would execute in the same bar as its stop/limit entry"):
        stats = run({1: lambda s: (s.buy(size=10, stop=104, sl=101.5), s.buy(size=5, sl=90))})
    # the stop entry fills at 104 on bar 2 (102..106, low 101): whether the low came after it is
    # unknown, so its SL 101.5 waits for bar 3 (fills at 101.5 there); the market buy of 5 at 102
    # (SL 90, never reached) closes at the end at 99
    assert_fills(stats, (10, 2, 3, 104, 101.5), (5, 2, 4, 102, 99))


def test_limit_entry_bracket_outside_the_entry_bar_does_not_warn():
    stats = run({1: buy(size=10, limit=103, sl=100)})
    # SL 100 is below bar 2's low 101: no warning; bar 3 (opens 105, low 96) fills it at 100
    assert_fills(stats, (10, 2, 3, 102, 100))


def test_moving_the_stop_loss():
    stats = run({1: buy(size=10, sl=90), 2: lambda s: setattr(s.trades[0], "sl", 100)})
    # moved from 90 to 100 on bar 2; bar 3 opens 105, low 96: fills at 100
    assert_fills(stats, (10, 2, 3, 102, 100))
    assert stats["_trades"]["SL"].tolist() == [100]


def test_removing_the_stop_loss():
    seen = []

    def remove(strategy: Strategy) -> None:
        strategy.trades[0].sl = None
        seen.append((strategy.trades[0].sl, strategy.orders))

    stats = run({1: buy(size=10, sl=100), 2: remove})
    assert seen == [(None, ())]  # no stop-loss order is left
    # without the stop-loss bar 3's low 96 closes nothing; finalize closes at 99
    assert_fills(stats, (10, 2, 4, 102, 99))
    assert pd.isna(stats["_trades"]["SL"].iloc[0])


def test_setting_a_take_profit_on_an_open_trade():
    stats = run({1: buy(size=10), 2: lambda s: setattr(s.trades[0], "tp", 106.5)})
    # bar 3 opens at 105 and reaches 107: fills at 106.5
    assert_fills(stats, (10, 2, 3, 102, 106.5))
    assert stats["_trades"]["TP"].tolist() == [106.5]


def test_cancelling_the_stop_loss_order_removes_it_from_the_trade():
    seen = []

    def cancel(strategy: Strategy) -> None:
        (order,) = strategy.orders
        order.cancel()
        seen.append((strategy.trades[0].sl, strategy.orders))

    stats = run({1: buy(size=10, sl=100), 2: cancel})
    assert seen == [(None, ())]
    assert_fills(stats, (10, 2, 4, 102, 99))


# --- closing trades ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "portion, units",
    [
        (1.0, 10),
        (0.25, 2),  # round(2.5) = 2: half to even
        (0.35, 4),  # round(3.5) = 4: half to even
        (0.15, 2),  # round(1.5) = 2
        (0.04, 1),  # round(0.4) = 0, at least 1
    ],
)
def test_partial_close_rounds_half_to_even(portion, units):
    stats = run({1: buy(size=10), 2: close(portion=portion)})
    # the part closes at bar 3's open 105; the rest at the final close 99
    rest = [(10 - units, 2, 4, 102, 99)] if units < 10 else []
    assert_fills(stats, (units, 2, 3, 102, 105), *rest)
    assert pnl(stats) == pytest.approx([units * 3] + [(10 - units) * -3] * bool(rest))


@pytest.mark.parametrize("portion", [0, -0.5, 1.5])
def test_partial_close_portion_must_be_in_0_1(portion):
    with pytest.raises(ValueError) as raised:
        run({1: buy(size=10), 2: close(portion=portion)})
    message = f"The 'portion' parameter of Trade.close must be a number in (0, 1]. Got {portion} instead."
    assert str(raised.value) == message


def test_reducing_orders_close_the_oldest_trades_first():
    stats = run({1: buy(size=5), 2: buy(size=3), 3: sell(size=6)})
    # A: 5 @ 102 (bar 2), B: 3 @ 105 (bar 3); selling 6 at bar 4's open 98 closes A (5) and 1 of B
    assert_fills(stats, (5, 2, 4, 102, 98), (1, 3, 4, 105, 98), (2, 3, 4, 105, 99))
    assert pnl(stats) == pytest.approx([-20, -7, -12])  # 5*(98-102), 1*(98-105), 2*(99-105)
    assert stats["Equity Final [$]"] == pytest.approx(9_961)  # 10_000 - 39


def test_opposite_order_larger_than_the_position_reverses_it():
    stats = run({1: buy(size=5), 2: sell(size=8)})
    # bar 3's open 105: closes the 5 long (+15) and opens 3 short (99 at the end: -3*(99-105) = +18)
    assert_fills(stats, (5, 2, 3, 102, 105), (-3, 3, 4, 105, 99))
    assert pnl(stats) == pytest.approx([15, 18])


def test_position_close_closes_the_newest_trade_first():
    stats = run({1: buy(size=5), 2: buy(size=3), 3: lambda s: s.position.close()})
    # both close at bar 4's open 98, the newest (3 @ 105) first
    assert_fills(stats, (3, 3, 4, 105, 98), (5, 2, 4, 102, 98))


def test_closing_orders_go_ahead_of_new_orders():
    stats = run({1: buy(size=5), 2: lambda s: (s.sell(size=2), s.trades[0].close())})
    # placed after the sell, the close still fills first: the long closes at 105 (+15), then the
    # sell opens 2 short at 105 (at the end: -2*(99-105) = +12); in the other order it would only
    # have reduced the long
    assert_fills(stats, (5, 2, 3, 102, 105), (-2, 3, 4, 105, 99))


def test_hedging_keeps_opposite_trades_open():
    seen = []
    stats = run({1: buy(size=5), 2: sell(size=3), 3: lambda s: seen.append((s.position.size, len(s.trades)))},
                hedging=True)
    assert seen == [(2, 2)]  # 5 long and 3 short, both open
    # long 5 @ 102 and short 3 @ 105 close at 99: -15 and +18
    assert_fills(stats, (5, 2, 4, 102, 99), (-3, 3, 4, 105, 99))
    assert pnl(stats) == pytest.approx([-15, 18])


def test_exclusive_orders_close_every_trade_first():
    stats = run({1: buy(size=5), 2: sell(size=3)}, exclusive_orders=True)
    # the sell closes the whole long at bar 3's open 105 (+15) instead of reducing it, then opens 3 short
    assert_fills(stats, (5, 2, 3, 102, 105), (-3, 3, 4, 105, 99))


def test_exclusive_orders_cancel_pending_orders():
    seen = []
    stats = run({1: buy(size=5, limit=50), 2: lambda s: (s.buy(size=2), seen.append(s.orders))},
                exclusive_orders=True)
    assert [order.size for order in seen[0]] == [2]  # the pending limit order is gone
    assert_fills(stats, (2, 3, 4, 105, 99))


# --- spread and commission -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "order, entry, profit",
    [
        (buy(size=10), 103.02, -40.2),  # 102 * 1.01; 10 * (99 - 103.02)
        (sell(size=10), 100.98, 19.8),  # 102 * 0.99; -10 * (99 - 100.98)
        (buy(size=10, limit=101), 102.01, -30.1),  # the limit fill 101 * 1.01; 10 * (99 - 102.01)
    ],
    ids=["buy", "sell", "limit"],
)
def test_spread_is_paid_on_entry_only(order, entry, profit):
    stats = run({1: order}, spread=0.01)
    trade = stats["_trades"].iloc[0]
    assert trade["EntryPrice"] == pytest.approx(entry)
    assert trade["ExitPrice"] == 99  # exits fill at the unadjusted price
    assert trade["PnL"] == pytest.approx(profit)


@pytest.mark.parametrize(
    "commission, entry_fee, exit_fee",
    [
        (0.01, 10.2, 9.9),  # 1% of 10 * 102 and of 10 * 99
        ((2, 0.01), 12.2, 11.9),  # 2 + 1% per fill
        (lambda size, price: 0.5 * abs(size), 5.0, 5.0),  # 0.5 a unit
    ],
    ids=["relative", "fixed-and-relative", "callable"],
)
def test_commission_forms(commission, entry_fee, exit_fee):
    pls = []
    stats = run({1: buy(size=10), 2: lambda s: pls.append(s.trades[0].pl)}, commission=commission)
    assert pls == pytest.approx([30])  # an open trade's P/L leaves fees out: 10 * (105 - 102)
    assert commissions(stats) == pytest.approx([entry_fee + exit_fee])
    assert pnl(stats) == pytest.approx([-30 - entry_fee - exit_fee])
    assert stats["Commissions [$]"] == pytest.approx(entry_fee + exit_fee)
    # the entry fee leaves the cash at the fill (bar 2); bar 3 marks 10 * (97 - 102) = -50
    expected = [10_000, 10_000, 10_030 - entry_fee, 9_950 - entry_fee, 9_970 - entry_fee - exit_fee]
    assert equity(stats) == pytest.approx(expected)


def test_a_rebate_of_the_whole_price_cannot_size_a_share_of_the_margin():
    # fee -1 * 102 a unit: a unit costs 102 - 102 = 0, so "half the margin" is any number of units
    with pytest.raises(ValueError, match=r"makes a unit cost 0 .* <= 0") as raised:
        run({1: buy(size=0.5)}, commission=lambda size, price: -abs(size) * price)
    assert raised.value.__notes__ == [f"(raised on bar 2, {FRAME.index[2]})"]


def test_commission_is_charged_at_the_spread_adjusted_entry_price():
    stats = run({1: buy(size=10)}, spread=0.01, commission=0.01)
    # entry 103.02, fee 10.302; exit 99, fee 9.9; PnL 10 * (99 - 103.02) - 20.202 = -60.402
    assert commissions(stats) == pytest.approx([20.202])
    assert pnl(stats) == pytest.approx([-60.402])


def test_fixed_fee_of_a_partial_close_is_attributed_pro_rata():
    stats = run({1: buy(size=10), 2: close(portion=0.4)}, commission=(3, 0.0))
    # fees paid: 3 at the entry, 3 at the partial exit, 3 at the final exit = 9
    # the 4 closed first carry 4/10 of the entry fee: 1.2 + 3 = 4.2; the other 6: 1.8 + 3 = 4.8
    assert_fills(stats, (4, 2, 3, 102, 105), (6, 2, 4, 102, 99))
    assert commissions(stats) == pytest.approx([4.2, 4.8])
    assert sum(commissions(stats)) == pytest.approx(9)
    assert pnl(stats) == pytest.approx([12 - 4.2, -18 - 4.8])  # 4 * 3 - 4.2, 6 * -3 - 4.8
    # bar 3: 10_000 - 6 (two fees) + 12 (the 4 closed at 105) + 6 * (97 - 102) = 9_976
    assert equity(stats) == pytest.approx([10_000, 10_000, 10_027, 9_976, 9_985])


def test_relative_fee_of_a_partial_close_is_attributed_pro_rata():
    stats = run({1: buy(size=10), 2: close(portion=0.4)}, commission=0.01)
    # entry fee 10.2: 4.08 + exit 4 * 105 * 1% = 4.2 → 8.28; 6.12 + exit 6 * 99 * 1% = 5.94 → 12.06
    assert commissions(stats) == pytest.approx([8.28, 12.06])


# --- order size and margin -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, units",
    [
        ({}, 49),  # floor(10_000 * 0.5 / 102) = floor(49.02)
        ({"commission": 0.01}, 48),  # a unit costs 102 + 1.02: floor(5_000 / 103.02) = floor(48.53)
        ({"spread": 0.01}, 48),  # a unit costs 102 * 1.01 = 103.02: 48
        ({"commission": (100, 0.01)}, 47),  # the fixed fee once: floor((5_000 - 100) / 103.02) = 47.56
        ({"margin": 0.1}, 490),  # 10x leverage: floor(100_000 * 0.5 / 102) = floor(490.2)
    ],
    ids=["plain", "relative-fee", "spread", "fixed-fee", "leverage"],
)
def test_fractional_size_is_a_share_of_available_margin(kwargs, units):
    stats = run({1: buy(size=0.5)}, **kwargs)
    assert stats["_trades"]["Size"].tolist() == [units]


def test_fractional_size_counts_the_margin_open_trades_use():
    stats = run({1: buy(size=20), 2: buy(size=0.5)})
    # at bar 3 (the fill, open 105, close 97): equity 10_000 + 20 * (97 - 102) = 9_900, used margin
    # 20 * 97 = 1_940, available 7_960: floor(7_960 * 0.5 / 105) = floor(37.9) = 37
    assert_fills(stats, (20, 2, 4, 102, 99), (37, 3, 4, 105, 99))


def test_default_size_buys_all_it_can():
    stats = run({1: buy()})
    assert stats["_trades"]["Size"].tolist() == [98]  # floor(10_000 / 102) = floor(98.04)


def test_relative_size_worth_no_unit_is_cancelled_with_a_warning():
    # floor(100 * 0.5 / 102) = 0 units
    with pytest.warns(UserWarning, match=r"cancelled the relative-sized order due to insufficient margin"):
        stats = run({1: buy(size=0.5)}, cash=100)
    assert stats["# Trades"] == 0


@pytest.mark.parametrize(
    "units, kwargs, fills",
    [
        (98, {}, True),  # 98 * 102 = 9_996 <= 10_000
        (99, {}, False),  # 99 * 102 = 10_098 > 10_000
        (98, {"commission": (4, 0.0)}, True),  # 9_996 + 4 = 10_000, not more than 10_000
        (98, {"commission": (5, 0.0)}, False),  # 9_996 + 5 = 10_001 > 10_000
        (980, {"margin": 0.1}, True),  # 980 * 102 = 99_960 <= 10x 10_000
        (981, {"margin": 0.1}, False),  # 981 * 102 = 100_062 > 100_000
    ],
)
def test_whole_unit_order_beyond_the_margin_is_cancelled_with_a_warning(units, kwargs, fills):
    if fills:
        stats = run({1: buy(size=units)}, **kwargs)
        assert stats["_trades"]["Size"].tolist() == [units]
    else:
        with pytest.warns(UserWarning, match=r"cancelled the order due to insufficient margin"):
            stats = run({1: buy(size=units)}, **kwargs)
        assert stats["# Trades"] == 0


def test_leverage_marks_the_whole_position():
    stats = run({1: buy(size=900)}, margin=0.1)
    # 900 * 102 = 91_800 on 10_000 of equity; equity = 10_000 + 900 * (Close - 102)
    assert equity(stats) == pytest.approx([10_000, 10_000, 12_700, 5_500, 7_300])


def test_running_out_of_money_closes_everything_and_stops():
    stats = run({1: buy(size=950), 2: buy(size=10, limit=50)}, CRASH, margin=0.1,
                finalize_trades=False)
    # bar 2: 10_000 + 950 * 3 = 12_850; bar 3 closes at 90: 10_000 + 950 * -12 = -1_400 <= 0, so the
    # trade closes at 90 (PnL -11_400), equity is 0 from bar 3 on and no warning about open trades
    assert_fills(stats, (950, 2, 3, 102, 90))
    assert pnl(stats) == pytest.approx([-11_400])
    assert equity(stats) == pytest.approx([10_000, 10_000, 12_850, 0, 0])
    assert stats["Equity Final [$]"] == 0


def test_next_is_not_called_after_running_out_of_money():
    seen = []

    class Ruined(Strategy):
        def next(self) -> None:
            seen.append(len(self.data) - 1)
            if len(self.data) == 2:
                self.buy(size=950)

    Backtest(CRASH, Ruined, margin=0.1).run()
    assert seen == [1, 2]  # the run stops on bar 3, where the money ran out


# --- trade_on_close and the end of the data ------------------------------------------------------


def test_trade_on_close_fills_market_orders_at_the_order_bars_close():
    stats = run({1: buy(size=10)}, trade_on_close=True)
    # filled at bar 1's close 101, entry bar 1; equity = 10_000 + 10 * (Close - 101)
    assert_fills(stats, (10, 1, 4, 101, 99))
    assert equity(stats) == pytest.approx([10_000, 10_000, 10_040, 9_960, 9_980])


def test_trade_on_close_also_closes_at_the_close():
    stats = run({1: buy(size=10), 2: close()}, trade_on_close=True)
    assert_fills(stats, (10, 1, 2, 101, 105))  # in at bar 1's close, out at bar 2's close


def test_trade_on_close_leaves_limit_orders_alone():
    stats = run({1: buy(size=10, limit=101)}, trade_on_close=True)
    assert_fills(stats, (10, 2, 4, 101, 99))  # still matched on bar 2: low 101 reaches the limit


def test_finalize_closes_at_the_last_close_not_the_last_open():
    stats = run({1: buy(size=10)})
    # backtesting.py closes at the last open (98); the trade is still held through bar 4, so its close
    # (99) is the price it is worth
    assert stats["_trades"]["ExitPrice"].tolist() == [99]
    assert stats["Equity Final [$]"] == pytest.approx(9_970)  # 10_000 + 10 * (99 - 102)


def test_without_finalize_open_trades_warn_and_are_left_out():
    with pytest.warns(UserWarning, match=r"^Some trades remain open at the end of backtest"):
        stats = run({1: buy(size=10)}, finalize_trades=False)
    assert stats["# Trades"] == 0
    assert stats["Equity Final [$]"] == pytest.approx(9_970)  # still marked at the last close


def test_equity_seen_in_next_matches_the_equity_curve():
    seen = []

    class Watcher(Strategy):
        def next(self) -> None:
            seen.append(self.equity)
            if len(self.data) == 2:
                self.buy(size=10, sl=96.5)
            if len(self.data) == 3:
                self.trades[0].close(0.3)

    stats = Backtest(FRAME, Watcher, commission=(1, 0.01), spread=0.001).run()
    assert seen == pytest.approx(equity(stats)[1:])


# --- rules where backtestkit differs from backtesting.py (see doc/differences.md) ----------------


def test_stop_limit_with_the_limit_at_the_stop_fills_when_the_stop_triggers():
    stats = run({1: buy(size=10, stop=104, limit=104)})
    # bar 2 (102..106) rises through 104: the stop triggers at 104, where the limit allows a fill
    assert_fills(stats, (10, 2, 4, 104, 99))


def test_orders_placed_in_init_are_checked_against_the_last_close_and_fill_on_the_first_bar():
    class FromInit(Strategy):
        def init(self) -> None:
            # init() sees the whole data: Close[-1] is the last close, 120 (bar 0's close is 100)
            self.buy(size=10, sl=self.data.Close[-1] * 0.9)

    data = bars((100, 101, 99, 100), (115, 118, 114, 116), (116, 119, 115, 118), (118, 121, 117, 120))
    stats = Backtest(data, FromInit, commission=0.01, finalize_trades=True).run()
    # the SL 108 lies below the last close 120: accepted. Matched on bar 1, the first bar next() runs
    # on: fills at its open 115 (fee 11.5); closed at the last close 120 (fee 12)
    assert_fills(stats, (10, 1, 3, 115, 120))
    assert pnl(stats) == pytest.approx([50 - 23.5])
    # bar 0 closes before the fill: the starting cash; then 10_000 - 11.5 + 10 * (Close - 115)
    assert equity(stats) == pytest.approx([10_000, 9_998.5, 10_018.5, 10_026.5])


def test_running_out_of_money_closes_every_open_trade():
    data = bars((100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (60, 60, 44, 45),
                (100, 101, 99, 100))
    stats = run({1: lambda s: (s.buy(size=50), s.buy(size=150))}, data, margin=0.5, finalize_trades=False)
    # 200 units at bar 2's open 100 on 10_000 of equity (margin 0.5: 20_000 of buying power); bar 3
    # closes at 45: 10_000 + 200 * (45 - 100) = -1_000 <= 0, so both trades close at 45
    assert_fills(stats, (50, 2, 3, 100, 45), (150, 2, 3, 100, 45))
    assert pnl(stats) == pytest.approx([-2_750, -8_250])  # 50 * -55, 150 * -55
    assert equity(stats) == pytest.approx([10_000, 10_000, 10_000, 0, 0])


def test_exclusive_orders_placed_together_keep_only_the_last():
    seen = []
    stats = run({1: buy(size=5), 2: lambda s: (s.sell(size=5, limit=104), s.sell(size=5, limit=150),
                                               seen.append([o.limit for o in s.orders]))},
                exclusive_orders=True)
    # the second sell cancels the first; the long closes at bar 3's open 105 and the limit at 150 never fills
    assert seen == [[None, 150]]  # the order closing the long, and the last sell
    assert_fills(stats, (5, 2, 3, 102, 105))


# --- the equity curve ----------------------------------------------------------------------------


def test_equity_of_a_flat_account_is_its_cash_to_the_bit():
    data = bars((1.0, 1.01, 0.99, 1.0), (1.0, 1.01, 0.99, 1.0), (1.1, 1.25, 1.05, 1.2),
                (1.2, 1.21, 1.19, 1.2), (1.2, 1.21, 1.19, 1.2))
    stats = run({1: buy(size=9_000), 2: close()}, data)
    # in at bar 2's open 1.1, out at bar 3's open 1.2, bar 2's close: 10_000 + 9_000 * (1.2 - 1.1) on
    # bar 2 (marked at its close) and from bar 3 on (the cash), the same sum: 10_899.999999999998
    # (9_000 * 1.2 - 9_000 * 1.1, a difference of products, is 900.0 and would leave bar 2 a hair
    # higher than the cash, a drawdown of 2e-16 on every later bar)
    cash = 10_000 + 9_000 * (1.2 - 1.1)
    assert equity(stats) == [10_000, 10_000, cash, cash, cash]
    assert stats["Max. Drawdown [%]"] == 0  # the account never lost anything
    assert np.isnan(stats["Avg. Drawdown [%]"]) and pd.isna(stats["Max. Drawdown Duration"])
    assert stats["_equity_curve"]["DrawdownPct"].tolist() == [0] * 5
