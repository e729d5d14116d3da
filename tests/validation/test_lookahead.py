"""check_lookahead: indicators that read the future are caught, named, and placed at their first bar;
honest ones (every bundled example's and test strategy's) pass."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import SignalStrategy, TrailingStrategy
from backtestkit.test import SMA
from backtestkit.validation import LookaheadResult, check_lookahead

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOOKING_AHEAD_ON_PURPOSE = {"monte_carlo.Peeking"}  # an example shows the check catching it


def bars(n: int) -> pd.DataFrame:
    close = 100 + np.arange(n, dtype=float) + np.sin(np.arange(n))
    index = pd.date_range("2024-01-01", periods=n, freq="D")
    return pd.DataFrame({"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close,
                         "Volume": 1_000.0}, index=index)


def with_indicator(func, name="X") -> type[Strategy]:
    class One(Strategy):
        def init(self):
            self.sma = self.I(SMA, self.data.Close, 3, name="SMA3")
            self.x = self.I(func, pd.Series(self.data.Close), name=name)

    return One


def test_a_shift_into_the_future_is_caught_on_a_hand_worked_case():
    # 8 bars, one cut: linspace(4, 7, 1) keeps the first 4 bars. shift(-1) on them puts NaN on bar 3,
    # where the whole data has bar 4's Close (100 + 4 + sin 4): the first bar that differs is 3.
    result = check_lookahead(Backtest(bars(8), with_indicator(lambda c: c.shift(-1), "Tomorrow")), cuts=1)
    assert result.cuts == [4]
    assert not result.ok and not result
    row = result.table.iloc[0]
    assert list(result.table["Indicator"]) == ["Tomorrow"]  # SMA3 is honest
    assert row["First bar"] == 3 and row["Bars kept"] == 4 and row["Cuts differing"] == 1
    assert row["First time"] == pd.Timestamp("2024-01-04")
    assert row["Full data"] == pytest.approx(104 + np.sin(4)) and np.isnan(row["Cut data"])


def test_a_centred_window_is_caught_at_half_its_width_before_the_cut():
    # a centred 5-bar mean reads 2 bars ahead: on data cut to L bars the last 2 values change
    strategy = with_indicator(lambda c: c.rolling(5, center=True).mean(), "Centred")
    result = check_lookahead(Backtest(load_daily(), strategy), cuts=3)
    assert result.cuts == [1250, 1874, 2499]
    row = result.table.set_index("Indicator").loc["Centred"]
    assert row["First bar"] == 1250 - 2 and row["Bars kept"] == 1250 and row["Cuts differing"] == 3


def test_a_whole_series_normalisation_is_caught_from_its_first_bar():
    strategy = with_indicator(lambda c: (c - c.mean()) / c.std(), "Z-score")
    result = check_lookahead(Backtest(load_daily(), strategy))
    assert list(result.table["Indicator"]) == ["Z-score"]
    assert result.table["First bar"].iloc[0] == 0 and result.table["Cuts differing"].iloc[0] == 5
    assert "Z-score: first differs at bar 0" in str(result)


@settings(max_examples=30, deadline=None)
@given(window=st.integers(1, 8), lag=st.integers(0, 5), lead=st.integers(1, 5), n=st.integers(30, 80),
       cuts=st.integers(1, 4))
def test_a_lead_of_k_bars_shows_k_bars_before_the_shortest_cut(window, lag, lead, n, cuts):
    # causal: a trailing mean of the past, lagged; leaking: the same read `lead` bars ahead. On data cut to
    # L bars, the last `lead` values of the leaking one become NaN; the first is at L - lead (the window
    # is short enough for a value there: L >= 15 > window + lead).
    class Leads(Strategy):
        def init(self):
            close = pd.Series(self.data.Close)
            self.past = self.I(lambda c: c.rolling(window).mean().shift(lag), close, name="past")
            self.ahead = self.I(lambda c: c.rolling(window).mean().shift(-lead), close, name="ahead")

    result = check_lookahead(Backtest(bars(n), Leads), cuts=cuts)
    shortest = result.cuts[0]
    assert list(result.table["Indicator"]) == ["ahead"]
    row = result.table.iloc[0]
    assert row["First bar"] == shortest - lead and row["Bars kept"] == shortest
    assert row["Cuts differing"] == len(result.cuts)


def test_each_line_of_a_multi_line_indicator_is_checked_on_its_own():
    class Band(Strategy):
        def init(self):
            close = pd.Series(self.data.Close)
            self.band = self.I(lambda c: (c.rolling(5).min(), c.rolling(5, center=True).max()), close,
                               name=["Lower", "Upper"])

    result = check_lookahead(Backtest(load_daily(), Band))
    assert list(result.table["Indicator"]) == ["Upper"]


@pytest.mark.parametrize("func", [
    lambda c: c.rolling(20).mean(),
    lambda c: c.ewm(span=10).mean(),
    lambda c: c.expanding().std(),
    lambda c: c.pct_change().cumsum(),
    lambda c: c.shift(1),
    lambda c: (c - c.rolling(50).mean()) / c.rolling(50).std(),
])
def test_honest_indicators_pass(func):
    result = check_lookahead(Backtest(load_daily(), with_indicator(func)), cuts=4)
    assert result.ok and result.table.empty
    assert "no lookahead found" in str(result)
    assert repr(result) == "<LookaheadResult One: 2 indicators, ok>"


def test_the_parameters_given_are_the_ones_checked():
    class Window(Strategy):
        n = 0

        def init(self):
            close = pd.Series(self.data.Close)
            self.x = self.I(lambda c, n: c.rolling(2 * n + 1, center=True).mean() if n else c, close, self.n)

    bt = Backtest(load_daily(), Window)
    assert check_lookahead(bt).ok
    result = check_lookahead(bt, n=3)
    assert result.table["First bar"].iloc[0] == 1250 - 3
    assert repr(result) == "<LookaheadResult Window(n=3): 1 indicator, 1 looking ahead>"


def test_the_user_s_data_is_left_as_it_was():
    data = load_daily()
    before = data.copy()
    check_lookahead(Backtest(data, with_indicator(lambda c: c.shift(-1))))
    pd.testing.assert_frame_equal(data, before)


# --- strategies that ship: the examples', the library's and the tests' ---------------------------------


def example_strategies() -> list[tuple[str, type[Strategy], pd.DataFrame]]:
    """Each example's Strategy classes, defined by running only its imports, functions and classes."""
    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        kept = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                                 ast.ClassDef))]
        namespace: dict = {"__name__": f"example_{path.stem}"}
        exec(compile(ast.Module(kept, []), str(path), "exec"), namespace)  # noqa: S102 - our own examples
        data = load_daily() if "load_hourly" not in path.read_text(encoding="utf-8") else None
        for value in list(namespace.values()):
            ours = isinstance(value, type) and value.__module__ == namespace["__name__"]
            if ours and issubclass(value, Strategy):
                found.append((f"{path.stem}.{value.__name__}", value, data))
    return found


