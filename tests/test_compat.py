"""What backtesting.py users' code and tutorials rely on, beyond fills: each checked against backtesting.py.

Strategies are written once for both libraries (see ``tests/_oracle.py``). Where backtestkit differs on
purpose (doc/differences.md), the test shows both behaviours.
"""

from __future__ import annotations

import pickle
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG, SMA

import backtestkit
import backtestkit.lib
from backtestkit import _settings
from backtestkit.plotting import _output
from tests import test_differential as differential
from tests._oracle import ORACLE, OURS, Library, assert_same, assert_same_stats, record, run

DATA = GOOG.iloc[:600]


def sma_cross(lib: Library, **extra: Any) -> type:
    """test_differential's SmaCross; ``extra`` adds or overrides methods and attributes."""
    base = differential.sma_cross(lib)
    return type("SmaCross", (base,), extra) if extra else base


def picklable(lib: Library) -> type:
    """SmaCross, importable by name from this module, as pickle (and process pools) need."""

    def init(self):
        self.fast = self.I(SMA, self.data.Close, self.n1, name="fast", overlay=True, color="red")
        self.slow = self.I(SMA, self.data.Close, self.n2)

    cls = sma_cross(lib, init=init)
    cls.__qualname__ = f"PICKLABLE_{lib.package}"
    cls.__module__ = __name__
    globals()[cls.__qualname__] = cls
    return cls


PICKLABLE = {lib: picklable(lib) for lib in (ORACLE, OURS)}


# --- prices given as data columns or indicators -----------------------------------------------------


def prices_as_arrays(lib: Library) -> type:
    """Orders and brackets priced by arrays, as in the Machine Learning tutorial: their current value."""

    class Arrays(lib.Strategy):
        def init(self):
            self.floor = self.I(lambda low: pd.Series(low).rolling(5).min(), self.data.Low)

        def next(self):
            bar = len(self.data)
            if not self.position and not self.orders:
                if bar % 40 == 0:
                    self.sell(stop=self.data.Low, tp=self.data.Low * 0.9)  # stop at this bar's low
                elif bar % 40 == 20:
                    self.buy(limit=self.data.Close, sl=self.floor, tp=self.data.High * 1.08)
            for trade in self.trades:
                if bar - trade.entry_bar > 3:  # trail, as the tutorial does
                    if trade.is_long:
                        trade.sl = max(trade.sl, self.data.Low)
                    else:
                        trade.sl = min(trade.sl, self.data.High)
                        trade.tp = self.data.Low * 0.95

    return Arrays


def test_prices_given_as_arrays_use_their_current_value():
    def exercises(stats):
        trades = stats["_trades"]
        return (trades["Size"] > 0).any() and (trades["Size"] < 0).any() and trades["SL"].notna().all()

    assert_same(prices_as_arrays, DATA, exercises=exercises)


@pytest.mark.parametrize("bad", [np.array([99.0, 98.0]), pd.Series([99.0]), [99.0]])
def test_other_sequences_are_still_not_prices(bad):
    """Only a strategy's own arrays stand for their current value: anything else is refused, as by
    backtesting.py (which fails on them with numpy's or pandas' own errors), in the house wording."""

    def make(lib):
        class Bad(lib.Strategy):
            def init(self):
                pass

            def next(self):
                self.buy(sl=bad)

        return Bad

    with pytest.raises((TypeError, ValueError)):
        run(ORACLE, make, DATA.iloc[:5])
    with pytest.raises(ValueError, match=r"^The 'sl' parameter of Strategy.buy must be a finite price > 0"):
        run(OURS, make, DATA.iloc[:5])


# --- indicators: shapes and names ---------------------------------------------------------------------


def row_major(lib: Library) -> type:
    """An indicator returned as one row per bar, ``(n_bars, 2)``: taken as two lines."""
    crossover = lib.crossover

    class RowMajor(lib.Strategy):
        def init(self):
            both = lambda close: np.column_stack([SMA(close, 10), SMA(close, 20)])  # noqa: E731
            self.pair = self.I(both, self.data.Close, name=["fast", "slow"])

        def next(self):
            fast, slow = self.pair
            if crossover(fast, slow):
                self.position.close()
                self.buy()
            elif crossover(slow, fast):
                self.position.close()
                self.sell()

    return RowMajor


