"""Seeded random strategies, run through backtesting.py (the oracle) and backtestkit and compared.

A seed picks a slice of backtesting.py's GOOG, EURUSD or BTCUSD data, the Backtest options (cash,
spread, all three commission forms, margin, trade_on_close, hedging, exclusive_orders,
finalize_trades) and a strategy that, bar by bar, draws its actions from a generator seeded with
``(seed, bar)``: market, limit, stop and stop-limit entries with or without sl/tp, later sl/tp
changes, partial and whole closes, cancels, and sometimes an order from ``init()``. The same actions
run in both libraries as long as both have seen the same trades.

Each run is classified:

- ``identical``: same trades and every stats key (``tests._oracle.assert_same_stats``);
- ``documented``: the runs first part on a bar where one of doc/differences.md's situations occurs,
  found from the bar's prices and the orders and trades both libraries held before it (identical up
  to there): see ``DETECTORS``. A difference elsewhere is not explained by it;
- ``unexplained``: anything else, a bug in one of the two.

    python -m tests._random_strategies --seeds 5000          # counts; lists unexplained seeds
    python -m tests._random_strategies --show 1234           # one seed's options and first divergence
"""

from __future__ import annotations

import argparse
import random
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tests._oracle import ORACLE, OURS, Library, assert_same_stats, record, same_value

_DATA: dict[str, pd.DataFrame] = {}


def dataset(name: str) -> pd.DataFrame:
    if not _DATA:
        from backtesting.test import BTCUSD, EURUSD, GOOG

        _DATA.update(GOOG=GOOG, EURUSD=EURUSD, BTCUSD=BTCUSD)
    return _DATA[name]


def fee_per_unit(size: float, price: float) -> float:
    """A callable commission: 0.05 % of the value plus a cent a unit."""
    return abs(size) * (price * 0.0005 + 0.01)


# --- one seed's set-up ----------------------------------------------------------------------------


@dataclass
class Case:
    seed: int
    data_name: str
    start: int
    length: int
    options: dict[str, Any]
    vol: float  # median bar range over the close: the scale of the strategy's price offsets
    init_order: bool
    activity: float  # chance of an action on a bar
    data: pd.DataFrame = field(repr=False, default=None)  # type: ignore[assignment]


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    name = rng.choice(["GOOG", "EURUSD", "BTCUSD"])
    full = dataset(name)
    length = min(len(full), rng.randint(20, 250))
    start = rng.randint(0, len(full) - length)
    data = full.iloc[start:start + length]
    close0 = float(data.Close.iloc[0])
    commission = rng.choice([0.0, 0.0, rng.choice([0.001, 0.002, 0.0005]), (rng.choice([1, 5]), 0.001),
                             fee_per_unit])
    options = dict(
        cash=round(close0 * rng.choice([30, 200, 1000])) or 1000,
        commission=commission,
        spread=rng.choice([0.0, 0.0, 0.0002, 0.001]),
        margin=rng.choice([1.0, 1.0, 0.5, 0.1]),
        trade_on_close=rng.random() < 0.2,
        hedging=rng.random() < 0.3,
        exclusive_orders=rng.random() < 0.15,
        finalize_trades=rng.random() < 0.5,
    )
    vol = float(np.median((data.High - data.Low) / data.Close)) or 0.001
    init_order, activity = rng.random() < 0.1, rng.choice([0.2, 0.4, 0.7])
    return Case(seed, name, start, length, options, vol, init_order, activity, data)


# --- the strategy ---------------------------------------------------------------------------------


def snapshot(strategy: Any) -> tuple:
    """What the broker holds after ``next()``: the orders and trades the next bar is matched with."""
    orders = tuple((o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent,
                    None if o.parent_trade is None else o.parent_trade.entry_bar) for o in strategy.orders)
    trades = tuple((t.size, float(t.entry_price), t.entry_bar, t.sl, t.tp) for t in strategy.trades)
    return orders, trades


