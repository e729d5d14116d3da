"""backtestkit.objectives: Jesse's ratios and fitness on hand-worked equity curves, then through optimize."""

from __future__ import annotations

import math
import pickle
import re
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, objectives
from backtestkit.test import GOOG
from tests.test_objective import SmaCross


def run(equity, *, trades=10, dates=True):
    """Stats as Backtest.run gives them, with just what the objectives read."""
    days = pd.date_range("2024-01-01", periods=len(equity), freq="D")
    index = days if dates else pd.RangeIndex(len(equity))
    return pd.Series({"# Trades": trades,
                      "_equity_curve": pd.DataFrame({"Equity": np.asarray(equity, dtype=float)}, index)})


# Equity 100 -> 110 -> 99 -> 108.9: daily returns +10%, -10%, +10%.
# mean = 1/30; deviations 1/15, -2/15, 1/15 -> variance (1 + 4 + 1)/225 / 2 = 1/75 (ddof 1)
UP_DOWN_UP = run([100, 110, 99, 108.9])
MEAN, STD = 1 / 30, math.sqrt(1 / 75)
DOWNSIDE = math.sqrt(0.1 ** 2 / 3)  # one loss of 10% over 3 returns
PENALTY = math.sqrt(3)  # lag-1 autocorrelation -1: sqrt(1 + 2 (2/3 |-1| + 1/3 |-1|^2))


def test_daily_returns_take_each_days_last_equity():
    index = pd.to_datetime(["2024-01-01 10:00", "2024-01-01 16:00", "2024-01-02 12:00", "2024-01-04 16:00"])
    stats = pd.Series({"_equity_curve": pd.DataFrame({"Equity": [100.0, 110.0, 99.0, 118.8]}, index)})
    # days close at 110, 99, 118.8 (no bar on the 3rd): -10%, +20%
    assert objectives.daily_returns(stats).tolist() == pytest.approx([-0.1, 0.2])
    assert list(objectives.daily_returns(stats).index.day) == [2, 4]
    assert objectives.daily_returns(run([100, 110], dates=False)).tolist() == pytest.approx([0.1])


def test_sharpe_and_sortino_by_hand():
    assert objectives.sharpe(UP_DOWN_UP) == pytest.approx(MEAN / STD * math.sqrt(365))
    assert objectives.sortino(UP_DOWN_UP) == pytest.approx(MEAN / DOWNSIDE * math.sqrt(365))
    assert objectives.sharpe(UP_DOWN_UP, periods=252) == pytest.approx(MEAN / STD * math.sqrt(252))


def test_smart_ratios_divide_by_the_autocorrelation_penalty():
    assert objectives.autocorrelation_penalty(pd.Series([0.1, -0.1, 0.1])) == pytest.approx(PENALTY)
    assert objectives.smart_sharpe(UP_DOWN_UP) == pytest.approx(MEAN / (STD * PENALTY) * math.sqrt(365))
    assert objectives.smart_sortino(UP_DOWN_UP) == pytest.approx(MEAN / (DOWNSIDE * PENALTY) * math.sqrt(365))
    # returns 1, 2, 4, 3: pairs (1, 2), (2, 4), (4, 3); deviations (-4/3, -1/3, 5/3) and (-1, 1, 0)
    # ρ = 1 / sqrt(42/9 × 2) = 3 / sqrt(84); n = 4 -> sqrt(1 + 2 (3/4 ρ + 2/4 ρ² + 1/4 ρ³))
    rho = 3 / math.sqrt(84)
    assert objectives.autocorrelation_penalty(pd.Series([1.0, 2.0, 4.0, 3.0])) == pytest.approx(
        math.sqrt(1 + 2 * (3 / 4 * rho + 2 / 4 * rho ** 2 + 1 / 4 * rho ** 3)))


def test_omega_by_hand():
    assert objectives.omega(UP_DOWN_UP) == pytest.approx(2.0)  # gains 0.1 + 0.1 over a loss of 0.1
    assert math.isnan(objectives.omega(run([100, 101, 102])))  # no loss


def test_calmar_by_hand():
    # wealth 1.1, 0.99, 1.089: worst drawdown 0.99 / 1.1 - 1 = -10%; 2 days from the first return's
    # day to the last's, so the growth 1.089 compounds over 365 / 2 periods
    assert objectives.calmar(UP_DOWN_UP) == pytest.approx((1.089 ** (365 / 2) - 1) / 0.1)
    # a yearlong run: 1.2 -> 0.96 -> 1.32 over 365 days
    stats = pd.Series({"_equity_curve": pd.DataFrame(
        {"Equity": [100.0, 120.0, 96.0, 132.0]}, pd.to_datetime(["2023-12-31", "2024-01-01", "2024-06-01",
                                                                  "2024-12-31"]))})
    assert objectives.calmar(stats) == pytest.approx((1.32 ** (365 / 365) - 1) / 0.2)
    assert math.isnan(objectives.calmar(run([100, 101, 102])))  # no drawdown