def test_row_major_2d_indicator_is_transposed():
    _, ours = assert_same(row_major, DATA, exercises=lambda s: s["# Trades"] > 5)
    assert ours["_strategy"].pair.shape == (2, len(DATA))


def one_named_line(lib: Library) -> type:
    class Named(lib.Strategy):
        def init(self):
            self.rsi = self.I(SMA, self.data.Close, 10, name=("SMA10",))
            self.other = self.I(SMA, self.data.Close, 20, name=["SMA20"])

        def next(self):
            if len(self.data) == 30:
                self.buy()
            elif len(self.data) == 60:
                self.position.close()

    return Named


def test_a_one_line_indicator_takes_a_one_name_tuple_or_list():
    """backtesting.py keeps the 1-list as the name, so its trade columns read "Entry_['SMA10']";
    backtestkit names the line by the one name: "Entry_SMA10" (doc/differences.md)."""
    theirs, _ = run(ORACLE, one_named_line, DATA)
    ours, _ = run(OURS, one_named_line, DATA)
    assert [a.name for a in theirs["_strategy"]._indicators] == [["SMA10"], ["SMA20"]]
    assert [a.name for a in ours["_strategy"]._indicators] == ["SMA10", "SMA20"]
    assert "Entry_['SMA10']" in theirs["_trades"] and "Entry_SMA10" in ours["_trades"]
    renamed = ours["_trades"].rename(
        columns=lambda c: c.replace("SMA10", "['SMA10']").replace("SMA20", "['SMA20']"))
    pd.testing.assert_frame_equal(renamed, theirs["_trades"], check_dtype=False)
    assert ours["_strategy"].rsi.s.name == "SMA10"  # a Series name, which a list cannot be


@pytest.mark.parametrize("name", [5, [5], ("a", "b")])
def test_names_that_do_not_fit_are_refused_in_one_wording(name):
    def make(lib):
        class Bad(lib.Strategy):
            def init(self):
                self.I(SMA, self.data.Close, 10, name=name)

        return Bad

    with pytest.raises((TypeError, ValueError), match=r"^The 'name' parameter of Strategy.I must be"):
        run(OURS, make, DATA)


# --- data columns added in init() ------------------------------------------------------------------


def added_column(lib: Library) -> type:
    class AddsColumn(lib.Strategy):
        def init(self):
            self.data.df["Mid"] = (self.data.High + self.data.Low) / 2
            self.data.df["Trend"] = SMA(self.data.df.Close, 20).to_numpy()

        def next(self):
            above = self.data.Mid[-1] > self.data.Trend[-1]
            if above and not self.position.is_long:
                self.position.close()
                self.buy()
            elif not above and not self.position.is_short:
                self.position.close()
                self.sell()

    return AddsColumn


def test_columns_added_to_data_df_in_init_are_data_attributes():
    _, ours = assert_same(added_column, DATA, exercises=lambda s: s["# Trades"] > 5)


def test_columns_added_in_init_stay_in_that_run():
    bt = backtestkit.Backtest(DATA, added_column(OURS), finalize_trades=True)
    first, second = bt.run(), bt.run()
    assert_same_stats(second, first)
    assert "Mid" not in bt._data.columns and list(DATA.columns) == ["Open", "High", "Low", "Close", "Volume"]


# --- next() rebound during a run -----------------------------------------------------------------


def stops_after_five_trades(lib: Library) -> type:
    base = sma_cross(lib)

    def next_(self):
        base.next(self)
        if len(self.closed_trades) >= 5:
            self.next = lambda: None  # stop trading: the open trade stays until the end

    return sma_cross(lib, next=next_)


def test_rebinding_next_takes_effect_from_the_next_bar():
    _, ours = assert_same(stops_after_five_trades, DATA, exercises=lambda s: s["# Trades"] == 5)
    assert len(ours["_strategy"].trades) == 1  # the sixth, held to the end: no more crossovers acted on


