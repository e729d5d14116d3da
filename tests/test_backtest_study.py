"""Backtest.optimize with studies: every run's stats kept, saved and resumed; the engine seam;
the checks made before any run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit._objective import NUMERIC_KEYS
from backtestkit.datasets import load_daily
from backtestkit.lib import FractionalBacktest, MultiBacktest
from backtestkit.optimize import StoreError, load_study
from tests.test_backtest import SmaCross

DATA = load_daily().iloc[:500]
GRID = dict(n1=[5, 10, 15], n2=[10, 20, 40], constraint=lambda p: p.n1 < p.n2)


def optimize(bt=None, **kwargs):
    bt = bt or Backtest(DATA, SmaCross, commission=0.002, finalize_trades=True)
    return bt.optimize(**{**GRID, "n_jobs": 1, "show_progress": False, **kwargs})


def test_the_study_keeps_every_numeric_stat_of_every_run():
    stats, heatmap, study = optimize(maximize="Sharpe Ratio", return_heatmap=True, return_study=True)
    assert len(study) == 7 and study.metric_names == NUMERIC_KEYS
    pd.testing.assert_series_equal(study.heatmap(), heatmap)
    best = study.best_trial
    assert best.params == {"n1": int(stats["_strategy"].n1), "n2": int(stats["_strategy"].n2)}
    for key in NUMERIC_KEYS:  # the stored stats are the run's, to the last bit
        expected = float(stats.get(key, math.nan))
        assert best.metrics[key] == expected or (math.isnan(expected) and math.isnan(best.metrics[key])), key
    assert study.info["strategy"] == "SmaCross" and study.info["settings"]["commission"] == 0.002
    assert study.info["data"]["bars"] == 500 and study.info["constraint"] == "lambda p: p.n1 < p.n2"


def test_saved_study_resumes_without_running_again(tmp_path, monkeypatch):
    first = optimize(study=tmp_path / "runs.db", return_study=True)[1]
    runs = []
    original = SmaCross.init
    monkeypatch.setattr(SmaCross, "init", lambda self: runs.append(1) or original(self))
    stats, again = optimize(study=tmp_path / "runs.db", return_study=True)
    assert len(runs) == 1  # only the returned best run
    pd.testing.assert_frame_equal(again.trials_dataframe(), first.trials_dataframe())
    assert load_study(tmp_path / "runs.db", "SmaCross").best_params == first.best_params


def test_a_study_with_other_data_or_settings_is_not_resumed(tmp_path):
    optimize(study=tmp_path / "runs.db")
    other = Backtest(DATA.iloc[:400], SmaCross, commission=0.002, finalize_trades=True)
    with pytest.raises(StoreError, match=r"What changed: data \(.*\)\. A study resumes only the very same"):
        optimize(other, study=tmp_path / "runs.db")
    cheaper = Backtest(DATA, SmaCross, commission=0.001, finalize_trades=True)
    with pytest.raises(StoreError, match=r"What changed: settings \("):
        optimize(cheaper, study=tmp_path / "runs.db")
    optimize(cheaper, study=tmp_path / "runs.db", study_name="cheaper")  # a new name starts a new study


def test_a_callable_objective_sees_what_run_shows_under_fractional_backtest():
    seen = []

    def entry_price(stats):
        seen.append(stats["_trades"]["EntryPrice"].iloc[0])
        return stats["Return [%]"]

    bt = FractionalBacktest(DATA, SmaCross, commission=0.002, finalize_trades=True, fractional_unit=1e-3)
    stats = optimize(bt, maximize=entry_price, n1=[10], n2=[20], constraint=None)
    # the objective saw the trades in whole units, as run() reports them
    assert seen == [stats["_trades"]["EntryPrice"].iloc[0]] and seen[0] > 10


def test_a_strategy_parameter_named_like_an_option_given_is_refused():
    class Clash(SmaCross):
        method = "ema"
        metrics = 2

    with pytest.raises(ValueError, match=r"^Clash has parameters named like options of Backtest.optimize "
                                         r"\('method', 'metrics'\), so they cannot be searched over: the "
                                         r"values given go to the options. Rename them in the strategy, e.g. "
                                         r"method_ instead of method.$"):
        optimize(Backtest(DATA, Clash), method="random", max_tries=3, metrics=["SQN"])
    stats = optimize(Backtest(DATA, Clash), method="grid")  # options not given, or at their defaults
    assert (stats["_strategy"].method, stats["_strategy"].metrics) == ("ema", 2)  # as in backtesting.py


def test_no_trades_anywhere_is_said_not_hidden():
    class Never(Strategy):
        n = 1

        def next(self):
            pass

    with pytest.warns(UserWarning, match=r"^Every one of the 3 runs scored NaN \(3 no trades\): there is no "
                                         r"best parameter set"):
        Backtest(DATA, Never).optimize(n=[1, 2, 3], n_jobs=1, show_progress=False)


def test_an_objective_must_return_a_real_number():
    with pytest.raises(TypeError, match=r"for the combination n1=5, n2=10: The objective must return a real "
                                        r"number \(or NaN\). Got '7' of type str instead.$"):
        optimize(maximize=lambda stats: "7")
    with pytest.raises(TypeError, match=r"Got None of type NoneType instead"):
        optimize(maximize=lambda stats: None)
    assert optimize(maximize=lambda stats: np.float32(1.5))["_strategy"].n1 == 5  # numpy numbers are fine


def test_multibacktest_keeps_a_study_per_data_set(tmp_path):
    multi = MultiBacktest([DATA, DATA.iloc[:300]], SmaCross, commission=0.002, finalize_trades=True)
    frame, studies = multi.optimize(**GRID, n_jobs=1, show_progress=False, study=tmp_path / "m.db",
                                    return_study=True)
    assert list(frame.columns) == [0, 1] and [s.name for s in studies] == ["SmaCross[0]", "SmaCross[1]"]
    pd.testing.assert_series_equal(frame[1], studies[1].heatmap(), check_names=False)
    assert len(load_study(tmp_path / "m.db", "SmaCross[1]")) == 7
