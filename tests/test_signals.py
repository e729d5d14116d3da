"""The compiled signals path against the bar loop: random signals, every broker setting, all bundled
data, every stats value and frame equal to the bit, the same warnings; and what qualifies for it."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting.test import BTCUSD
from backtesting.test import EURUSD as ORACLE_EURUSD
from backtesting.test import GOOG as ORACLE_GOOG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import backtestkit
from backtestkit import Backtest
from backtestkit.lib import FractionalBacktest, SignalStrategy, TrailingStrategy
from backtestkit.test import EURUSD, GOOG

DATA = {"GOOG": GOOG, "EURUSD": EURUSD.iloc[:3000], "oracle GOOG": ORACLE_GOOG,
        "oracle EURUSD": ORACLE_EURUSD.iloc[:3000], "BTCUSD": BTCUSD}
SIZES = [0.1, 0.3, 0.5, 0.95, 1 - 2**-52, 1, 2, 3, 7, 20, 150]
PORTIONS = [0.25, 0.5, 0.9, 1.0]


class RandomSignals(SignalStrategy):
    """Entries and exits drawn from ``seed``: sizes in margin shares and units, both directions."""

    seed = 0
    density = 0.1

    def init(self):
        super().init()
        rng = np.random.default_rng(self.seed)
        n = len(self.data)
        entries = rng.choice(SIZES, n) * rng.choice([-1, 1], n) * (rng.random(n) < self.density)
        exits = rng.choice(PORTIONS, n) * rng.choice([-1, 1], n) * (rng.random(n) < self.density)
        with_exits = rng.random() < 0.8
        self.set_signal(entry_size=entries, exit_portion=exits if with_exits else None)


def options(seed: int) -> dict:
    """Backtest options drawn from ``seed``: every setting the kernel implements."""
    rng = np.random.default_rng(seed + 10_000)
    commission = [0.0, 0.002, -0.0005, (2.0, 0.001), (0.5, 0.0)][rng.integers(5)]
    return {"cash": float(rng.choice([1_000, 10_000, 1_000_000])), "commission": commission,
            "spread": float(rng.choice([0.0, 0.0002, 0.003])), "margin": float(rng.choice([1.0, 0.5, 0.02])),
            "trade_on_close": bool(rng.random() < 0.3), "hedging": bool(rng.random() < 0.3),
            "exclusive_orders": bool(rng.random() < 0.3), "finalize_trades": bool(rng.random() < 0.5)}


def run(bt: Backtest, compiled: bool, expected: bool | None = None, **params) -> tuple[pd.Series, list[str]]:
    """``bt.run(**params)`` with the compiled path on or off, and the warnings it gave; the path that ran
    must be ``expected`` (``compiled`` unless said)."""
    backtestkit.set_compiled_signals(compiled)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stats = bt.run(**params)
    finally:
        backtestkit.set_compiled_signals(True)
    assert stats._strategy.ran_compiled is (compiled if expected is None else expected)
    return stats, [str(w.message) for w in caught]


def assert_same(compiled: pd.Series, event: pd.Series) -> None:
    assert list(compiled.index) == list(event.index)
    for key in compiled.index:
        if key == "_strategy":
            continue
        if isinstance(compiled[key], pd.DataFrame):
            pd.testing.assert_frame_equal(compiled[key], event[key], check_exact=True)
        else:
            assert compiled[key] == event[key] or (pd.isna(compiled[key]) and pd.isna(event[key])), key


@pytest.mark.parametrize("seed", range(40))
def test_random_signals_equal_the_bar_loop_to_the_bit(seed):
    data = list(DATA.values())[seed % len(DATA)]
    bt = Backtest(data, RandomSignals, **options(seed))
    params = {"seed": seed, "density": [0.03, 0.1, 0.4][seed % 3]}
    (compiled, compiled_warnings), (event, event_warnings) = run(bt, True, **params), run(bt, False, **params)
    assert_same(compiled, event)
    assert compiled_warnings == event_warnings
    assert trades(compiled._strategy) == trades(event._strategy)


def trades(strategy) -> list:
    """What a user reads of a finished run's strategy: its trades, orders, position and equity."""
    def trade(t):
        return None if t is None else (t.size, t.entry_price, t.exit_price, t.entry_bar, t.exit_bar, t.pl,
                                       t.pl_pct, type(t.size))

    orders = [(o.size, o.is_contingent, trade(o.parent_trade)) for o in strategy.orders]
    return [trade(t) for t in strategy.closed_trades + strategy.trades] + [
        orders, strategy.position.size, strategy.equity, strategy._broker.i]