def test_next_rebound_in_init_or_deleted_mid_run():
    calls = []

    class Rebinds(backtestkit.Strategy):
        def init(self):
            self.next = self.first

        def first(self):
            calls.append(("first", len(self.data)))
            if len(self.data) == 3:
                del self.next  # back to the class's next() from bar 4 on

        def next(self):
            calls.append(("next", len(self.data)))

    backtestkit.Backtest(DATA.iloc[:5], Rebinds).run()
    assert calls == [("first", 2), ("first", 3), ("next", 4), ("next", 5)]  # next() starts on bar 2


# --- resample_apply with functions that drop the index -------------------------------------------


def weekly_trend(returns: str) -> Any:
    def make(lib: Library) -> type:
        resample_apply = lib.resample_apply

        def sma(series, n):
            values = SMA(series, n).to_numpy()
            return {"series": pd.Series(values), "list": list(values), "array": values,
                    "frame": pd.DataFrame({"sma": values, "twice": values * 2})}[returns]

        class Weekly(lib.Strategy):
            def init(self):
                self.weekly = resample_apply("W-FRI", sma, self.data.Close, 4)

            def next(self):
                level = self.weekly[-1] if self.weekly.ndim == 1 else self.weekly[0][-1]
                if self.data.Close[-1] > level and not self.position.is_long:
                    self.position.close()
                    self.buy()
                elif self.data.Close[-1] < level and not self.position.is_short:
                    self.position.close()
                    self.sell()

        return Weekly

    return make


@pytest.mark.parametrize("returns", ["series", "list", "array", "frame"])
def test_resample_apply_takes_values_without_the_resampled_index(returns):
    assert_same(weekly_trend(returns), DATA, exercises=lambda s: s["# Trades"] > 5)


def test_resample_apply_refuses_values_it_cannot_line_up():
    from backtestkit.lib import resample_apply

    close = DATA["Close"]
    with pytest.raises(ValueError, match=r"^The 'func' parameter of resample_apply must be a function "
                                         r"returning one value per resampled bar \(\d+\)"):
        resample_apply("W-FRI", lambda s: pd.Series(s.to_numpy()[1:]), close)


# --- vendor data with Open or Close a little outside [Low, High] ---------------------------------


def inconsistent(data: pd.DataFrame) -> pd.DataFrame:
    """Every 50th bar's Open 0.1% above its High, every 70th bar's Close 0.1% below its Low."""
    data = data.copy()
    data.iloc[::50, 0] = data["High"].iloc[::50] * 1.001
    data.iloc[5::70, 3] = data["Low"].iloc[5::70] * 0.999
    return data


def test_slightly_inconsistent_bars_run_as_in_backtesting_py():
    """Market orders fill at the Open and equity is marked at the Close, which stay as given: the
    same trades and stats as backtesting.py, and one warning naming the bars."""
    data = inconsistent(DATA)
    theirs, _ = run(ORACLE, sma_cross, data)
    ours, told = run(OURS, sma_cross, data)
    assert_same_stats(ours, theirs)
    messages = [str(w.message) for w in told if "outside [Low, High]" in str(w.message)]
    assert messages == [
        "The 'data' parameter of Backtest: 21 rows have Open or Close outside [Low, High] "
        "(2004-08-19, 2004-08-26, 2004-10-29, ...). Their High and Low are widened to include Open and "
        "Close, the prices the bar traded at."]


