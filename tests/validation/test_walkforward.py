"""Tests for backtestkit.validation.walk_forward: the windows tile the data, the searches never see a
test bar, the stitched run equals the test windows run one after another, and an interruption keeps
the finished windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bokeh.models import LayoutDOM
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.optimize import load_study
from backtestkit.test import SMA
from backtestkit.validation import (
    WalkForwardInterrupted,
    WalkForwardResult,
    walk_forward,
    walk_forward_windows,
)

QUIET = {"n_jobs": 1, "show_progress": False}
SEEN: list = []  # the last bar each run's init() saw (runs are in this process with n_jobs=1)


class Trend(Strategy):
    n = 20

    def init(self) -> None:
        SEEN.append(len(self.data))
        self.sma = self.I(SMA, self.data.Close, self.n)

    def next(self) -> None:
        if self.data.Close[-1] > self.sma[-1] and not self.position:
            self.buy()
        elif self.data.Close[-1] < self.sma[-1] and self.position:
            self.position.close()


@pytest.fixture(scope="module")
def bt() -> Backtest:
    return Backtest(load_daily().iloc[:1200], Trend, commission=0.001)


@pytest.fixture(scope="module")
def result(bt) -> WalkForwardResult:
    return walk_forward(bt, train=400, test=200, n=[5, 20, 50], maximize="Return [%]", **QUIET)


# --- the windows ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(n=st.integers(4, 300), train=st.integers(2, 150), test=st.integers(1, 150), anchored=st.booleans())
def test_test_windows_tile_the_data_and_follow_their_training_windows(n, train, test, anchored):
    if train >= n:
        return
    windows = walk_forward_windows(pd.RangeIndex(n), train, test, anchored=anchored)
    assert windows[0].test_start == train and windows[-1].test_stop == n
    for previous, window in zip(windows, windows[1:], strict=False):
        assert window.test_start == previous.test_stop  # no gap, no overlap
    for window in windows:
        assert 0 < window.test_stop - window.test_start <= test
        assert window.train_stop == window.test_start  # the search ends where the test starts
        assert window.train_start == (0 if anchored else window.test_start - train)


@settings(max_examples=100, deadline=None)
@given(days=st.integers(20, 400), train_days=st.integers(2, 200), test_days=st.integers(1, 100))
def test_offset_windows_tile_the_data_and_span_their_lengths(days, train_days, test_days):
    index = pd.bdate_range("2020-01-01", periods=days)
    if index[0] + pd.Timedelta(days=train_days) > index[-1]:
        return
    try:
        windows = walk_forward_windows(index, f"{train_days}D", f"{test_days}D")
    except ValueError as exc:  # a training window of fewer than 2 bars (a weekend) is refused
        assert "needs at least 2" in str(exc)
        return
    assert windows[-1].test_stop == days
    for previous, window in zip(windows, windows[1:], strict=False):
        assert window.test_start == previous.test_stop
    for window in windows:
        start = index[window.test_start]
        assert index[window.test_stop - 1] < start + pd.Timedelta(days=test_days)
        assert index[window.train_start] >= start - pd.Timedelta(days=train_days)
        before = start - pd.Timedelta(days=train_days)
        assert window.train_start == 0 or index[window.train_start - 1] < before


# --- the walk -------------------------------------------------------------------------------------


def test_stitched_run_equals_the_test_windows_run_one_after_another(bt, result):
    data, cash, curves, n_trades = bt._data, 10_000.0, [], 0
    assert list(result.windows["test start"]) == list(data.index[[400, 600, 800, 1000]])
    for (_, row), params in zip(result.windows.iterrows(), result.params, strict=True):
        first, last = data.index.get_loc(row["test start"]), data.index.get_loc(row["test end"]) + 1
        run = Backtest(data, Trend, commission=0.001, cash=cash).window(first, last).run(**params)
        curves.append(run["_equity_curve"]["Equity"])
        cash, n_trades = run["Equity Final [$]"], n_trades + run["# Trades"]
        assert row["OOS Return [%]"] == pytest.approx(run["Return [%]"])
    pd.testing.assert_series_equal(result.equity, pd.concat(curves), check_names=False)
    assert result.stats["Equity Final [$]"] == cash and result.stats["# Trades"] == n_trades
    assert result.stats["Start"] == data.index[400] and result.stats["End"] == data.index[-1]


def test_stats_have_the_keys_of_run_and_come_from_the_stitched_run(bt, result):
    assert list(result.stats.index) == list(bt.window(0).run().index)
    trades = result.stats["_trades"]
    assert trades["EntryBar"].is_monotonic_increasing and trades["ExitBar"].max() < 800
    assert result.stats["Return [%]"] == pytest.approx(
        (result.equity.iloc[-1] / 10_000 - 1) * 100)


def test_each_window_picks_the_best_of_its_own_search(bt, result):
    rows = result.windows.iterrows()
    for study, params, (_, row) in zip(result.studies, result.params, rows, strict=True):
        assert params == study.best_params
        assert row["n"] == params["n"]
        assert study.info["data"]["last"] == str(row["train end"].date())
    in_sample = result.windows["IS Return (Ann.) [%]"].mean()
    assert result.efficiency == pytest.approx(result.stats["Return (Ann.) [%]"] / in_sample)


def test_no_bar_of_a_test_window_is_seen_by_its_search(bt):
    seen_before = []

    def snapshot(study):  # runs right after a window's search, before its test run
        seen_before.append(max(SEEN))
        SEEN.clear()
        return study.best_params

    SEEN.clear()
    found = walk_forward(bt, train=300, test=300, anchored=True, select=snapshot, n=[10, 30], **QUIET)
    starts = [bt._data.index.get_loc(start) for start in found.windows["test start"]]
    assert len(seen_before) == len(starts) == 3
    for seen, start in zip(seen_before, starts, strict=True):
        assert seen == start  # init() saw bars 0 .. start - 1: the training window's end, no test bar


def test_a_select_callable_picks_each_window_parameters(bt):
    def shortest(study):
        return {"n": int(study.trials_dataframe()["n"].min())}

    found = walk_forward(bt, train=400, test=400, select=shortest, n=[30, 10, 50], **QUIET)
    assert found.params == [{"n": 10}, {"n": 10}]


def test_interruption_keeps_the_finished_windows(bt, tmp_path):
    calls = []

    def stop_at_third(study):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return study.best_params

    with pytest.raises(WalkForwardInterrupted, match=r"walk_forward was interrupted after 2 of 4 windows\. "
                       r"Their result is in this exception's \.result .* To go on, pass "
                       r"study='walk_forward.db'") as info:
        walk_forward(bt, train=400, test=200, select=stop_at_third, n=[5, 20], **QUIET)
    partial = info.value.result
    assert len(partial.windows) == 2 and partial.stats["End"] == bt._data.index[799]


def test_stored_searches_are_kept_per_window_and_answer_a_rerun(bt, tmp_path):
    path = tmp_path / "wf.db"
    first = walk_forward(bt, train=600, test=300, n=[10, 20], study=path, **QUIET)
    assert [load_study(path, f"Trend[window {k}]").best_params for k in (1, 2)] == first.params
    again = walk_forward(bt, train=600, test=300, n=[10, 20], study=path, **QUIET)
    pd.testing.assert_series_equal(again.equity, first.equity)


def test_result_reports_and_plots(result, tmp_path):
    assert isinstance(result.report_section(), LayoutDOM)
    assert "Walk-forward" in result.write_report(tmp_path / "wf.html").read_text(encoding="utf-8")
    result.plot(filename=str(tmp_path / "chart.html"), open_browser=False)
    result.plot_drift(filename=str(tmp_path / "drift.html"), open_browser=False)
    assert (tmp_path / "chart.html").exists() and (tmp_path / "drift.html").exists()
    assert "4 windows" in repr(result)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"train": 1}, ValueError, r"The 'train' parameter of walk_forward must be a bar count >= 2 or a pandas "
                               r"offset such as '365D'. Got 1 instead."),
    ({"train": 1200}, ValueError, r"walk_forward has no test window: train=1200 leaves no bar of the 1200 "
                                  r"to test on."),
    ({"test": "fortnight"}, ValueError, r"The 'test' parameter of walk_forward must be a bar count >= 1 or a "
                                        r"pandas offset such as '365D'. Got 'fortnight' instead."),
    ({"test": 2.5}, TypeError, r"The 'test' parameter of walk_forward must be"),
    ({"train": "20000D"}, ValueError, r"walk_forward has no test window"),
    ({"anchored": "yes"}, TypeError, r"The 'anchored' parameter of walk_forward must be True or False."),
    ({"select": 3}, TypeError, r"The 'select' parameter of walk_forward must be 'best' or a callable"),
    ({"return_heatmap": True}, ValueError, r"walk_forward does not take 'return_heatmap'"),
])
def test_bad_arguments_raise_before_any_run(bt, kwargs, exc, match):
    SEEN.clear()
    with pytest.raises(exc, match=match):
        walk_forward(bt, **{"train": 400, "test": 200, "n": [5, 10], **QUIET, **kwargs})
    assert SEEN == []


def test_offsets_need_dates():
    bt = Backtest(load_daily().reset_index(drop=True).iloc[:300], Trend)
    with pytest.raises(TypeError, match=r"The 'train' parameter of walk_forward must be a bar count \(the "
                                        r"data has no DatetimeIndex for an offset\)"):
        walk_forward(bt, train="100D", test=50, n=[5])


def test_results_do_not_depend_on_n_jobs(bt, result):
    parallel = walk_forward(bt, train=400, test=200, n=[5, 20, 50], maximize="Return [%]", n_jobs=2,
                            show_progress=False)
    assert parallel.params == result.params
    np.testing.assert_array_equal(parallel.equity.to_numpy(), result.equity.to_numpy())
