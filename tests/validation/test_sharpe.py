"""PSR and DSR: the published example, hand-worked cases, invariances and the error paths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtestkit.optimize import Outcome, Study
from backtestkit.validation import (
    DeflatedSharpe,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)


def test_reproduces_the_deflated_sharpe_papers_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example: N = 100 trials whose
    # annualised Sharpe ratios vary with V = 1/2; the best has an annualised SR of 2.5 over T = 1250 daily
    # returns (250 a year) with skew -3 and kurtosis 10. Published: SR0 ≈ 0.1132 per day, DSR ≈ 0.9004.
    per_year = 250
    sr0 = expected_max_sharpe(100, 0.5 / per_year)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / math.sqrt(per_year), sr0, 1250, -3, 10)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_the_same_through_deflated_sharpe_with_returns_of_those_moments():
    # two-point returns: +a with probability p, -b otherwise, tuned to skew -3 would be fiddly; instead feed
    # any returns and check the DSR is the PSR against expected_max_sharpe with the returns' own moments
    rng = np.random.default_rng(1)
    returns = rng.standard_t(5, 1250) * 0.01 + 0.001
    result = deflated_sharpe(returns, n_trials=100, variance=0.002)
    assert isinstance(result, DeflatedSharpe) and float(result) == result.dsr
    expected = probabilistic_sharpe(result.sharpe, expected_max_sharpe(100, 0.002), 1250, result.skew,
                                    result.kurtosis)
    assert result.dsr == pytest.approx(expected)
    assert result.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert result.psr > result.dsr


def test_psr_hand_worked():
    # normal returns, SR 0.1 on 101 returns: z = 0.1 * 10 / sqrt(1 + 2/4 * 0.01) = 0.99751;
    # Φ(0.99751) = Φ(1) - φ(1) * 0.00249 = 0.841345 - 0.241971 * 0.00249 = 0.840742
    assert probabilistic_sharpe(0.1, 0.0, 101) == pytest.approx(0.840742, abs=1e-5)
    assert probabilistic_sharpe(0.2, 0.2, 50, 1.0, 9.0) == 0.5  # at the benchmark: a coin toss


def test_expected_max_sharpe_hand_worked_and_scales_with_the_deviation():
    # (1 - γ) Φ⁻¹(0.9) + γ Φ⁻¹(1 - 1/(10e)) = 0.42278 * 1.28155 + 0.57722 * 1.78924 = 1.57460
    assert expected_max_sharpe(10, 1.0) == pytest.approx(1.57460, abs=1e-4)
    assert expected_max_sharpe(10, 4.0) == pytest.approx(2 * expected_max_sharpe(10, 1.0))
    assert expected_max_sharpe(1, 3.0) == 0.0
    assert expected_max_sharpe(10, 0.0) == 0.0


@given(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.integers(2, 5000))
def test_psr_is_a_probability_rising_with_sr(sr, benchmark, n):
    p = probabilistic_sharpe(sr, benchmark, n)
    assert 0.0 <= p <= 1.0
    assert probabilistic_sharpe(sr + 0.01, benchmark, n) >= p


@given(st.integers(2, 10_000))
def test_expected_max_grows_with_the_trials(n):
    assert expected_max_sharpe(n + 1, 1.0) > expected_max_sharpe(n, 1.0) > 0


def test_the_dsr_does_not_change_when_returns_are_scaled():
    returns = np.random.default_rng(2).normal(0.0005, 0.01, 500)
    a = deflated_sharpe(returns, n_trials=20, variance=0.001)
    b = deflated_sharpe(returns * 7, n_trials=20, variance=0.001)
    assert a.dsr == pytest.approx(b.dsr)


def _study(sharpes):
    study = Study(param_names=["n"], objective="Sharpe Ratio", metric_names=["Sharpe Ratio"])
    outcomes = [Outcome("ok", s, np.array([s]), 0.0) for s in sharpes]
    study._record([(i,) for i in range(len(sharpes))], outcomes, [{"n": i} for i in range(len(sharpes))])
    study._record([(99,)], [Outcome("failed", math.nan, None, 0.0, "boom")], [{"n": 99}])
    return study


def test_from_a_study_and_a_runs_stats():
    # the study's annualised Sharpe ratios [0, 1, 2] vary with 1.0 a year: 1/252 a day; 3 trials (the failed
    # one does not count); the run's daily returns come from its equity curve
    index = pd.bdate_range("2020-01-01", periods=300)
    returns = np.random.default_rng(3).normal(0.001, 0.01, 300)
    equity = pd.DataFrame({"Equity": 10_000 * np.cumprod(1 + returns)}, index=index)
    stats = pd.Series({"Sharpe Ratio": 1.0, "_equity_curve": equity})
    result = deflated_sharpe(stats, _study([0.0, 1.0, 2.0]))
    assert (result.n_trials, result.n, result.periods_per_year) == (3, 299, 252.0)
    assert result.variance == pytest.approx(1.0 / 252)
    assert result.sharpe_benchmark == pytest.approx(expected_max_sharpe(3, 1.0 / 252))
    assert "annualised, 252 periods a year" in result.summary()
    assert deflated_sharpe(stats, _study([0.0, 1.0, 2.0]), n_trials=30).n_trials == 30


def test_the_report_section_and_page(tmp_path):
    result = deflated_sharpe(np.random.default_rng(5).normal(0.001, 0.01, 300), n_trials=10, variance=0.001)
    html = result.write_report(tmp_path / "dsr.html").read_text(encoding="utf-8")
    assert "Deflated Sharpe Ratio" in html and f"{result.dsr:.3f}" in html


@pytest.mark.parametrize("call, kwargs, exc, match", [
    (probabilistic_sharpe, {"sr": "1"}, TypeError, "The 'sr' parameter of probabilistic_sharpe must be a "
                                                   "finite number. Got '1' instead."),
    (probabilistic_sharpe, {"sr": 0.1, "n": 1}, ValueError, "The 'n' parameter of probabilistic_sharpe must "
                                                            "be a whole number >= 2. Got 1 instead."),
    (probabilistic_sharpe, {"sr": 0.1, "kurtosis": 0.5}, ValueError, "The 'kurtosis' parameter of "
     "probabilistic_sharpe must be a finite number >= 1. Got 0.5 instead."),
    (probabilistic_sharpe, {"sr": 3.0, "skew": 3.0}, ValueError, r"probabilistic_sharpe cannot weigh sr=3 "
     r"with skew=3 and kurtosis=3: 1 - skew·sr \+ \(kurtosis - 1\)/4·sr² = -3.5 is not > 0. Is sr per "
     r"period \(not annualised\)\?"),
    (expected_max_sharpe, {"n_trials": 0, "variance": 1}, ValueError, "The 'n_trials' parameter of "
     "expected_max_sharpe must be a whole number >= 1. Got 0 instead."),
    (expected_max_sharpe, {"n_trials": 2.5, "variance": 1}, TypeError, "The 'n_trials' parameter of "
     "expected_max_sharpe must be a whole number >= 1. Got 2.5 instead."),
    (expected_max_sharpe, {"n_trials": 2, "variance": -1}, ValueError, "The 'variance' parameter of "
     "expected_max_sharpe must be a number >= 0. Got -1 instead."),
    (deflated_sharpe, {"returns": [0.01, 0.02, -0.01]}, TypeError, r"deflated_sharpe needs the trials the "
     r"run was chosen from: pass study=\.\.\. \(a Study whose trials have a 'Sharpe Ratio'\), or "
     r"n_trials=\.\.\. and variance=\.\.\.\."),
    (deflated_sharpe, {"returns": [0.01, 0.02], "n_trials": 2, "variance": 1}, ValueError,
     "The 'returns' parameter of deflated_sharpe must be at least 3 finite returns. Got 2 instead."),
    (deflated_sharpe, {"returns": "abc", "n_trials": 2, "variance": 1}, TypeError,
     "The 'returns' parameter of deflated_sharpe must be a stats Series"),
    (deflated_sharpe, {"returns": [0.0, 0.0, 0.0], "n_trials": 2, "variance": 1}, ValueError,
     r"The returns do not vary \(their standard deviation is 0\): they have no Sharpe ratio."),
    (deflated_sharpe, {"returns": [0.01, 0.02, -0.01], "study": 3}, TypeError,
     r"The 'study' parameter of deflated_sharpe must be a Study \(optimize\(\.\.\., return_study=True\)\). "
     "Got 3 instead."),
    (deflated_sharpe, {"returns": [0.01, 0.02, -0.01], "study": _study([0.0, 1.0])}, ValueError,
     "deflated_sharpe cannot tell how many periods a year the returns have"),
])
def test_bad_arguments(call, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        call(**kwargs)


def test_the_users_returns_are_not_modified():
    returns = np.array([0.01, np.nan, -0.02, 0.03, 0.0])
    before = returns.copy()
    deflated_sharpe(returns, n_trials=5, variance=0.01)
    np.testing.assert_array_equal(returns, before)