def test_a_stop_loss_the_close_went_through_is_filled():
    """Bar 3 closes at 98.5, below its reported Low of 99.5: the bar traded through the stop-loss at 99.
    backtesting.py, trusting the Low, leaves the stop until bar 4 gaps below it; backtestkit widens bar 3
    to [98.5, 103] and fills the stop there (doc/differences.md)."""
    data = pd.DataFrame({"Open": [100.0, 100.0, 100.0, 101.0, 98.0, 98.0],
                         "High": [101.0, 101.0, 101.0, 103.0, 98.5, 98.5],
                         "Low": [99.0, 99.0, 99.5, 99.5, 97.5, 97.5],
                         "Close": [100.0, 100.0, 100.0, 98.5, 98.0, 98.0]},
                        index=pd.date_range("2024-01-01", periods=6))

    def make(lib):
        class Guarded(lib.Strategy):
            def init(self):
                pass

            def next(self):
                if len(self.data) == 2:
                    self.buy(size=10, sl=99)

        return Guarded

    theirs, _ = run(ORACLE, make, data)
    ours, _ = run(OURS, make, data)
    # both: buy 10 at bar 2's Open (100); bar 2's Low 99.5 stays above the stop at 99.
    # backtesting.py: bar 3's Low 99.5 > 99, no fill; bar 4 opens at 98, below the stop: out at 98.
    assert theirs["_trades"][["EntryPrice", "ExitBar", "ExitPrice"]].values.tolist() == [[100.0, 4, 98.0]]
    # backtestkit: bar 3 is [98.5, 103]; it opens at 101, above the stop, and trades down to it: out at 99.
    assert ours["_trades"][["EntryPrice", "ExitBar", "ExitPrice"]].values.tolist() == [[100.0, 3, 99.0]]


# --- warnings users filter by their words ---------------------------------------------------------


def test_the_margin_warning_says_insufficient_margin():
    def make(lib):
        class TooBig(lib.Strategy):
            def init(self):
                pass

            def next(self):
                if len(self.data) == 5:
                    self.buy(size=10**6)

        return TooBig

    for lib in (ORACLE, OURS):
        _, told = run(lib, make, DATA.iloc[:20])
        assert any("insufficient margin" in str(w.message) for w in told), lib
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*insufficient margin")  # a user's filter line
        backtestkit.Backtest(DATA.iloc[:20], make(OURS)).run()


def test_the_same_bar_bracket_and_open_trades_warnings_start_with_backtesting_pys_words():
    # a limit entry filled inside a bar that also reaches its take-profit, left open at the end
    flat = [(100, 101, 99, 100)]
    bars = pd.DataFrame(flat * 2 + [(100, 106, 95, 105)] + flat * 3, columns=["Open", "High", "Low", "Close"],
                        index=pd.date_range("2020-01-01", periods=6))

    def make(lib):
        class SameBar(lib.Strategy):
            def init(self):
                pass

            def next(self):
                if len(self.data) == 2:
                    self.buy(size=1, limit=98, sl=90, tp=106)  # 106 may have traded before 98

        return SameBar

    user_filters = [".*would execute in the same bar", "Some trades remain open at the end of backtest"]
    for lib in (ORACLE, OURS):
        _, told = run(lib, make, bars)
        messages = [str(w.message) for w in told]
        assert all(any(re.match(f, m) for m in messages) for f in user_filters), (lib, messages)


# --- plot(): file names, what cannot be drawn, pickled results, fractional units -------------------


