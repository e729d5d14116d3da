"""Backtest.optimize(): the glue between a backtest and the search methods, end to end."""

from __future__ import annotations

import os
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest as OracleBacktest
from backtesting import Strategy as OracleStrategy
from backtesting.lib import crossover as oracle_crossover
from backtesting.test import GOOG

from backtestkit import Backtest, Strategy
from backtestkit.lib import crossover


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


def sma_cross(base, cross):
    class SmaCross(base):
        n1 = 10
        n2 = 20

        def init(self):
            self.fast = self.I(sma, self.data.Close, self.n1)
            self.slow = self.I(sma, self.data.Close, self.n2)

        def next(self):
            if cross(self.fast, self.slow):
                self.position.close()
                self.buy()
            elif cross(self.slow, self.fast):
                self.position.close()
                self.sell()

    return SmaCross


SmaCross = sma_cross(Strategy, crossover)
OracleSmaCross = sma_cross(OracleStrategy, oracle_crossover)
OracleSmaCross.__qualname__ = "OracleSmaCross"  # backtesting.py's workers import the strategy by name
DATA = GOOG.iloc[:600]
GRID = dict(n1=range(5, 30, 5), n2=[10, 20, 40, 60], constraint=lambda p: p.n1 < p.n2)


def optimize(**kwargs):
    bt = Backtest(DATA, SmaCross, commission=0.002)
    return bt, bt.optimize(**{"n_jobs": 1, "show_progress": False, **kwargs})


def test_same_best_run_and_heatmap_as_backtesting_py():
    oracle = OracleBacktest(DATA, OracleSmaCross, commission=0.002)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, expected_heatmap = oracle.optimize(**GRID, maximize="Equity Final [$]", return_heatmap=True)
    _, (stats, heatmap) = optimize(**GRID, maximize="Equity Final [$]", return_heatmap=True)
    assert str(stats["_strategy"]) == str(expected["_strategy"])
    assert stats["Equity Final [$]"] == pytest.approx(expected["Equity Final [$]"], rel=1e-9)
    pd.testing.assert_series_equal(heatmap, expected_heatmap, check_names=False, rtol=1e-9)
    assert heatmap.name == "Equity Final [$]" and list(heatmap.index.names) == ["n1", "n2"]


def test_the_best_run_is_what_plot_and_stats_show():
    bt, stats = optimize(**GRID)
    assert bt._results is stats
    assert str(stats["_strategy"]).startswith("SmaCross(n1=")


def test_callable_objective_sees_the_trades_and_equity_curve():
    def profit_per_trade(stats):
        assert {"_trades", "_equity_curve"} <= set(stats.index)
        return stats["_trades"]["PnL"].mean()

    _, (stats, heatmap) = optimize(**GRID, maximize=profit_per_trade, return_heatmap=True)
    assert heatmap.name == "profit_per_trade"
    assert stats["_trades"]["PnL"].mean() == pytest.approx(heatmap.max())


def test_minimize_and_its_lambda_spelling_agree():
    _, (low, heatmap) = optimize(**GRID, minimize="Max. Drawdown [%]", return_heatmap=True)
    _, by_lambda = optimize(**GRID, maximize=lambda s: -s["Max. Drawdown [%]"])
    # the heatmap holds the drawdowns themselves (negative percentages): minimising picks the deepest
    assert heatmap.max() <= 0 and low["Max. Drawdown [%]"] == pytest.approx(heatmap.min())
    assert str(by_lambda["_strategy"]) == str(low["_strategy"])