def random_strategy(case: Case) -> Callable[[Library], type]:
    def make(lib: Library) -> type:
        class RandomStrategy(lib.Strategy):
            def init(self):
                self.held = {}  # bar -> snapshot after next() (before the first bar: -1)
                self.actions = []  # (bar, kind): what it did, for a look at one seed
                self.kept = []  # (bar, orders an exclusive order left beside itself and the closes)
                self.errors = []
                if case.init_order:
                    rng = random.Random(case.seed * 7919)
                    act(self, rng, float(self.data.Close[-1]))
                self.held[-1] = snapshot(self)

            def next(self):
                bar = len(self.data) - 1
                rng = random.Random(case.seed * 1_000_003 + bar)
                close = float(self.data.Close[-1])
                while rng.random() < case.activity:
                    act(self, rng, close)
                self.held[bar] = snapshot(self)

        def act(self, rng: random.Random, close: float) -> None:
            kind = rng.choices(["entry", "sltp", "close", "position", "cancel"], [6, 2, 1.5, 0.7, 1.2])[0]
            self.actions.append((len(self.data) - 1, kind))
            try:
                if kind == "entry":
                    entry(self, rng, close)
                elif kind == "sltp" and self.trades:
                    trade = rng.choice(self.trades)
                    sign = 1 if trade.is_long else -1
                    if rng.random() < 0.6:
                        trade.sl = None if rng.random() < 0.15 else close * (1 - sign * offset(rng))
                    else:
                        trade.tp = None if rng.random() < 0.15 else close * (1 + sign * offset(rng))
                elif kind == "close" and self.trades:
                    rng.choice(self.trades).close(rng.choice([1.0, 1.0, 0.5, 0.3, 0.7]))
                elif kind == "position":
                    self.position.close(rng.choice([1.0, 0.5]))
                elif kind == "cancel" and self.orders:
                    order = rng.choice(self.orders)
                    self.actions.append(("cancelled", order.size, order.limit, order.stop))
                    order.cancel()
            except ValueError as error:  # e.g. sl/tp on the wrong side: both libraries must refuse
                self.errors.append((len(self.data), type(error).__name__))

        def offset(rng: random.Random) -> float:  # a relative price distance, < 0.5 so prices stay > 0
            return min(0.45, case.vol * rng.choice([0.3, 0.7, 1.0, 1.5, 3.0]) * rng.uniform(0.5, 1.5))

        def entry(self, rng: random.Random, close: float) -> None:
            sign = rng.choice([1, -1])
            if rng.random() < 0.5:
                size = rng.choice([0.1, 0.25, 0.5, 0.9999])
            else:
                units = case.options["cash"] / close / case.options["margin"] * rng.uniform(0.02, 0.4)
                size = max(1, int(units))
            order = rng.choices(["market", "limit", "stop", "stop-limit"], [4, 2, 2, 1.5])[0]
            kwargs: dict[str, Any] = {}
            reference = close
            if order == "limit":
                kwargs["limit"] = reference = close * (1 - sign * offset(rng))
            elif order in ("stop", "stop-limit"):
                kwargs["stop"] = reference = close * (1 + sign * offset(rng))
                if order == "stop-limit":
                    kwargs["limit"] = reference = kwargs["stop"] * (1 + sign * rng.choice(
                        [0.0, offset(rng) / 3, offset(rng) / 3, -offset(rng) / 3]))
            if rng.random() < 0.5:
                kwargs["sl"] = reference * (1 - sign * offset(rng))
            if rng.random() < 0.5:
                kwargs["tp"] = reference * (1 + sign * offset(rng))
            (self.buy if sign > 0 else self.sell)(size=size, **kwargs)
            if case.options["exclusive_orders"]:  # the new order alone, and the trades' closing orders
                kept = sum(not order.is_contingent for order in self.orders) - 1 - len(self.trades)
                self.kept.append((len(self.data) - 1, kept))

        return RandomStrategy

    return make


# --- running and comparing ------------------------------------------------------------------------


@dataclass
class Outcome:
    seed: int
    verdict: str  # identical, documented, unexplained
    reason: str = ""
    bar: int | None = None


def run_both(case: Case) -> tuple[Any, Any]:
    make = random_strategy(case)
    results = []
    for lib in (ORACLE, OURS):
        def call(lib=lib):
            return lib.Backtest(case.data.copy(), make(lib), **case.options).run()

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                results.append(record(call)[0])
            except Exception as error:  # noqa: BLE001 - a crash is an outcome to compare
                results.append(error)
    return results[0], results[1]