def plotted_files(lib: Library, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(folder)
    bt = lib.Backtest(DATA, PICKLABLE[lib])

    def plots():
        bt.run()
        bt.plot(filename="chart", open_browser=False)
        bt.plot(open_browser=False)
        bt.run(n1=5)
        bt.plot(open_browser=False)
        bt.optimize(n1=[5, 10], n2=[15, 20], maximize="Equity Final [$]")
        bt.plot(open_browser=False)

    record(plots)
    return sorted(path.name for path in folder.iterdir())


def test_plot_file_names_are_backtesting_pys(tmp_path, monkeypatch):
    (tmp_path / "oracle").mkdir()
    (tmp_path / "ours").mkdir()
    theirs = plotted_files(ORACLE, tmp_path / "oracle", monkeypatch)
    assert plotted_files(OURS, tmp_path / "ours", monkeypatch) == theirs
    assert theirs == ["SmaCross(n1=10,n2=15).html", "SmaCross(n1=5).html", "SmaCross.html", "chart.html"]


def test_indicators_that_are_not_numbers_are_left_out_of_the_chart(tmp_path):
    def make(lib):
        class Labels(lib.Strategy):
            def init(self):
                self.sma = self.I(SMA, self.data.Close, 10)
                # not attributes: backtesting.py's warm-up fails on text attributes (in run())
                self.I(lambda: ["x"] * len(self.data), name="label")
                self.I(lambda: self.data.index.to_numpy(), name="when")
                self.I(lambda: np.array([None, *[1.0] * (len(self.data) - 1)], dtype=object))

            def next(self):
                pass

        return Labels

    theirs = ORACLE.Backtest(DATA, make(ORACLE))
    record(theirs.run)
    record(lambda: theirs.plot(filename=str(tmp_path / "oracle.html"), open_browser=False))  # no error
    bt = backtestkit.Backtest(DATA, make(OURS))
    bt.run()
    with pytest.warns(UserWarning) as told:
        layout = bt.plot(filename=tmp_path / "chart.html", open_browser=False)
    assert [str(w.message) for w in told] == [
        "Backtest.plot: indicator 'label' is left out of the chart: its values are not numbers (dtype <U1).",
        "Backtest.plot: indicator 'when' is left out of the chart: its values are not numbers "
        f"(dtype {DATA.index.to_numpy().dtype})."]  # datetime64[us] on pandas 3, [ns] on pandas 2
    assert told[0].filename == __file__
    legends = _legend_labels(layout)
    assert "SMA(C,10)" in legends and "λ" in legends and not {"label", "when"} & legends


def _legend_labels(layout: Any) -> set[str]:
    from bokeh.models import Legend

    return {item.label["value"] for legend in layout.select({"type": Legend}) for item in legend.items}


def test_pickled_results_keep_indicator_names_and_plot_options(tmp_path):
    def strategy(lib):
        return lambda _: PICKLABLE[lib]

    # pickled and unpickled, as results come back from another process
    results = {lib: pickle.loads(pickle.dumps(run(lib, strategy(lib), DATA)[0])) for lib in (ORACLE, OURS)}
    for stats in results.values():
        fast, slow = stats["_strategy"]._indicators
        assert fast.name == "fast" and fast._opts["color"] == "red" and fast._opts["overlay"] is True
        assert slow.name == "SMA(C,20)" and slow._opts["plot"] is True
    bt = backtestkit.Backtest(DATA, PICKLABLE[OURS])
    layout = bt.plot(results=results[OURS], filename=tmp_path / "c.html", open_browser=False)
    assert {"fast", "SMA(C,20)"} <= _legend_labels(layout)


def test_fractional_backtest_charts_whole_units(tmp_path):
    from backtestkit.lib import FractionalBacktest

    unit = 1e-4
    bt = FractionalBacktest(DATA, sma_cross(OURS), fractional_unit=unit, cash=10_000, finalize_trades=True)
    stats = bt.run()
    layout = bt.plot(filename=tmp_path / "f.html", open_browser=False)
    source = layout.select_one({"name": "candles"}).data_source.data
    np.testing.assert_allclose(source["Close"], DATA["Close"].to_numpy())  # as the trades' prices are
    np.testing.assert_allclose(source["Volume"], DATA["Volume"].to_numpy())
    sma = source["indicator0_0"]  # SMA(C,10), drawn over the candles: in whole units too
    np.testing.assert_allclose(sma[20:], SMA(DATA["Close"], 10).to_numpy()[20:])
    entry = stats["_trades"]["EntryPrice"].iloc[0]
    assert DATA["Low"].min() <= entry <= DATA["High"].max()


# --- what tutorials import ----------------------------------------------------------------------------


def test_backtesting_test_names_have_counterparts():
    from backtesting.test import EURUSD as THEIR_EURUSD

    from backtestkit.test import EURUSD, GOOG  # noqa: N811
    from backtestkit.test import SMA as OUR_SMA

    assert list(GOOG.columns) == list(EURUSD.columns) == list(THEIR_EURUSD.columns)
    assert (GOOG.index[1:] - GOOG.index[:-1]).min() == pd.Timedelta("1D")
    assert (EURUSD.index[1] - EURUSD.index[0]) == pd.Timedelta("1h")
    values = DATA["Close"]
    pd.testing.assert_series_equal(OUR_SMA(values, 10), SMA(values, 10))
    GOOG.iloc[0, 0] = -1  # a fresh copy each import: changing one changes no other
    from backtestkit.test import GOOG as AGAIN

    assert AGAIN.iloc[0, 0] > 0


@pytest.fixture()
def notebook(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """A Jupyter kernel, as far as the chart can tell; collects what goes to the notebook."""
    import bokeh.io.notebook

    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(_output, "_bokehjs_loaded", False)
    monkeypatch.setattr(_settings, "notebook_output", None)
    published: list[dict] = []
    monkeypatch.setattr(bokeh.io.notebook, "publish_display_data",
                        lambda data, *args, **kwargs: published.append(data))
    return published


def test_set_bokeh_output_chooses_files_or_inline(notebook, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bt = backtestkit.Backtest(DATA, sma_cross(OURS))
    record(bt.run)
    backtestkit.set_bokeh_output(notebook=False)
    bt.plot(open_browser=False)
    assert [p.name for p in tmp_path.iterdir()] == ["SmaCross.html"] and notebook == []
    backtestkit.set_bokeh_output(notebook=True)
    bt.plot(open_browser=False)
    assert len(notebook) > 0 and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(TypeError,
                       match=r"^The 'notebook' parameter of set_bokeh_output must be True, False or None"):
        backtestkit.set_bokeh_output(notebook="yes")


def test_a_notebook_gets_bokehjs_once_then_only_each_charts_data(notebook, tmp_path):
    bt = backtestkit.Backtest(DATA, sma_cross(OURS))
    record(bt.run)

    def sent() -> int:
        return sum(len(str(value)) for data in notebook for value in data.values())

    bt.plot(open_browser=False)
    first = sent()
    bt.plot(open_browser=False)
    second = sent() - first
    assert first > 1_000_000  # BokehJS, inline: no network needed
    assert second < 300_000  # the chart's data and a few lines to draw it
    assert "cdn.bokeh.org" not in str(notebook)


# --- the chart's axes -----------------------------------------------------------------------------------


def test_volume_axis_has_few_labels_and_no_minor_ticks(tmp_path):
    bt = backtestkit.Backtest(DATA, sma_cross(OURS))
    record(bt.run)
    layout = bt.plot(filename=tmp_path / "c.html", open_browser=False)
    (volume,) = [panel for panel, *_ in layout.children if panel.name == "volume"]
    assert volume.yaxis[0].ticker.desired_num_ticks <= 3
    assert volume.yaxis[0].minor_tick_line_color is None


def test_dates_tick_at_round_periods(tmp_path):
    from bokeh.models import CustomJSTicker

    bt = backtestkit.Backtest(DATA, sma_cross(OURS))
    record(bt.run)
    layout = bt.plot(filename=tmp_path / "c.html", open_browser=False)
    panels = [panel for panel, *_ in layout.children]
    ticker = panels[-1].xaxis[0].ticker
    assert isinstance(ticker, CustomJSTicker) and "year" in ticker.major_code
    assert all(panel.xgrid[0].ticker is ticker for panel in panels)  # grid lines on the ticks


def test_pages_carry_nothing_another_library_left_in_bokehs_global_document(tmp_path):
    # backtesting.py's plot() registers a page callback (a tracking pixel) on bokeh's curdoc()
    from bokeh.io import curdoc
    from bokeh.models import CustomJS

    curdoc().js_on_event("document_ready", CustomJS(code="window.leaked = 'plx'"))
    try:
        index = pd.MultiIndex.from_product([[1, 2], [3, 4]], names=["a", "b"])
        path = tmp_path / "h.html"
        backtestkit.lib.plot_heatmaps(pd.Series([1.0, 2, 3, 4], index=index), filename=str(path),
                                      open_browser=False)
        assert "window.leaked" not in path.read_text(encoding="utf-8")
    finally:
        curdoc().callbacks._js_event_callbacks.clear()