@pytest.mark.parametrize(
    "kwargs, exception, match",
    [
        (dict(maximize="Sharp Ratio"), ValueError,
         r"Unknown numeric stats key 'Sharp Ratio' for Backtest.optimize\(maximize=...\). Known: .* "
         r"Did you mean 'Sharpe Ratio'\?"),
        (dict(maximize="Duration"), ValueError,
         r"^The stats key 'Duration' is not a number, so Backtest.optimize\(maximize=...\) cannot rank by "
         r"it. Rank by a numeric key such as 'Return \[%\]' or 'SQN', or pass a function stats -> float.$"),
        (dict(maximize="sqn"), ValueError,
         r"^Unknown numeric stats key 'sqn' for Backtest.optimize\(maximize=...\). Did you mean 'SQN'\?$"),
        (dict(return_heatmap=2), TypeError,
         r"^The 'return_heatmap' parameter of Backtest.optimize must be True or False. Got 2 instead.$"),
        (dict(return_heatmap="yes"), TypeError, r"'return_heatmap' parameter .* Got 'yes' instead.$"),
        (dict(return_study=0.5), TypeError, r"'return_study' parameter .* Got 0.5 instead.$"),
        (dict(maximize=3), TypeError,
         r"The 'maximize' parameter of Backtest.optimize must be a stats key or a callable"),
        (dict(maximize="Sharpe Ratio", minimize="SQN", n1=[1]), ValueError,
         r"takes 'maximize' or 'minimize', not both"),
        (dict(n3=[1, 2]), ValueError, r"Unknown parameter 'n3'"),
        (dict(n1=[5], maximise="SQN"), ValueError,  # a misspelt option is suggested, not listed
         r"^Unknown parameter 'maximise' for Backtest.optimize. Known: 'n1', 'n2'. "
         r"Did you mean 'maximize'\?$"),
        (dict(n1=[5], constriant=None), ValueError, r"Did you mean 'constraint'\?$"),
        (dict(), ValueError, r"."),
        (dict(n1=[]), ValueError, r"n1"),
        (dict(n1=[5, 10], n2=[4], constraint=lambda p: p.n1 < p.n2), ValueError, r"admissible|constraint"),
    ],
)
def test_bad_arguments_raise_before_any_run(kwargs, exception, match):
    bt = Backtest(DATA, SmaCross)
    with pytest.raises(exception, match=match):
        bt.optimize(**{"maximize": "SQN", **kwargs, "n_jobs": 1, "show_progress": False})
    assert bt._results is None


def test_runs_without_trades_rank_last():
    class Never(Strategy):
        n = 1

        def next(self):
            if self.n == 3 and len(self.data) == 100:
                self.buy()

    bt = Backtest(DATA, Never, finalize_trades=True)
    stats, heatmap = bt.optimize(n=[1, 2, 3], maximize="Equity Final [$]", return_heatmap=True, n_jobs=1,
                                 show_progress=False)
    assert heatmap.isna().tolist() == [True, True, False]  # no trade, no score: as backtesting.py
    assert str(stats["_strategy"]) == "Never(n=3)"


def test_a_failing_combination_is_named():
    class Fragile(Strategy):
        n = 1

        def next(self):
            if self.n == 2:
                raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="n=2|'n': 2"):
        Backtest(DATA, Fragile).optimize(n=[1, 2, 3], n_jobs=1, show_progress=False)


def test_skopt_returns_its_optimize_result():
    _, (stats, heatmap, result) = optimize(**GRID, method="skopt", max_tries=8, random_state=0,
                                           return_heatmap=True, return_optimization=True)
    assert len(heatmap) == 8 and len(result.x_iters) == 8
    assert set(heatmap.index.get_level_values("n1")) <= set(GRID["n1"])  # only listed values