class DrawnSignals(SignalStrategy):
    """The signals a hypothesis example draws, handed over as parameters."""

    entries: tuple = ()
    exits: tuple = ()

    def init(self):
        super().init()
        self.set_signal(entry_size=np.array(self.entries), exit_portion=np.array(self.exits))


SIGNAL = st.one_of(st.just(0.0), st.sampled_from([0.01, 0.5, 1 - 2**-52]), st.integers(1, 10**6).map(float),
                   st.floats(1e-9, 0.999999))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), start=st.integers(0, 2000), cash=st.sampled_from([100.0, 10_000.0, 1e7]),
       commission=st.sampled_from([0.0, 0.01, -0.001, (5.0, 0.0), (0.1, 0.002)]),
       spread=st.sampled_from([0.0, 0.001]), margin=st.sampled_from([1.0, 0.1, 0.01]),
       flags=st.tuples(*[st.booleans()] * 4))
def test_drawn_signals_equal_the_bar_loop_to_the_bit(data, start, cash, commission, spread, margin, flags):
    n = data.draw(st.integers(3, 120))
    side = st.sampled_from([1.0, -1.0])
    entries = data.draw(st.lists(st.tuples(SIGNAL, side).map(lambda p: p[0] * p[1]), min_size=n, max_size=n))
    exits = data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.3, 1.0, -0.5, -1.0]), min_size=n, max_size=n))
    trade_on_close, hedging, exclusive_orders, finalize_trades = flags
    bt = Backtest(GOOG.iloc[start:start + n], DrawnSignals, cash=cash, commission=commission, spread=spread,
                  margin=margin, trade_on_close=trade_on_close, hedging=hedging,
                  exclusive_orders=exclusive_orders, finalize_trades=finalize_trades)
    params = {"entries": tuple(entries), "exits": tuple(exits)}
    (compiled, compiled_warnings), (event, event_warnings) = run(bt, True, **params), run(bt, False, **params)
    assert_same(compiled, event)
    assert compiled_warnings == event_warnings


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.filterwarnings("ignore:.*insufficient margin")
@pytest.mark.filterwarnings("ignore:Some trades remain open")
def test_the_optimisers_numbers_equal_the_stats(seed):
    bt = Backtest(list(DATA.values())[seed % len(DATA)], RandomSignals, **options(seed))
    numbers = bt._engine.numbers({"seed": seed})
    backtestkit.set_compiled_signals(False)
    try:
        expected = bt._engine.numbers({"seed": seed})
    finally:
        backtestkit.set_compiled_signals(True)
    assert numbers.keys() == expected.keys()
    for key, value in numbers.items():
        if key != "_strategy":
            assert value == expected[key] or (pd.isna(value) and pd.isna(expected[key])), key


def test_a_run_that_ruins_the_account_stops_where_the_bar_loop_does():
    class AllIn(SignalStrategy):
        def init(self):
            super().init()
            entries = np.zeros(len(self.data))
            entries[5] = -(1 - 2**-52)  # short everything, on 50x leverage, into a rising market
            self.set_signal(entry_size=entries)

    data = ORACLE_GOOG.iloc[:400]
    bt = Backtest(data, AllIn, margin=0.02, cash=10_000)
    (compiled, _), (event, _) = run(bt, True), run(bt, False)
    assert compiled["Equity Final [$]"] == 0
    assert_same(compiled, event)