EXAMPLE_STRATEGIES = example_strategies()


def test_the_examples_have_strategies_to_check():
    assert len(EXAMPLE_STRATEGIES) >= 5


@pytest.mark.parametrize("name, strategy, data", EXAMPLE_STRATEGIES, ids=[s[0] for s in EXAMPLE_STRATEGIES])
def test_every_example_strategy_passes(name, strategy, data):
    from backtestkit.datasets import load_hourly

    frame = data if data is not None else load_hourly().iloc[:3000]
    result = check_lookahead(Backtest(frame, strategy), cuts=3)
    assert result.ok is (name not in LOOKING_AHEAD_ON_PURPOSE), str(result)


def test_the_library_and_test_strategies_pass():
    from tests.test_backtest import SmaCross
    from tests.test_chart import SmaCross as ChartSmaCross

    class Signals(SignalStrategy):
        def init(self):
            super().init()
            fast, slow = self.I(SMA, self.data.Close, 10), self.I(SMA, self.data.Close, 30)
            self.set_signal(entry_size=(np.asarray(fast) > np.asarray(slow)).astype(float))

    class Trailing(TrailingStrategy):
        def init(self):
            super().init()
            self.set_trailing_sl(2)

    for strategy in (SmaCross, ChartSmaCross, Signals, Trailing):
        assert check_lookahead(Backtest(load_daily(), strategy), cuts=3).ok, strategy


# --- bad input ----------------------------------------------------------------------------------------


BT = Backtest(bars(10), with_indicator(lambda c: c))


@pytest.mark.parametrize("args, kwargs, exc, match", [
    (("bt",), {}, TypeError, "The 'bt' parameter of check_lookahead must be a Backtest. Got 'bt' instead."),
    ((BT,), {"cuts": 0}, ValueError,
     "The 'cuts' parameter of check_lookahead must be an int >= 1. Got 0 instead."),
    ((BT,), {"cuts": 2.0}, TypeError,
     "The 'cuts' parameter of check_lookahead must be an int >= 1. Got 2.0 instead."),
    ((BT,), {"n1": 3}, ValueError, "Unknown parameter 'n1' for check_lookahead. Known: (none)."),
])
def test_bad_arguments_are_named(args, kwargs, exc, match):
    with pytest.raises(exc, match=f"^{re.escape(match)}$"):
        check_lookahead(*args, **kwargs)


def test_an_init_that_fails_on_cut_data_says_where():
    class Picky(Strategy):
        def init(self):
            if len(self.data) < 10:
                raise RuntimeError("needs 10 bars")

    with pytest.raises(RuntimeError, match="needs 10 bars") as info:
        check_lookahead(Backtest(bars(10), Picky), cuts=1)
    assert "on the data's first 5 bars, in check_lookahead" in "".join(getattr(info.value, "__notes__", []))


def test_the_result_type_is_exported():
    assert isinstance(check_lookahead(BT, cuts=1), LookaheadResult)


def test_the_report_section_names_what_looks_ahead():
    from bokeh.embed import file_html
    from bokeh.resources import CDN

    found = check_lookahead(Backtest(bars(8), with_indicator(lambda c: c.shift(-1), "Tomorrow")), cuts=1)
    html = file_html(found.report_section(), CDN, "t")
    assert "Lookahead check" in html and "Tomorrow" in html and "1 indicator(s) changed" in html
    assert "no lookahead found" in file_html(check_lookahead(BT, cuts=1).report_section(), CDN, "t")