def first_divergence(expected: pd.Series, actual: pd.Series) -> int:
    """The first bar at which the two runs differ: in the equity curve, in the orders and trades held
    after the bar's ``next()``, or in a trade's record (at its exit)."""
    n = len(expected._equity_curve)
    bars = [n]
    eq_a, eq_e = actual._equity_curve.Equity.to_numpy(), expected._equity_curve.Equity.to_numpy()
    if len(eq_a) == len(eq_e):
        differs = ~np.isclose(eq_a, eq_e, rtol=1e-9, atol=1e-9)
        if differs.any():
            bars.append(int(differs.argmax()))
    held_a, held_e = actual._strategy.held, expected._strategy.held
    bars += [max(bar, 0) for bar in sorted(held_a.keys() | held_e.keys())
             if held_a.get(bar) != held_e.get(bar)][:1]
    key = ["EntryBar", "ExitBar", "Size", "EntryPrice", "ExitPrice", "Commission"]
    rows_a, rows_e = (stats._trades[key].to_numpy(float) for stats in (actual, expected))
    for rows, others in ((rows_a, rows_e), (rows_e, rows_a)):
        for row in rows:  # a trade with no equal in the other run: at its exit
            if not np.isclose(others, row, rtol=1e-9, atol=1e-9).all(axis=1).any():
                bars.append(int(row[1]))
    n_rows = min(len(rows_a), len(rows_e))  # the same trades, listed in another order: at their exit
    moved = ~np.isclose(rows_a[:n_rows], rows_e[:n_rows], rtol=1e-9, atol=1e-9).all(axis=1)
    if moved.any():
        row = int(moved.argmax())
        bars.append(int(min(rows_a[row, 1], rows_e[row, 1])))
    return min(bars)


def compare(seed: int) -> Outcome:
    case = make_case(seed)
    expected, actual = run_both(case)
    if isinstance(expected, Exception) or isinstance(actual, Exception):
        same = type(expected) is type(actual)
        return Outcome(seed, "identical" if same else "unexplained",
                       "" if same else f"raised: oracle {expected!r}, ours {actual!r}")
    try:
        assert_same_stats(actual, expected)
        if actual._strategy.errors != expected._strategy.errors:
            raise AssertionError("different orders refused")
        return Outcome(seed, "identical")
    except AssertionError as error:
        bar = first_divergence(expected, actual)
        reason = explain(case, bar, expected, actual)
        if reason is not None:
            return Outcome(seed, "documented", reason, bar)
        return Outcome(seed, "unexplained", str(error).splitlines()[0][:200], bar)


# --- documented situations, each looked for on the bar where the runs part ----------------------


@dataclass
class Context:
    """What the detectors see of the bar ``bar`` where two runs part."""

    case: Case
    bar: int
    orders: tuple  # pending when the bar was matched, in backtestkit (as in the oracle, up to there)
    trades: tuple
    oracle_orders: tuple  # the same in the oracle
    expected: pd.Series
    actual: pd.Series

    @property
    def prices(self) -> tuple[float, float, float, float]:
        row = self.case.data.iloc[self.bar]
        return float(row.Open), float(row.High), float(row.Low), float(row.Close)

    def entries(self) -> list[tuple]:
        return [order for order in self.orders if order[6] is None]


def _held(held: dict, bar: int) -> tuple:
    """Orders and trades held when ``bar`` was matched (those after the previous bar's next())."""
    before = [b for b in held if b < bar]
    return held[max(before)] if before else ((), ())


def entry_fill(order: tuple, open_: float, high: float, low: float) -> float | None:
    """The price backtestkit fills a new order at on a bar (doc/execution.md), or None."""
    size, limit, stop = order[:3]
    long = size > 0
    if stop is not None:
        if not (high >= stop if long else low <= stop):
            return None
        trigger = max(open_, stop) if long else min(open_, stop)
        if limit is None or (trigger <= limit if long else trigger >= limit):
            return trigger
        gapped = open_ > stop if long else open_ < stop
        return limit if gapped and (low <= limit if long else high >= limit) else None
    if limit is not None:
        if not (low <= limit if long else high >= limit):
            return None
        return min(open_, limit) if long else max(open_, limit)
    return open_


def reached(order: tuple, high: float, low: float) -> bool:
    """Whether the bar reaches the order's stop, or else its limit."""
    size, limit, stop = order[:3]
    price = stop if stop is not None else limit
    if price is None:
        return True
    buys_on_rise = (size > 0) == (stop is not None)
    return high >= price if buys_on_rise else low <= price


def stop_limit_gap(ctx: Context) -> bool:
    """differences.md 1: a stop-limit whose stop the bar gaps past."""
    open_ = ctx.prices[0]
    return any(o[1] is not None and o[2] is not None and (open_ > o[2] if o[0] > 0 else open_ < o[2])
               for o in ctx.entries())


