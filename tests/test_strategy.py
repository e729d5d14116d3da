"""Strategy: indicators and their per-bar views, indicator names, order validation and the handles
(Order, Trade, Position) a strategy reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Order, Position, Strategy, Trade
from backtestkit.datasets import load_daily

DATA = load_daily().iloc[:40]
CLOSE = DATA["Close"].to_numpy()


def SMA(values: np.ndarray, n: int) -> pd.Series:  # noqa: N802 - the name shows in indicator names
    return pd.Series(values).rolling(n).mean()


def bands(values: np.ndarray, n: int) -> tuple[pd.Series, pd.Series]:
    mean, std = SMA(values, n), pd.Series(values).rolling(n).std()
    return mean + 2 * std, mean - 2 * std


def run(strategy: type[Strategy], data: pd.DataFrame = DATA, **kwargs) -> pd.Series:
    return Backtest(data, strategy, **kwargs).run()


# --- indicators seen bar by bar ------------------------------------------------------------------


def test_views_end_at_the_current_bar():
    seen = []

    class Watcher(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3)
            self.bands = self.I(bands, self.data.Close, 3)

        def next(self):
            bar = len(self.data) - 1
            seen.append((bar, len(self.sma), self.bands.shape, len(self.data.Close), len(self.data.df),
                         self.data.index[-1], self.data.Close[-1]))

    run(Watcher)
    # SMA(3) and its std are NaN on bars 0 and 1: next() starts on bar 1 + 2 = 3
    assert [row[0] for row in seen] == list(range(3, 40))
    for bar, sma, bands_shape, close, df, timestamp, last in seen:
        assert (sma, bands_shape, close, df) == (bar + 1, (2, bar + 1), bar + 1, bar + 1)
        assert (timestamp, last) == (DATA.index[bar], CLOSE[bar])


def test_indicators_never_show_the_future():
    seen = []

    class Reader(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 5)

        def next(self):
            seen.append((self.sma[-1], self.sma[-2], float(self.sma), self.sma.copy()))

    stats = run(Reader)
    full = SMA(CLOSE, 5).to_numpy()
    for bar, (last, previous, as_float, view) in enumerate(seen, start=5):  # SMA(5) first on bar 4
        assert (last, previous, as_float) == (full[bar], full[bar - 1], full[bar])
        np.testing.assert_array_equal(view, full[: bar + 1])
    # after the run the strategy holds the full array again, and its own class
    np.testing.assert_array_equal(stats["_strategy"].sma, full)
    assert type(stats["_strategy"]) is Reader


def test_indicator_conversions_and_pandas_views():
    seen = []

    class Converter(Strategy):
        def init(self):
            self.up = self.I(lambda c: c > np.r_[c[0], c[:-1]], self.data.Close, name="up")
            self.bands = self.I(bands, self.data.Close, 3, name=["upper", "lower"])

        def next(self):
            if len(self.data) == 10:
                seen.append((bool(self.up), self.up.s, self.bands.df, self.up.name, self.bands.name))

    run(Converter)
    ((up, series, frame, up_name, bands_name),) = seen
    assert up == bool(CLOSE[9] > CLOSE[8])
    pd.testing.assert_series_equal(series, pd.Series(CLOSE[:10] > np.r_[CLOSE[0], CLOSE[:9]],
                                                     index=DATA.index[:10], name="up"))
    upper, lower = bands(CLOSE, 3)
    expected = pd.DataFrame({"upper": upper.to_numpy()[:10], "lower": lower.to_numpy()[:10]},
                            index=DATA.index[:10])
    pd.testing.assert_frame_equal(frame, expected)
    assert (up_name, bands_name) == ("up", ["upper", "lower"])


def test_an_indicator_first_read_late_is_current_from_then_on():
    seen = []

    class Late(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3)
            self.bands = self.I(bands, self.data.Close, 3)

        def next(self):
            bar = len(self.data) - 1
            if bar >= 10:  # nothing read before bar 10; both views deleted on bar 12
                seen.append((bar, len(self.sma), self.bands.shape[1]))
            if bar == 12:
                del self.sma, self.bands

    run(Late)
    assert seen == [(bar, bar + 1, bar + 1) for bar in range(10, 40)]


def test_indicators_are_whole_during_init():
    lengths = []

    class Init(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3)
            lengths.extend([len(self.sma), len(self.data.Close)])

    run(Init)
    assert lengths == [40, 40]


def test_reassigning_an_indicator_attribute_in_next_lasts_one_bar():
    # as in backtesting.py: the next bar puts the indicator's view back in the attribute
    seen = []

    class Reassign(Strategy):
        def init(self):
            self.value = self.I(SMA, self.data.Close, 2)

        def next(self):
            if len(self.data) == 5:
                self.value = "replaced"
            seen.append(self.value if isinstance(self.value, str) else len(self.value))

    run(Reassign)
    assert seen[:4] == [3, 4, "replaced", 6]  # SMA(2): next() starts on bar 2


def test_runs_of_one_backtest_share_the_per_run_subclass_and_not_its_state():
    # the second run of each params reuses the subclass the first made: views, a deleted view, a
    # rebound next() and a 2-D indicator behave as on a fresh Backtest, and nothing stays behind
    class Views(Strategy):
        wide = False

        def init(self):
            self.fast = self.I(SMA, self.data.Close, 2)
            self.band = self.I(bands, self.data.Close, 3)
            if self.wide:  # another set of indicator attributes: another subclass
                self.slow = self.I(SMA, self.data.Close, 5)
            self.seen = []

        def next(self):
            self.seen.append((len(self.fast), float(self.fast[-1]), self.band.shape))
            if len(self.data) == 8:
                del self.fast
            if len(self.data) == 10:
                self.next = self.other

        def other(self):
            self.seen.append(("other", len(self.data), float(self.fast[-1])))

    backtest = Backtest(DATA, Views)
    fresh = {wide: Backtest(DATA, Views).run(wide=wide)._strategy.seen for wide in (False, True)}
    for wide in (False, True, False, True):
        stats = backtest.run(wide=wide)
        assert stats._strategy.seen == fresh[wide]
        assert type(stats._strategy) is Views and "_indicator_views" not in vars(stats._strategy)
    assert len(backtest._engine._classes) == 2
    assert fresh[False][-1] == ("other", len(DATA), pytest.approx(CLOSE[-2:].mean()))


# --- indicator names -----------------------------------------------------------------------------


def _named(declare) -> object:
    names = []

    class Named(Strategy):
        def init(self):
            names.append(declare(self).name)

    run(Named)
    return names[0]


@pytest.mark.parametrize(
    "declare, name",
    [
        (lambda s: s.I(SMA, s.data.Close, 10), "SMA(C,10)"),
        (lambda s: s.I(SMA, s.data.Close, n=10), "SMA(C,10)"),  # keyword arguments show too
        (lambda s: s.I(SMA, s.data.High, 3), "SMA(H,3)"),
        (lambda s: s.I(lambda c: c, s.data.Open), "λ(O)"),
        (lambda s: s.I(SMA, pd.Series(CLOSE, name="a_long_series_name"), 3), "SMA(a_long_se…,3)"),
        (lambda s: s.I(lambda: pd.DataFrame({"a": CLOSE, "b": CLOSE})), "λ"),
        (lambda s: s.I(SMA, s.data.Close, 10, name="fast"), "fast"),
        (lambda s: s.I(bands, s.data.Close, 3), "bands(C,3)"),
        (lambda s: s.I(bands, s.data.Close, 3, name=["upper", "lower"]), ["upper", "lower"]),
    ],
    ids=["args", "kwargs", "column", "lambda", "long-series-name", "dataframe", "name", "2-d",
         "2-d-names"],
)
def test_indicator_names(declare, name):
    assert _named(declare) == name


def test_indicator_names_label_the_trade_columns():
    class Entry(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3)

        def next(self):
            if len(self.data) == 5:
                self.buy(size=1)

    trades = run(Entry, finalize_trades=True)["_trades"]
    # entered on bar 5, closed on the last bar 39
    assert trades[["Entry_SMA(C,3)", "Exit_SMA(C,3)"]].iloc[0].tolist() == pytest.approx(
        SMA(CLOSE, 3).to_numpy()[[5, 39]])


NAMES = "The 'name' parameter of Strategy.I must be one name per indicator line ({lines}). Got {got} instead."


@pytest.mark.parametrize(
    "declare, exception, message",
    [
        (lambda s: s.I(5), TypeError,
         "The 'func' parameter of Strategy.I must be a callable. Got 5 instead."),
        (lambda s: s.I(lambda: [1.0, 2.0, 3.0]), ValueError,
         "Indicator 'λ' must return a 1-D array (or a tuple of them / a DataFrame) as long as the data "
         "(40 bars). Got shape (3,) instead."),
        (lambda s: s.I(lambda: np.ones((2, 2, 40))), ValueError,
         "Indicator 'λ' must return a 1-D array (or a tuple of them / a DataFrame) as long as the data "
         "(40 bars). Got shape (2, 2, 40) instead."),
        (lambda s: s.I(bands, s.data.Close, 3, name=["upper"]), ValueError,
         NAMES.format(lines=2, got="['upper']")),
        (lambda s: s.I(SMA, s.data.Close, 3, name=["a", "b"]), ValueError,
         NAMES.format(lines=1, got="['a', 'b']")),
        (lambda s: s.I(bands, s.data.Close, 3, name=[1, 2]), TypeError,
         "The 'name' parameter of Strategy.I must be a string or a list of strings. Got [1, 2] instead."),
    ],
    ids=["not-callable", "too-short", "3-d", "too-few-names", "names-for-1-d", "names-not-strings"],
)
def test_indicator_errors(declare, exception, message):
    class Bad(Strategy):
        def init(self):
            declare(self)

    with pytest.raises(exception) as raised:
        run(Bad)
    assert str(raised.value) == message


# --- orders: validation --------------------------------------------------------------------------

SIZE = ("The 'size' parameter of Strategy.{side} must be a share of available margin in (0, 1) or a whole "
        "number of units >= 1. Got {got} instead.")
PRICE = "The '{name}' parameter of Strategy.{side} must be a finite price > 0 or None. Got {got} instead."
LONG = "Strategy.buy: long orders need SL < entry price < TP. Got {} instead."
SHORT = "Strategy.sell: short orders need TP < entry price < SL. Got {} instead."
LAST_CLOSE = CLOSE[5]  # orders below are placed on bar 5


@pytest.mark.parametrize(
    "side, kwargs, exception, message",
    [
        ("buy", {"size": 0}, ValueError, SIZE.format(side="buy", got=0)),
        ("sell", {"size": -1}, ValueError, SIZE.format(side="sell", got=-1)),
        ("buy", {"size": 1.5}, ValueError, SIZE.format(side="buy", got=1.5)),
        ("buy", {"size": np.nan}, ValueError, SIZE.format(side="buy", got=np.nan)),
        ("buy", {"size": True}, ValueError, SIZE.format(side="buy", got=True)),
        ("buy", {"size": "1"}, ValueError, SIZE.format(side="buy", got="'1'")),
        ("buy", {"limit": 0}, ValueError, PRICE.format(name="limit", side="buy", got=0)),
        ("sell", {"stop": -5.0}, ValueError, PRICE.format(name="stop", side="sell", got=-5.0)),
        ("buy", {"sl": np.inf}, ValueError, PRICE.format(name="sl", side="buy", got="inf")),
        ("buy", {"tp": "high"}, ValueError, PRICE.format(name="tp", side="buy", got="'high'")),
        ("buy", {"limit": 100, "sl": 100}, ValueError,
         LONG.format("sl=100, entry price=100, tp=None")),
        ("buy", {"stop": 100, "tp": 99}, ValueError,
         LONG.format("sl=None, entry price=100, tp=99")),
        ("sell", {"limit": 100, "sl": 99}, ValueError,
         SHORT.format("sl=99, entry price=100, tp=None")),
        ("sell", {"limit": 100, "tp": 101}, ValueError,
         SHORT.format("sl=None, entry price=100, tp=101")),
        ("buy", {"limit": 100, "sl": 0.05, "tp": 0.1}, ValueError,  # fractions where prices belong
         LONG.format("sl=0.05, entry price=100, tp=0.1")[:-1]
         + ". sl and tp are prices, not fractions: e.g. sl=price * 0.95."),
        # market orders are checked against the last close
        ("buy", {"sl": LAST_CLOSE + 1}, ValueError,
         LONG.format(f"sl={LAST_CLOSE + 1}, entry price={LAST_CLOSE:.6g}, tp=None")),
    ],
)
def test_order_errors(side, kwargs, exception, message):
    class Orders(Strategy):
        def next(self):
            if len(self.data) == 6:
                getattr(self, side)(**kwargs)

    with pytest.raises(exception) as raised:
        run(Orders)
    assert str(raised.value) == message


@pytest.mark.parametrize("size", [0.5, 1, 3.0, np.int64(2), np.float32(0.25)])
def test_valid_order_sizes_are_accepted(size):
    placed = []

    class Orders(Strategy):
        def next(self):
            if len(self.data) == 6:
                placed.append(self.buy(size=size).size)

    run(Orders, finalize_trades=True)
    assert placed == [size]


# --- Order, Trade and Position -------------------------------------------------------------------

FRAME = pd.DataFrame(
    [(100, 101, 99, 100), (100, 102, 98, 101), (102, 106, 101, 105), (105, 107, 96, 97), (98, 100, 95, 99)],
    index=pd.date_range("2024-01-01", periods=5), columns=["Open", "High", "Low", "Close"], dtype=float)


def test_order_trade_and_position_handles():
    seen = {}

    class Handles(Strategy):
        def next(self):
            bar = len(self.data) - 1
            if bar == 1:
                seen["order"] = self.buy(size=10, limit=104, sl=90, tp=120, tag="x")
                seen["orders"] = self.orders
            elif bar == 2:
                seen["trade"], seen["contingent"] = self.trades[0], self.orders
                seen["guards"] = [(o.is_contingent, o.parent_trade is self.trades[0]) for o in self.orders]
                seen["open"] = _state(self.trades[0], self.position)
                self.trades[0].close()
            elif bar == 3:
                seen["closed"] = _state(self.closed_trades[0], self.position)

    run(Handles, FRAME)
    order = seen["order"]
    assert isinstance(order, Order) and seen["orders"] == (order,)
    assert (order.size, order.limit, order.stop, order.sl, order.tp) == (10, 104, None, 90, 120)
    assert (order.tag, order.is_long, order.is_short, order.is_contingent) == ("x", True, False, False)
    assert order.parent_trade is None

    trade = seen["trade"]
    assert isinstance(trade, Trade)
    # the limit 104 filled at bar 2's better open 102; the stop-loss order is queued before the take-profit
    sl_order, tp_order = seen["contingent"]
    assert (sl_order.size, sl_order.stop, sl_order.limit, sl_order.tag) == (-10, 90, None, "x")
    assert (tp_order.size, tp_order.stop, tp_order.limit) == (-10, None, 120)
    assert seen["guards"] == [(True, True), (True, True)]
    assert not sl_order.is_contingent  # no longer: the trade closed

    assert seen["open"] == {
        "size": 10, "entry_price": 102, "entry_bar": 2, "entry_time": FRAME.index[2],
        "exit_price": None, "exit_bar": None, "exit_time": None, "tag": "x", "is_long": True,
        "is_short": False, "sl": 90, "tp": 120,
        "pl": pytest.approx(30),  # 10 * (105 - 102) at bar 2's close
        "pl_pct": pytest.approx(105 / 102 - 1), "value": pytest.approx(1_050),  # 10 * 105
        "position": (10, True, True, False, pytest.approx(30), pytest.approx((105 / 102 - 1) * 100)),
    }
    assert seen["closed"] == {
        "size": 10, "entry_price": 102, "entry_bar": 2, "entry_time": FRAME.index[2],
        "exit_price": 105, "exit_bar": 3, "exit_time": FRAME.index[3], "tag": "x", "is_long": True,
        "is_short": False, "sl": 90, "tp": 120,  # the brackets it had when it closed
        "pl": pytest.approx(30),  # closed at bar 3's open 105: 10 * (105 - 102)
        "pl_pct": pytest.approx(105 / 102 - 1), "value": pytest.approx(1_050),
        "position": (0, False, False, False, 0, 0),
    }


def _state(trade: Trade, position: Position) -> dict:
    names = ["size", "entry_price", "entry_bar", "entry_time", "exit_price", "exit_bar", "exit_time", "tag",
             "is_long", "is_short", "sl", "tp", "pl", "pl_pct", "value"]
    state = {name: getattr(trade, name) for name in names}
    state["position"] = (position.size, bool(position), position.is_long, position.is_short, position.pl,
                         position.pl_pct)
    return state


def test_short_trade_handles():
    seen = []

    class Short(Strategy):
        def next(self):
            if len(self.data) == 2:
                seen.append(self.sell(size=4))
            elif len(self.data) == 4:
                trade = self.trades[0]
                seen.append((trade.size, trade.is_short, trade.pl, trade.pl_pct, self.position.is_short))

    run(Short, FRAME, finalize_trades=True)
    order, (size, is_short, pl, pl_pct, position_short) = seen
    assert (order.size, order.is_short, order.is_long) == (-4, True, False)
    # short 4 from bar 2's open 102; bar 3 closes at 97: -4 * (97 - 102) = +20, 1 - 97/102
    assert (size, is_short, position_short) == (-4, True, True)
    assert (pl, pl_pct) == pytest.approx((20, 1 - 97 / 102))


def test_moving_a_bracket_to_a_bad_price_raises():
    class Move(Strategy):
        bracket, price = "sl", 0.0

        def next(self):
            if len(self.data) == 2:
                self.buy(size=10)
            elif len(self.data) == 3:
                setattr(self.trades[0], self.bracket, self.price)

    accepted = []
    for bracket in ("sl", "tp"):
        for price in (0, -5.0, np.nan, np.inf, "100", "x"):
            try:
                Backtest(FRAME, Move, finalize_trades=True).run(bracket=bracket, price=price)
            except (ValueError, TypeError) as error:
                if str(error).startswith(f"The '{bracket}' parameter of Trade.{bracket} must be"):
                    continue
            accepted.append((bracket, price))
    assert accepted == []


def test_cancelled_order_is_not_filled():
    class Cancel(Strategy):
        def next(self):
            if len(self.data) == 2:
                self.buy(size=10, limit=101).cancel()

    assert run(Cancel, FRAME, finalize_trades=True)["# Trades"] == 0


@pytest.mark.parametrize("strategy", [Strategy, type("OnlyInit", (Strategy,), {"init": lambda self: None})])
def test_strategy_without_next_runs(strategy):
    stats = run(strategy)
    assert stats["# Trades"] == 0
    assert stats["Equity Final [$]"] == 10_000


def test_parameters_are_attributes_and_show_in_the_name():
    seen = []

    class Params(Strategy):
        n1 = 10
        n2 = 20

        def init(self):
            seen.append((self.n1, self.n2))

    stats = Backtest(DATA, Params).run(n2=30, n1=5)
    assert seen == [(5, 30)]
    assert str(stats["_strategy"]) == "Params(n2=30,n1=5)"  # the parameters given to run(), in that order
    assert repr(stats["_strategy"]) == "<Strategy Params(n2=30,n1=5)>"
    assert str(Backtest(DATA, Params).run()["_strategy"]) == "Params"
    assert (Params.n1, Params.n2) == (10, 20)  # the class is left alone
