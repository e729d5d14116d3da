"""PBO by CSCV: noise is overfit, a planted edge is not, a split worked by hand, the vectorised
metrics against a plain loop; trial_returns re-runs a study and keeps what finished on Ctrl-C."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.validation import BacktestOverfitting, ReturnsInterrupted, pbo, trial_returns
from tests.test_backtest import SmaCross


def test_pure_noise_strategies_are_overfit():
    noise = np.random.default_rng(0).normal(0, 0.01, size=(2000, 100))  # 100 skill-less trials
    result = pbo(noise, n_splits=10)
    assert isinstance(result, BacktestOverfitting) and len(result.logits) == math.comb(10, 5)
    assert result.pbo >= 0.4  # about a coin toss: the in-sample best is a random pick out of sample


def test_a_grid_with_a_planted_edge_is_not_overfit():
    # a 5 x 4 grid over (p, q); p carries a real drift (0.0006 a bar per step), q is noise only
    rng = np.random.default_rng(1)
    columns = pd.MultiIndex.from_product([range(5), range(4)], names=["p", "q"])
    drift = np.array([0.0006 * p for p, _ in columns])
    returns = pd.DataFrame(rng.normal(0, 0.01, size=(3000, 20)) + drift, columns=columns)
    result = pbo(returns, n_splits=16)
    assert result.pbo <= 0.05
    assert all(p == 4 for p, _ in result.performance["trial"])  # the edge is found in every split
    assert result.probability_of_loss == 0.0


def test_a_split_worked_by_hand():
    # 4 periods, S = 2 (blocks: periods 0-1 and 2-3), metric = mean, 3 trials:
    #   trial A: +1 +1 | -1 -1   B: 0 0 | 0 0   C: -1 -1 | +2 +2
    # split 1 (IS = block 0): best A (mean 1); out of sample A = -1, B = 0, C = 2: A ranks 1 of 3,
    #   ω = 1/4, λ = ln(1/3) < 0.  Split 2 (IS = block 1): best C (2); OOS C = -1 ranks 1: λ = ln(1/3).
    returns = pd.DataFrame({"A": [1, 1, -1, -1], "B": [0, 0, 0, 0], "C": [-1, -1, 2, 2]}, dtype=float)
    result = pbo(returns, n_splits=2, metric="mean")
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.logits, [math.log(1 / 3)] * 2)
    assert list(result.performance["trial"]) == ["A", "C"]
    assert list(result.performance["in_sample"]) == [1.0, 2.0]
    assert list(result.performance["out_of_sample"]) == [-1.0, -1.0]
    assert result.degradation == pytest.approx((0.0, -1.0))


@pytest.mark.parametrize("metric", ["sharpe", "mean"])
def test_the_vectorised_metrics_equal_a_plain_loop(metric):
    rng = np.random.default_rng(2)
    values = rng.normal(0.0002, 0.01, size=(203, 7))  # 203 % 6 = 5 first rows dropped
    result = pbo(values, n_splits=6, metric=metric)
    blocks = values[5:].reshape(6, -1, 7)

    def score(x):
        return x.mean(axis=0) / x.std(axis=0, ddof=1) if metric == "sharpe" else x.mean(axis=0)

    looped = pbo(values, n_splits=6, metric=score)
    for i, chosen in enumerate(combinations(range(6), 3)):
        inside = score(blocks[list(chosen)].reshape(-1, 7))
        outside = score(blocks[[b for b in range(6) if b not in chosen]].reshape(-1, 7))
        best = int(np.argmax(inside))
        assert result.performance["trial"][i] == best
        assert result.performance["in_sample"][i] == pytest.approx(inside[best])
        assert result.performance["out_of_sample"][i] == pytest.approx(outside[best])
        rank = (outside < outside[best]).sum() + 1
        assert result.logits[i] == pytest.approx(math.log(rank / (8 - rank)))
    np.testing.assert_allclose(looped.logits, result.logits)
    assert looped.metric == "score"


def test_flat_trials_rank_last_and_the_report_is_written(tmp_path):
    values = np.random.default_rng(3).normal(0, 0.01, size=(400, 6))
    values[:, 0] = 0.0  # a trial that never trades: no Sharpe ratio
    result = pbo(values, n_splits=4)
    assert (result.performance["trial"] != 0).all()
    path = result.write_report(tmp_path / "pbo.html")
    assert "Probability of Backtest Overfitting" in path.read_text(encoding="utf-8")
    assert "PBO" in result.summary() and result.plot() is not None


def test_the_users_matrix_is_not_modified():
    values = np.random.default_rng(4).normal(0, 0.01, size=(100, 4))
    before = values.copy()
    pbo(values, n_splits=4)
    np.testing.assert_array_equal(values, before)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"returns": np.zeros((10, 1))}, ValueError, r"The 'returns' parameter of pbo must be a 2-D array or "
     r"DataFrame of per-period returns, one column per trial \(at least 2\). Got an array of shape \(10, 1\) "
     "instead."),
    ({"returns": "x"}, TypeError, "The 'returns' parameter of pbo must be a 2-D array"),
    ({"returns": np.zeros((10, 3)), "n_splits": 3}, ValueError,
     "The 'n_splits' parameter of pbo must be an even whole number >= 2. Got 3 instead."),
    ({"returns": np.zeros((10, 3)), "n_splits": 2.0}, TypeError,
     "The 'n_splits' parameter of pbo must be an even whole number >= 2. Got 2.0 instead."),
    ({"returns": np.zeros((10, 3)), "n_splits": 8}, ValueError, r"The 'n_splits' parameter of pbo must be "
     r"at most half the periods \(5\), so that each block has 2 or more. Got 8 instead."),
    ({"returns": np.zeros((40, 3)), "metric": "sortino"}, ValueError, "The 'metric' parameter of pbo must "
     "be 'sharpe', 'mean' or a function returns -> values. Got 'sortino' instead."),
    ({"returns": np.array([[0.0, np.nan]] * 40)}, ValueError, r"The returns given to pbo have NaN or "
     r"infinite values in 40 rows \(positions 0, 1, 2, 3, 4, \.\.\.\). Fill them \(returns.fillna\(0\)\) or "
     "drop those rows."),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        pbo(**kwargs)


DATA = load_daily().iloc[:300]


def _study():
    bt = Backtest(DATA, SmaCross, finalize_trades=True)
    _, study = bt.optimize(n1=[5, 10], n2=[20, 30], n_jobs=1, show_progress=False, return_study=True)
    return bt, study


def test_trial_returns_are_each_runs_bar_returns():
    bt, study = _study()
    returns = trial_returns(bt, study, n_jobs=1, show_progress=False)
    assert returns.shape == (300, 4) and list(returns.columns) == [0, 1, 2, 3]
    assert returns.columns.dtype == np.int64  # trial numbers, whatever type the study keeps them in
    for number in returns.columns:
        equity = bt.run(**study.trials[number].params)["_equity_curve"]["Equity"]
        np.testing.assert_allclose(returns[number].to_numpy()[1:], equity.pct_change().to_numpy()[1:])
        assert returns[number].iloc[0] == 0.0
    assert pbo(returns, n_splits=4).n_trials == 4


def test_trial_returns_samples_with_a_seed_and_any_n_jobs():
    bt, study = _study()
    a = trial_returns(bt, study, max_trials=2, random_state=7, n_jobs=1, show_progress=False)
    b = trial_returns(bt, study, max_trials=2, random_state=7, n_jobs=2, show_progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert a.shape == (300, 2)


class Interrupted(SmaCross):
    def init(self):
        if self.n1 == 10 and self.n2 == 30:
            raise KeyboardInterrupt
        super().init()


def test_ctrl_c_keeps_the_trials_that_finished():
    bt, study = _study()
    with pytest.raises(ReturnsInterrupted, match=r"interrupted after 3 of 4 trials.*e\.returns") as caught:
        trial_returns(Backtest(DATA, Interrupted, finalize_trades=True), study, n_jobs=1, show_progress=False)
    assert list(caught.value.returns.columns) == [0, 1, 2]
    assert not caught.value.returns.isna().any().any()


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"bt": 1}, TypeError, "The 'bt' parameter of trial_returns must be a Backtest. Got 1 instead."),
    ({"study": None}, TypeError, r"The 'study' parameter of trial_returns must be a Study"),
    ({"max_trials": 1}, ValueError,
     "The 'max_trials' parameter of trial_returns must be a whole number >= 2. Got 1 instead."),
    ({"n_jobs": 0}, ValueError, "The 'n_jobs' parameter of trial_returns must be a non-zero int"),
])
def test_trial_returns_bad_arguments(kwargs, exc, match):
    bt, study = _study()
    with pytest.raises(exc, match=match):
        trial_returns(**{"bt": bt, "study": study, **kwargs})



@given(st.integers(0, 10_000), st.floats(0.1, 100), st.sampled_from([2, 4, 6]))
@settings(max_examples=25, deadline=None)
def test_pbo_is_a_share_of_splits_unchanged_by_scale_and_column_order(seed, scale, n_splits):
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.01, size=(60, 5))
    result = pbo(values, n_splits=n_splits)
    assert len(result.logits) == math.comb(n_splits, n_splits // 2)
    assert 0.0 <= result.pbo <= 1.0
    np.testing.assert_allclose(pbo(values * scale, n_splits=n_splits).logits, result.logits)
    order = rng.permutation(5)
    shuffled = pbo(values[:, order], n_splits=n_splits)
    np.testing.assert_allclose(shuffled.logits, result.logits)
    assert list(order[shuffled.performance["trial"].astype(int)]) == list(result.performance["trial"])