@pytest.mark.filterwarnings("ignore:Some trades remain open")
@pytest.mark.parametrize(("data", "cash", "size"), [
    (GOOG.iloc[:300], 1e30, 1e19),  # more units than an int64 holds
    (GOOG.iloc[:300] * 1e-9, 1e13, 0.5),  # a sub-penny price: 2**53 units and more for half the margin
])
def test_sizes_beyond_exact_floats_run_bar_by_bar_with_the_same_results(data, cash, size):
    class Huge(SignalStrategy):
        def init(self):
            super().init()
            entries = np.zeros(len(self.data))
            entries[20], entries[100] = size, -size
            self.set_signal(entry_size=entries)

    bt = Backtest(data, Huge, cash=cash)
    (compiled, _), (event, _) = run(bt, True, expected=False), run(bt, False)
    assert_same(compiled, event)


def test_what_a_finished_run_leaves_on_the_strategy_is_the_bar_loops():
    class LastBar(SignalStrategy):
        def init(self):
            super().init()
            entries, exits = np.zeros(len(self.data)), np.zeros(len(self.data))
            entries[[10, 40, -1]], exits[[30, -1]] = [3, 4, 0.5], [0.5, 1.0]  # orders left on the last bar
            self.set_signal(entry_size=entries, exit_portion=exits)

    for finalize in (False, True):
        bt = Backtest(GOOG, LastBar, hedging=True, finalize_trades=finalize)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (compiled, _), (event, _) = run(bt, True), run(bt, False)
        assert len(compiled._strategy.orders) == 3
        assert trades(compiled._strategy) == trades(event._strategy)


def test_a_window_runs_compiled_and_equal():
    bt = Backtest(GOOG, RandomSignals, cash=10_000, commission=0.001).window(500, 1500)
    (compiled, _), (event, _) = run(bt, True, seed=3), run(bt, False, seed=3)
    assert compiled["# Trades"] > 0
    assert_same(compiled, event)


@pytest.mark.parametrize("make", [
    lambda: FractionalBacktest(GOOG, RandomSignals, fractional_unit=1e-4, cash=500, commission=0.001),
    lambda: Backtest(GOOG.iloc[:25], RandomSignals, finalize_trades=True),  # shorter than nothing
])
def test_fractional_units_and_tiny_data_run_compiled_and_equal(make):
    params = {"seed": 7, "density": 0.3}
    (compiled, _), (event, _) = run(make(), True, **params), run(make(), False, **params)
    assert_same(compiled, event)


def test_an_optimisation_runs_compiled_with_the_same_results():
    bt = Backtest(GOOG.iloc[:800], RandomSignals, cash=10_000, commission=0.002, finalize_trades=True)
    options_ = dict(seed=range(12), density=[0.05, 0.2], maximize="Equity Final [$]", return_heatmap=True)
    compiled = bt.optimize(**options_)
    backtestkit.set_compiled_signals(False)
    try:
        event = bt.optimize(**options_)
    finally:
        backtestkit.set_compiled_signals(True)
    pd.testing.assert_series_equal(compiled[1], event[1], check_exact=True)
    assert_same(compiled[0], event[0])


@pytest.mark.parametrize("compiled", [True, False])
def test_the_setting_travels_to_the_optimisations_workers(compiled):
    bt = Backtest(GOOG.iloc[:300], RandomSignals, cash=10_000, finalize_trades=True)
    backtestkit.set_compiled_signals(compiled)
    try:
        _, heatmap = bt.optimize(seed=range(4), maximize=lambda s: float(s._strategy.ran_compiled),
                                 return_heatmap=True, n_jobs=2)
    finally:
        backtestkit.set_compiled_signals(True)
    assert set(heatmap) == {float(compiled)}


# --- what runs compiled, and what does not --------------------------------------------------------

