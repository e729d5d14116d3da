"""Tests for backtestkit.validation.holdout: the split, the in- and out-of-sample values of every
candidate, the selection rule, the final holdout and the rank correlation."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from bokeh.models import LayoutDOM

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.test import SMA
from backtestkit.validation import HoldoutResult, holdout
from backtestkit.validation._holdout import rank_correlation

GRID = {"n1": [5, 10, 20], "n2": [30, 60]}
QUIET = {"n_jobs": 1, "show_progress": False}


class SmaCross(Strategy):
    n1 = 10
    n2 = 30

    def init(self) -> None:
        self.a = self.I(SMA, self.data.Close, self.n1)
        self.b = self.I(SMA, self.data.Close, self.n2)

    def next(self) -> None:
        if crossover(self.a, self.b):
            self.buy()
        elif crossover(self.b, self.a):
            self.position.close()


@pytest.fixture(scope="module")
def bt() -> Backtest:
    return Backtest(load_daily().iloc[:1000], SmaCross)


@pytest.fixture(scope="module")
def result(bt) -> HoldoutResult:
    return holdout(bt, train=0.6, final=200, top=4, maximize="Return [%]", **GRID, **QUIET)


def test_the_search_sees_only_the_training_bars(bt, result):
    # 1000 bars, the last 200 the final holdout; 60% of the other 800 train: bars 0..479
    index = bt._data.index
    assert result.study.info["data"]["bars"] == 480
    assert result.study.info["data"]["last"] == str(index[479].date())
    assert result.test_stats["Start"] == index[480] and result.test_stats["End"] == index[799]
    assert result.final_stats["Start"] == index[800] and result.final_stats["End"] == index[999]
    assert result.periods == {"train": f"{index[0].date()} – {index[479].date()}",
                              "test": f"{index[480].date()} – {index[799].date()}",
                              "final": f"{index[800].date()} – {index[999].date()}"}


def test_each_candidate_in_and_out_of_sample_equals_its_own_runs(bt, result):
    table = result.table
    assert len(table) == 4 and list(table.columns[:3]) == ["n1", "n2", "selected"]
    assert list(table["IS Return [%]"]) == sorted(table["IS Return [%]"], reverse=True)  # best first
    for _, row in table.iterrows():
        params = {"n1": row["n1"], "n2": row["n2"]}
        train, test = bt.window(0, 480).run(**params), bt.window(480, 800).run(**params)
        for key in ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]"):
            assert row[f"IS {key}"] == pytest.approx(train[key], nan_ok=True), key
            assert row[f"OOS {key}"] == pytest.approx(test[key], nan_ok=True), key
    assert table["selected"].tolist() == [True, False, False, False]
    assert result.params == {"n1": table["n1"][0], "n2": table["n2"][0]}
    assert result.rank_correlation == pytest.approx(
        rank_correlation(table["IS Return [%]"], table["OOS Return [%]"]), nan_ok=True)


def test_a_select_callable_picks_the_parameters(bt):
    def worst(study):
        frame = study.trials_dataframe()
        row = frame.loc[frame["value"].idxmin()]
        return {"n1": row["n1"], "n2": row["n2"]}

    found = holdout(bt, train=500, top=2, select=worst, maximize="Return [%]", **GRID, **QUIET)
    assert len(found.table) == 3  # the 2 best, and the selected worst added after them
    assert found.table["selected"].tolist() == [False, False, True]
    assert found.params == worst(found.study)
    assert found.test_stats["Return [%]"] == bt.window(500).run(**found.params)["Return [%]"]
    assert found.final_stats is None


def test_train_by_date_ends_on_that_date(bt):
    found = holdout(bt, train="2016-12-31", top=1, **GRID, **QUIET)
    assert found.study.info["data"]["last"] == "2016-12-30"
    assert found.test_stats["Start"] == pd.Timestamp("2017-01-02")


@pytest.mark.parametrize("x, y, expected", [
    ([1, 2, 3], [3, 2, 1], -1.0),
    ([1, 2, 3, 4], [10, 30, 20, 40], 0.8),  # ranks 1 2 3 4 vs 1 3 2 4: 1 - 6 * 2 / (4 * 15)
    ([1, 2], [1, 2], math.nan),  # too few pairs
    ([1, 2, 3, float("nan")], [1, 1, 1, 5], math.nan),  # constant once NaN pairs are left out
])
def test_rank_correlation(x, y, expected):
    assert rank_correlation(pd.Series(x, dtype=float), pd.Series(y, dtype=float)) == pytest.approx(
        expected, nan_ok=True)


def test_report_section_page_and_plot(result, tmp_path):
    assert isinstance(result.report_section(), LayoutDOM)
    page = result.write_report(tmp_path / "holdout.html")
    assert "Holdout" in page.read_text(encoding="utf-8")
    result.plot(filename=str(tmp_path / "plot.html"), open_browser=False)
    assert (tmp_path / "plot.html").exists()
    assert "rank correlation" in repr(result)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"train": 1.5}, ValueError, r"The 'train' parameter of holdout must be a fraction in \(0, 1\), a bar "
                                 r"count >= 2, or a timestamp or date string in the data. Got 1.5 instead."),
    ({"train": "2030-01-01"}, ValueError, r"The 'train' parameter of holdout must be"),
    ({"train": 999}, ValueError, r"holdout needs at least 2 bars to train on and 2 to test on: train=999 "
                                 r"and final=None leave 999 and 1 of 1000 bars."),
    ({"final": True}, TypeError, r"The 'final' parameter of holdout must be"),
    ({"top": 0}, ValueError, r"The 'top' parameter of holdout must be an int >= 1. Got 0 instead."),
    ({"select": "plateau"}, ValueError, r"The 'select' parameter of holdout must be 'best' or a callable"),
    ({"return_study": True}, ValueError, r"holdout does not take 'return_study'"),
])
def test_bad_arguments_raise_before_any_run(bt, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        holdout(bt, **{**GRID, **QUIET, **kwargs})


def test_bt_must_be_a_backtest():
    with pytest.raises(TypeError, match=r"The 'bt' parameter of holdout must be a Backtest. Got 3 instead."):
        holdout(3)


def test_report_section_goes_into_the_study_report(result, tmp_path):
    page = result.study.write_report(tmp_path / "study.html", sections=[result.report_section()])
    assert "Holdout" in page.read_text(encoding="utf-8")