def test_same_result_in_process_on_loky_and_on_a_dask_cluster(tmp_path):
    from dask.distributed import Client, LocalCluster

    expected = optimize(**GRID, return_heatmap=True)[1]
    loky = optimize(**GRID, return_heatmap=True, n_jobs=2)[1]
    pd.testing.assert_series_equal(loky[1], expected[1])
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0")
    client = Client(cluster)
    try:
        workers = set(client.run(os.getpid).values())
        with joblib.parallel_config(backend="dask"):
            on_dask = optimize(**GRID, return_heatmap=True, n_jobs=None)[1]
        ran_on = client.run(lambda: bool(__import__("sys").modules.get("backtestkit._broker")))
        assert workers and all(ran_on.values())  # the backtests ran in the cluster's worker processes
    finally:
        client.close()
        cluster.close()
    pd.testing.assert_series_equal(on_dask[1], expected[1])
    assert str(on_dask[0]["_strategy"]) == str(expected[0]["_strategy"])
    assert np.isfinite(expected[1]).all()


def test_report_is_written_with_the_searched_combinations(tmp_path):
    path = tmp_path / "report.html"
    _, (stats, heatmap) = optimize(**GRID, maximize="Sharpe Ratio", return_heatmap=True, report=path)
    page = path.read_text(encoding="utf-8")
    assert "SmaCross" in page and "Sharpe Ratio (maximised)" in page
    assert f"{len(heatmap)} of {len(heatmap)} admissible" in page


def test_a_bad_report_path_fails_before_the_search(tmp_path):
    bt = Backtest(DATA, SmaCross)
    with pytest.raises(ValueError, match="'report' parameter of Backtest.optimize"):
        bt.optimize(**GRID, report=tmp_path / "missing-folder" / "report.html", n_jobs=1, show_progress=False)
    assert bt._results is None


@pytest.mark.parametrize("estimator", ["et", "rf", "gbrt", "gp"])
def test_skopt_surrogate_is_selectable(estimator):
    _, (stats, heatmap) = optimize(**GRID, method="skopt", max_tries=8, random_state=1, estimator=estimator,
                                   return_heatmap=True)
    assert len(heatmap) == 8 and stats["SQN"] == pytest.approx(heatmap.max())


class Sma4Cross(Strategy):
    """backtesting.py's "Parameter Heatmap & Optimization" tutorial strategy, as written there."""

    n1, n2, n_enter, n_exit = 50, 100, 20, 10

    def init(self):
        from backtestkit.test import SMA

        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)
        self.sma_enter = self.I(SMA, self.data.Close, self.n_enter)
        self.sma_exit = self.I(SMA, self.data.Close, self.n_exit)

    def next(self):
        if not self.position:
            if self.sma1 > self.sma2:
                if crossover(self.data.Close, self.sma_enter):
                    self.buy()
            else:
                if crossover(self.sma_enter, self.data.Close):
                    self.sell()
        else:
            if (self.position.is_long and crossover(self.sma_exit, self.data.Close) or
                    self.position.is_short and crossover(self.data.Close, self.sma_exit)):
                self.position.close()


def test_the_sambo_tutorial_call_runs_unchanged_with_its_ranges():
    backtest = Backtest(GOOG, Sma4Cross, commission=.002)
    stats, heatmap, optimize_result = backtest.optimize(
        n1=[10, 100],      # Note: For method="sambo", we
        n2=[20, 200],      # only need interval end-points
        n_enter=[10, 40],
        n_exit=[10, 30],
        constraint=lambda p: p.n_exit < p.n_enter < p.n1 < p.n2,
        maximize='Equity Final [$]',
        method='sambo',
        max_tries=40,
        random_state=0,
        return_heatmap=True,
        return_optimization=True)
    assert len(heatmap) == 40 and heatmap.index.names == ["n1", "n2", "n_enter", "n_exit"]
    tried = heatmap.index.to_frame()
    assert tried["n1"].between(10, 100).all() and tried["n2"].between(20, 200).all()
    assert tried["n1"].nunique() > 10  # values between the end points, not only the two of them
    assert (tried["n_exit"] < tried["n_enter"]).all() and (tried["n1"] < tried["n2"]).all()
    assert stats["Equity Final [$]"] == pytest.approx(heatmap.max())
    assert -optimize_result.fun == pytest.approx(heatmap.max())