def test_serenity_by_hand():
    drawdowns = [0.0, 0.99 / 1.1 - 1, 1.089 / 1.1 - 1]  # wealth 1.1, 0.99, 1.089 against a peak of 1.1
    ulcer = math.sqrt(sum(d * d for d in drawdowns) / 2)
    spread = float(np.std(drawdowns, ddof=1))
    var = NormalDist(float(np.mean(drawdowns)), spread).inv_cdf(0.05)  # ≈ -0.127: no drawdown below it
    assert min(drawdowns) > var
    pitfall = -var / STD  # so CVaR is the VaR itself
    assert objectives.serenity(UP_DOWN_UP) == pytest.approx(0.1 / (ulcer * pitfall))


@pytest.mark.parametrize("objective", [objectives.sharpe, objectives.sortino, objectives.smart_sharpe,
                                       objectives.smart_sortino, objectives.calmar, objectives.omega,
                                       objectives.serenity])
def test_undefined_ratios_are_nan(objective):
    assert math.isnan(objective(run([100])))  # no return at all
    assert math.isnan(objective(run([100, 100, 100, 100])))  # nothing moved


def test_ratios_do_not_depend_on_the_equitys_scale():
    scaled = run(np.array([100, 110, 99, 108.9]) * 37)
    for objective in (objectives.sharpe, objectives.sortino, objectives.calmar, objectives.serenity):
        assert objective(scaled) == pytest.approx(objective(UP_DOWN_UP))


def test_fitness_by_hand():
    score = objectives.fitness("sharpe", 100)
    sharpe = MEAN / STD * math.sqrt(365)
    # 10 trades of the 100 wanted: log10(10) / log10(100) = 1/2; sharpe normalised from [-0.5, 5]
    assert score(UP_DOWN_UP) == pytest.approx(0.5 * (sharpe + 0.5) / 5.5)
    capped = run([100, 110, 99, 108.9], trades=1000)  # the trade count's factor is capped at 1
    assert score(capped) == pytest.approx((sharpe + 0.5) / 5.5)
    assert score(run([100, 110, 99, 108.9], trades=5)) == 0.0001  # too few trades
    assert score(run([100, 90, 99, 89.1], trades=50)) == 0.0001  # a negative ratio
    by_function = objectives.fitness(objectives.omega, 10)
    assert by_function(UP_DOWN_UP) == pytest.approx(1 * (2 + 0.5) / 5.5)
    assert repr(by_function) == "fitness(omega, 10)"
    assert pickle.loads(pickle.dumps(score))(UP_DOWN_UP) == score(UP_DOWN_UP)


RATIO_NAMES = "one of 'sharpe', 'calmar', 'sortino', 'omega', 'serenity', 'smart_sharpe', 'smart_sortino'"


@pytest.mark.parametrize("args, exc, message", [
    (("sharp", 100), ValueError,
     f"The 'ratio' parameter of fitness must be {RATIO_NAMES} or one of those functions. "
     "Got 'sharp' instead."),
    (("sharpe", 1), ValueError,
     "The 'optimal_total' parameter of fitness must be an int > 1. Got 1 instead."),
    (("sharpe", 50.0), TypeError,
     "The 'optimal_total' parameter of fitness must be an int > 1. Got 50.0 instead."),
])
def test_fitness_checks_its_arguments(args, exc, message):
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        objectives.fitness(*args)


def test_a_ratio_needs_a_runs_stats():
    with pytest.raises(TypeError, match=r"The 'stats' parameter of daily_returns must be a run's stats"):
        objectives.sharpe(pd.Series({"SQN": 1.0}))


def test_objectives_rank_an_optimisation():
    bt = Backtest(GOOG.iloc[:600], SmaCross)
    for objective in (objectives.smart_sharpe, objectives.fitness("sortino", 30)):
        stats, study = bt.optimize(n1=[5, 10], n2=[20, 40], maximize=objective, n_jobs=1, return_study=True)
        assert study.best_value == pytest.approx(objective(stats))
        assert study.best_value == study.trials_dataframe()["value"].max()
    assert study.objective == "fitness(sortino, 30)"