class Crossing(SignalStrategy):
    def init(self):
        super().init()
        close = pd.Series(self.data.Close)
        fast, slow = close.rolling(10).mean(), close.rolling(30).mean()
        self.set_signal(entry_size=((fast > slow) & (fast.shift() <= slow.shift())) * 0.5,
                        exit_portion=((fast < slow) & (fast.shift() >= slow.shift())) * 1.0)


class OwnNext(Crossing):
    def next(self):
        super().next()


class Trailing(Crossing, TrailingStrategy):
    pass


@pytest.mark.parametrize(("strategy", "options_", "compiled"), [
    (Crossing, {}, True),
    (Crossing, {"commission": (1.0, 0.001)}, True),
    (Crossing, {"commission": lambda size, price: 1.0}, False),  # a callable: the bar loop calls it
    (OwnNext, {}, False),
    (Trailing, {}, False),  # TrailingStrategy.next runs too
])
def test_what_qualifies_for_the_compiled_path(strategy, options_, compiled):
    stats = Backtest(GOOG, strategy, finalize_trades=True, **options_).run()
    assert stats._strategy.ran_compiled is compiled


def test_an_order_method_replaced_on_the_instance_leaves_the_run_to_the_bar_loop():
    class NoBuying(Crossing):
        def init(self):
            super().init()
            self.buy = lambda **kwargs: None

    stats = Backtest(GOOG, NoBuying, finalize_trades=True).run()
    assert not stats._strategy.ran_compiled and stats["# Trades"] == 0


def test_a_signal_of_several_lines_raises_as_the_bar_loop_does():
    class TwoLines(SignalStrategy):
        def init(self):
            super().init()
            self.set_signal(entry_size=np.ones((2, len(self.data))) * 0.5)

    errors = []
    for compiled in (True, False):
        backtestkit.set_compiled_signals(compiled)
        try:
            with pytest.raises(ValueError) as raised:
                Backtest(GOOG, TwoLines).run()
        finally:
            backtestkit.set_compiled_signals(True)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


def test_orders_placed_in_init_leave_the_run_to_the_bar_loop():
    class BuysInInit(Crossing):
        def init(self):
            super().init()
            self.buy(size=1)

    assert not Backtest(GOOG, BuysInInit, finalize_trades=True).run()._strategy.ran_compiled


@pytest.mark.parametrize(("entry", "exit_", "match"), [
    (1.5, None, "size"),  # neither a share of margin nor whole units
    (np.inf, None, "size"),
    (0.5, 2.0, "portion"),  # more than the whole trade
])
def test_a_signal_the_broker_refuses_raises_the_bar_loops_error(entry, exit_, match):
    class Bad(SignalStrategy):
        def init(self):
            super().init()
            signal = np.zeros(len(self.data))
            signal[50] = entry
            exits = None if exit_ is None else np.where(np.arange(len(self.data)) == 60, exit_, 0.0)
            self.set_signal(entry_size=signal, exit_portion=exits)

    with pytest.raises(ValueError, match=match):
        Backtest(GOOG, Bad).run()


def test_a_portion_no_trade_takes_is_no_error_either_way():
    class Nothing(SignalStrategy):
        def init(self):
            super().init()
            exits = np.zeros(len(self.data))
            exits[60] = 2.0  # refused by Trade.close, but no trade is open to close
            self.set_signal(entry_size=np.zeros(len(self.data)), exit_portion=exits)

    bt = Backtest(GOOG, Nothing)
    (compiled, _), (event, _) = run(bt, True), run(bt, False)
    assert_same(compiled, event)


def test_set_compiled_signals_checks_its_argument():
    with pytest.raises(TypeError, match="enabled"):
        backtestkit.set_compiled_signals("no")


