"""Plateau selection as the ``select=`` rule of holdout and walk-forward: each picks, per search, the
parameters ``plateau()`` finds on that search's own study."""

from __future__ import annotations

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.validation import Plateau, holdout, plateau, walk_forward
from tests.validation.test_holdout import SmaCross

GRID = {"n1": [5, 10, 15, 20], "n2": [30, 45, 60]}
QUIET = {"n_jobs": 1, "show_progress": False}


def test_holdout_selects_the_plateau_best_of_its_search():
    bt = Backtest(load_daily().iloc[:900], SmaCross)
    found = holdout(bt, train=0.7, top=3, select=Plateau(radius=1), maximize="Return [%]", **GRID, **QUIET)
    assert found.params == plateau(found.study, radius=1).best_params != found.study.best_params
    chosen = found.table[found.table["selected"]]
    assert len(chosen) == 1 and chosen[["n1", "n2"]].iloc[0].to_dict() == found.params


def test_walk_forward_selects_the_plateau_best_of_each_window():
    bt = Backtest(load_daily().iloc[:900], SmaCross)
    found = walk_forward(bt, train=400, test=250, select=Plateau(radius=1, statistic="min"),
                         maximize="Return [%]", **GRID, **QUIET)
    assert len(found.studies) == len(found.params) == 2
    for study, params in zip(found.studies, found.params, strict=True):
        assert params == plateau(study, radius=1, statistic="min").best_params
    assert any(params != study.best_params for study, params in zip(found.studies, found.params, strict=True))