def stop_limit_at_its_stop(ctx: Context) -> bool:
    """differences.md 1: a stop-limit with limit == stop, triggered without a gap, fills at the stop."""
    open_, high, low, _ = ctx.prices
    return any(o[1] is not None and o[1] == o[2] and entry_fill(o, open_, high, low) == o[2]
               for o in ctx.entries())


def stop_on_close(ctx: Context) -> bool:
    """differences.md 1: with trade_on_close, a stop or stop-loss that the bar triggers."""
    _, high, low, _ = ctx.prices
    return ctx.case.options["trade_on_close"] and any(
        o[2] is not None and (high >= o[2] if o[0] > 0 else low <= o[2]) for o in ctx.orders)


def brackets_after_the_entry(ctx: Context) -> bool:
    """differences.md 1: a stop or limit entry's stop-loss or take-profit that the bar's prices prove
    traded after the entry fills on the entry bar (the oracle does so only for a plain stop's TP)."""
    open_, high, low, close = ctx.prices
    for order in ctx.entries():
        size, limit, stop, sl, tp = order[:5]
        price = entry_fill(order, open_, high, low) if (limit, stop) != (None, None) else None
        if price is None or (sl, tp) == (None, None):
            continue
        if price == open_:  # filled at the open: matched like any order over the whole bar
            long = size > 0
            fires = [sl is not None and (low <= sl if long else high >= sl),
                     tp is not None and (high >= tp if long else low <= tp)]
            ours, oracle = any(fires), limit is None and fires[1] and not fires[0]
        else:
            lo, hi = (min(price, close), high) if price > open_ else (low, max(price, close))
            in_bar = [x is not None and low <= x <= high for x in (sl, tp)]
            proven = [x is not None and lo <= x <= hi for x in (sl, tp)]
            ours = proven[0] or (not in_bar[0] and proven[1])
            oracle = limit is None and not in_bar[0] and in_bar[1]
        if ours and not oracle:
            return True
    return False


def second_pass(ctx: Context) -> bool:
    """differences.md 1: an entry's sl/tp matched on its entry bar (a market entry's, or a stop entry's
    take-profit) while the bar reaches another stop or limit: the oracle matches its whole queue again."""
    open_, high, low, close = ctx.prices
    entries = ctx.entries()

    def rematches(order: tuple) -> bool:
        size, limit, stop, sl, tp = order[:5]
        if limit is None and stop is None:
            return (sl, tp) != (None, None)
        fills = limit is None and entry_fill(order, open_, high, low) is not None
        return fills and tp is not None and low <= tp <= high and not (sl is not None and low <= sl <= high)

    others = [o for o in entries if (o[1], o[2]) != (None, None) and reached(o, high, low)]
    return any(map(rematches, entries)) and len(others) >= 1 + sum(
        o[1] is None and o[2] is not None and rematches(o) for o in entries)


def finalize_at_last_close(ctx: Context) -> bool:
    """differences.md 2: finalize_trades on the last bar."""
    return ctx.case.options["finalize_trades"] and ctx.bar >= ctx.case.length - 1


def fixed_fee_once(ctx: Context) -> bool:
    """differences.md 3: with a fixed fee, a share-of-margin order, or a part of a trade closed."""
    commission = ctx.case.options["commission"]
    if not (isinstance(commission, tuple) and commission[0]):
        return False
    trades = ctx.actual._trades
    parts = trades.groupby(["EntryBar", "EntryPrice"]).ExitBar.transform("size") > 1
    if (parts & (trades.ExitBar == ctx.bar)).any():  # a part of a trade closed on this bar
        return True
    sizes = {t[2]: t[0] for t in ctx.trades}  # entry bar -> size (enough to spot a part)
    for size, *_, parent in ctx.orders:
        if parent is None and abs(size) < 1:
            return True
        if parent is not None and abs(size) < abs(sizes.get(parent, 0)):
            return True
        if parent is None and not ctx.case.options["hedging"] and any(
                (t[0] > 0) != (size > 0) and abs(size) < abs(t[0]) for t in ctx.trades):
            return True
    return False


def init_order_equity(ctx: Context) -> bool:
    """differences.md 8: an order from init(); the oracle marks bar 0 after its fill on bar 1."""
    return ctx.case.init_order and ctx.bar == 0