def test_without_numba_the_same_kernel_runs_as_python_with_the_same_results():
    script = """
import numpy as np, backtestkit
from backtestkit import Backtest
from backtestkit.test import GOOG
from backtestkit import _signal_kernel
from tests.test_signals import RandomSignals, assert_same
assert not hasattr(_signal_kernel.run, "py_func")  # plain Python
bt = Backtest(GOOG.iloc[:600], RandomSignals, cash=10_000, commission=(1.0, 0.001), finalize_trades=True)
compiled = bt.run(seed=5, density=0.3)
assert compiled._strategy.ran_compiled
backtestkit.set_compiled_signals(False)
assert_same(compiled, bt.run(seed=5, density=0.3))
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": root}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_without_a_writable_cache_the_kernel_compiles_in_each_process(tmp_path):
    (tmp_path / "nowhere.py").write_text(
        "class Nowhere:\n"
        "    @classmethod\n"
        "    def from_function(cls, function, source):\n"
        "        return None  # as on a read-only install with a read-only home\n")
    script = """
import numpy as np
from backtestkit import Backtest
from backtestkit.test import GOOG
from tests.test_signals import RandomSignals
stats = Backtest(GOOG.iloc[:300], RandomSignals, finalize_trades=True).run(density=0.2)
assert stats._strategy.ran_compiled
from backtestkit import _signal_kernel
assert not _signal_kernel.ON_DISK
"""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, str(tmp_path)]),
           "NUMBA_CACHE_LOCATOR_CLASSES": "nowhere.Nowhere"}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


class _Timer:
    """threading.Timer's stand-in: records what it was asked, fires only when told (no clock)."""

    made: list[_Timer] = []

    def __init__(self, seconds, function):
        self.seconds, self.function = seconds, function
        self.daemon = self.started = self.cancelled = self.joined = False
        _Timer.made.append(self)

    def start(self):
        self.started = True

    def cancel(self):
        self.cancelled = True

    def join(self):
        self.joined = True


class _Kernel:
    """A numba kernel's stand-in: no compiled signature yet; calling it runs ``body``."""

    def __init__(self, body):
        self.body, self.signatures = body, []

    def __call__(self, *args):
        return self.body(*args)


@pytest.fixture
def first_run(monkeypatch):
    """A process whose kernel has not run yet, with a recording Timer."""
    from backtestkit import _signals

    _Timer.made = []
    monkeypatch.setattr(_signals, "_warm", False)
    monkeypatch.setattr(_signals.threading, "Timer", _Timer)
    return _signals


def test_a_slow_first_compiled_run_says_what_it_waits_for(first_run, capsys):
    def compiling(value):  # the timer fires while numba compiles
        _Timer.made[-1].function()
        return value

    assert first_run._first_run(_Kernel(compiling), 7) == 7
    (timer,) = _Timer.made
    assert timer.seconds == first_run.NOTE_AFTER
    assert (timer.daemon, timer.started, timer.cancelled, timer.joined) == (True, True, True, True)
    err = capsys.readouterr().err
    assert "preparing the compiled signals kernel" in err and "then loads it from disk" in err
    assert "set_compiled_signals(False)" in err
    assert first_run._first_run(_Kernel(lambda value: value), 8) == 8  # later runs: no timer, no note
    assert len(_Timer.made) == 1 and capsys.readouterr().err == ""


def test_a_first_run_that_fails_cancels_its_note_and_counts_as_run(first_run, capsys):
    with pytest.raises(ZeroDivisionError):
        first_run._first_run(_Kernel(lambda: 1 / 0))
    (timer,) = _Timer.made
    assert timer.cancelled and timer.joined and capsys.readouterr().err == ""
    assert first_run._warm


@pytest.mark.parametrize("kernel", [lambda: 3, type("Loaded", (_Kernel,), {})(lambda: 3)],
                         ids=["plain Python", "compiled already"])
def test_a_kernel_with_nothing_to_compile_starts_no_timer(first_run, kernel):
    if isinstance(kernel, _Kernel):
        kernel.signatures = ["(float64[:], ...)"]
    assert first_run._first_run(kernel) == 3
    assert _Timer.made == [] and first_run._warm


def test_the_note_says_when_each_process_compiles_again(first_run, capsys, monkeypatch):
    monkeypatch.setattr(first_run._kernel(), "ON_DISK", False)
    first_run._note_compiling()
    assert "in every process" in capsys.readouterr().err