def ruin_with_several_trades(ctx: Context) -> bool:
    """differences.md 9: out of money with two or more trades open: backtestkit closes them all."""
    if ctx.expected._equity_curve.Equity.iloc[ctx.bar] != 0:
        return False
    trades = ctx.actual._trades
    return int(((trades.EntryBar <= ctx.bar) & (trades.ExitBar == ctx.bar)).sum()) >= 2


def exclusive_with_several_orders(ctx: Context) -> bool:
    """differences.md 10: exclusive_orders with two or more orders placed in one next(): the oracle keeps
    some of the orders a new one cancels."""
    return any(bar == ctx.bar and kept > 0 for bar, kept in ctx.expected._strategy.kept)


_DRAWDOWN_KEYS = {"Max. Drawdown [%]", "Avg. Drawdown [%]", "Max. Drawdown Duration",
                  "Avg. Drawdown Duration", "Calmar Ratio", "Sortino Ratio"}


def tied_peaks(ctx: Context) -> bool:
    """differences.md 11: equal equity is equal to the bit in backtestkit; the oracle's carries rounding
    noise, so where two peaks tie only the drawdown statistics differ."""
    ours, theirs = ctx.actual._equity_curve.Equity.to_numpy(), ctx.expected._equity_curve.Equity.to_numpy()
    if len(ours) != len(theirs) or not np.allclose(ours, theirs, rtol=1e-12, atol=0):
        return False
    keys = [k for k in ctx.expected.index if not k.startswith("_")]
    differing = {k for k in keys if not same_value(ctx.actual[k], ctx.expected[k])}
    trades_equal = ctx.actual._trades.drop(columns="Tag").equals(ctx.expected._trades.drop(columns="Tag"))
    ours_tie, oracle_tie = (equity[1:] == np.maximum.accumulate(equity)[:-1] for equity in (ours, theirs))
    return differing <= _DRAWDOWN_KEYS and trades_equal and bool((ours_tie != oracle_tie).any())


DETECTORS: dict[str, Callable[[Context], bool]] = {
    "stop-limit gapped past its stop": stop_limit_gap,
    "stop-limit with limit == stop": stop_limit_at_its_stop,
    "stop with trade_on_close": stop_on_close,
    "brackets proven after a stop/limit entry": brackets_after_the_entry,
    "second pass over the queue": second_pass,
    "finalize_trades at the last Close": finalize_at_last_close,
    "fixed fee once per fill": fixed_fee_once,
    "order from init()": init_order_equity,
    "out of money with several trades": ruin_with_several_trades,
    "exclusive_orders, several new orders": exclusive_with_several_orders,
    "equity ties to the bit": tied_peaks,
}


def explain(case: Case, bar: int, expected: pd.Series, actual: pd.Series) -> str | None:
    """The documented situation on the bar where the runs part (or the next one: with
    trade_on_close a market fill belongs to the bar before the one it is matched on), if any."""
    bar = min(bar, case.length - 1)  # no bar parts the runs: only their statistics differ
    for candidate in (bar, bar + 1) if case.options["trade_on_close"] else (bar,):
        if candidate >= case.length:
            continue
        orders, trades = _held(actual._strategy.held, candidate)
        oracle_orders, _ = _held(expected._strategy.held, candidate)
        ctx = Context(case, candidate, orders, trades, oracle_orders, expected, actual)
        for name, detector in DETECTORS.items():
            if detector(ctx):
                return name
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=500, help="how many seeds, from --first on")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--show", type=int, help="print one seed's set-up and outcome")
    args = parser.parse_args(argv)
    if args.show is not None:
        case = make_case(args.show)
        print(case)
        print(compare(args.show))
        return 0
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    unexplained = []
    for seed in range(args.first, args.first + args.seeds):
        outcome = compare(seed)
        counts[outcome.verdict] += 1
        if outcome.verdict == "documented":
            reasons[outcome.reason] += 1
        elif outcome.verdict == "unexplained":
            unexplained.append(outcome)
    print(f"seeds {args.first}..{args.first + args.seeds - 1}: " +
          ", ".join(f"{k} {counts[k]}" for k in ("identical", "documented", "unexplained")))
    for reason, count in reasons.most_common():
        print(f"  documented: {reason}: {count}")
    for outcome in unexplained[:50]:
        print(f"  unexplained seed {outcome.seed} (bar {outcome.bar}): {outcome.reason}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
