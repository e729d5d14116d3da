"""The Probabilistic and the Deflated Sharpe Ratio (Bailey & López de Prado, 2012 and 2014).

Every Sharpe ratio here is per period, not annualised: the mean of the period returns over their
standard deviation (ddof=1). A Sharpe ratio annualised over ``p`` periods a year is the per-period one
times ``sqrt(p)``; its variance is the per-period variance times ``p``. Kurtosis is the plain (not
excess) kurtosis: 3 for normal returns. See doc/validation.md for the formulas.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from backtestkit._errors import Verbatim, check_number, param_error

#: The Euler-Mascheroni constant, in the expected maximum of ``N`` standard normal draws.
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def probabilistic_sharpe(sr: float, sr_benchmark: float = 0.0, n: int = 2, skew: float = 0.0,
                         kurtosis: float = 3.0) -> float:
    """The probability that the true Sharpe ratio exceeds ``sr_benchmark``, given ``sr`` measured on
    ``n`` returns of that skew and (plain, not excess) kurtosis: the PSR of Bailey & López de Prado
    (2012), ``Φ((sr - sr_benchmark) sqrt(n - 1) / sqrt(1 - skew sr + (kurtosis - 1) / 4 sr²))``.

    Args:
        sr: the observed Sharpe ratio, per period (not annualised).
        sr_benchmark: the Sharpe ratio to beat, per period.
        n: how many returns ``sr`` was measured on (> 1).
        skew: their skewness (0 for normal returns).
        kurtosis: their kurtosis (3 for normal returns; not the excess kurtosis).

    Returns:
        A probability in [0, 1].

    Raises:
        TypeError, ValueError: an argument that is not a finite number in its range.

    >>> round(probabilistic_sharpe(0.1, 0.0, n=101), 4)  # normal returns: Φ(0.1 · 10 / sqrt(1.0025))
    0.8407
    """
    owner = "probabilistic_sharpe"
    sr = check_number(owner, "sr", sr, "a finite number", lambda x: True)
    sr_benchmark = check_number(owner, "sr_benchmark", sr_benchmark, "a finite number", lambda x: True)
    n = _check_count(owner, "n", n, 2)
    skew = check_number(owner, "skew", skew, "a finite number", lambda x: True)
    kurtosis = check_number(owner, "kurtosis", kurtosis, "a finite number >= 1", lambda x: x >= 1)
    spread = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if spread <= 0:
        raise ValueError(f"probabilistic_sharpe cannot weigh sr={sr:.4g} with skew={skew:.4g} and "
                         f"kurtosis={kurtosis:.4g}: 1 - skew·sr + (kurtosis - 1)/4·sr² = {spread:.4g} is "
                         "not > 0. Is sr per period (not annualised)?")
    return _NORMAL.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(spread))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` skill-less trials reaches by luck alone, when their
    Sharpe ratios vary with ``variance`` (Bailey & López de Prado, 2014):
    ``sqrt(variance) ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))``, γ the Euler-Mascheroni constant.

    ``variance`` is in the units of the Sharpe ratios (per period, or annualised), and so is the result.

    Raises:
        TypeError, ValueError: ``n_trials`` not a whole number >= 1, ``variance`` not a number >= 0.

    >>> expected_max_sharpe(1, 0.5)
    0.0
    >>> round(expected_max_sharpe(100, 1.0), 4)
    2.5306
    """
    owner = "expected_max_sharpe"
    n_trials = _check_count(owner, "n_trials", n_trials, 1)
    variance = check_number(owner, "variance", variance, "a number >= 0", lambda x: x >= 0)
    if n_trials == 1:
        return 0.0
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials) + \
        EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n_trials * math.e))
    return math.sqrt(variance) * z


@dataclass(frozen=True)
class DeflatedSharpe:
    """The Deflated Sharpe Ratio of a run and what it was worked out from (``float(result)`` is
    ``dsr``). Sharpe ratios and ``variance`` are per period.

    Attributes:
        dsr: the probability that the run's true Sharpe ratio beats the best of ``n_trials`` lucky ones.
        psr: the probability that it beats 0 (no deflation for the trials).
        sharpe: the run's Sharpe ratio, per period.
        sharpe_benchmark: the expected best Sharpe ratio of ``n_trials`` skill-less trials (SR₀).
        n: the number of returns.
        skew, kurtosis: of the returns (plain kurtosis, 3 for normal returns).
        n_trials: the number of trials the run was chosen from.
        variance: the variance of the trials' Sharpe ratios, per period.
        periods_per_year: periods a year of the returns (NaN when unknown): annualise with its root.
    """

    dsr: float
    psr: float
    sharpe: float
    sharpe_benchmark: float
    n: int
    skew: float
    kurtosis: float
    n_trials: int
    variance: float
    periods_per_year: float

    def __float__(self) -> float:
        return self.dsr

    def summary(self) -> str:
        """One line: the DSR, the PSR, the Sharpe ratio against its benchmark, annualised if known.

        >>> DeflatedSharpe(0.9, 0.99, 0.158, 0.113, 1250, -3.0, 10.0, 100, 0.002, 250.0).summary()
        'DSR 0.900 (PSR 0.990): Sharpe ratio 2.498 against 1.787 expected of the best of 100 trials by luck (annualised, 250 periods a year, 1,250 returns)'
        """  # noqa: E501
        scale = math.sqrt(self.periods_per_year) if math.isfinite(self.periods_per_year) else 1.0
        unit = (f"annualised, {self.periods_per_year:g} periods a year" if scale != 1.0 else "per period")
        return (f"DSR {self.dsr:.3f} (PSR {self.psr:.3f}): Sharpe ratio {self.sharpe * scale:.3f} against "
                f"{self.sharpe_benchmark * scale:.3f} expected of the best of {self.n_trials:,} trials by "
                f"luck ({unit}, {self.n:,} returns)")

    def report_section(self) -> Any:
        """This result as a section of a report (``Study.write_report(sections=[...])``)."""
        from backtestkit.plotting._overfitting import dsr_section

        facts = {"DSR": f"{self.dsr:.4f}", "PSR (against 0)": f"{self.psr:.4f}",
                 "Sharpe ratio, per period": f"{self.sharpe:.4g}",
                 "SR₀, the best of the trials by luck": f"{self.sharpe_benchmark:.4g}",
                 "Trials": f"{self.n_trials:,}", "Variance of their Sharpe ratios": f"{self.variance:.4g}",
                 "Returns": f"{self.n:,}", "Skew": f"{self.skew:.4g}", "Kurtosis": f"{self.kurtosis:.4g}",
                 "Periods a year": f"{self.periods_per_year:g}"}
        return dsr_section(self.dsr, self.summary(), facts)

    def write_report(self, path: str | os.PathLike[str]) -> Any:
        """Write :meth:`report_section` as a page of its own; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(path, title="Deflated Sharpe Ratio", sections=[self.report_section()])


def deflated_sharpe(returns: Any, study: Any = None, *, n_trials: int | None = None,
                    variance: float | None = None, periods_per_year: float | None = None) -> DeflatedSharpe:
    """The Deflated Sharpe Ratio (Bailey & López de Prado, 2014) of the run chosen from a search.

    The Probabilistic Sharpe Ratio of the run against the Sharpe ratio the best of ``n_trials``
    skill-less trials reaches by luck (:func:`expected_max_sharpe`): the probability that the chosen
    run's edge is more than the luck of having tried that many.

    Args:
        returns: the chosen run: its stats (``Backtest.run``'s Series; its ``_equity_curve`` gives one
            return per day, as the stats' Sharpe Ratio counts them, and the periods a year), an equity
            curve, or a 1-D array of per-period returns.
        study: the search's :class:`~backtestkit.optimize.Study`: ``n_trials`` is its number of trials
            with a Sharpe Ratio, ``variance`` the variance (ddof=1) of their (annualised) ``Sharpe Ratio``
            divided by ``periods_per_year``.
        n_trials, variance: given as numbers instead (``variance`` of per-period Sharpe ratios);
            either overrides the study's.
        periods_per_year: periods a year of the returns; by default the stats' own (252 or 365 for
            daily returns), needed only to read a study's annualised Sharpe ratios.

    Returns:
        A :class:`DeflatedSharpe` (``float()`` of it is the DSR).

    Raises:
        TypeError, ValueError: bad arguments, fewer than 3 returns, or a study without the trials'
            ``Sharpe Ratio``.

    >>> rng = np.random.default_rng(0)
    >>> result = deflated_sharpe(rng.normal(0.001, 0.01, 1000), n_trials=50, variance=0.001)
    >>> round(result.sharpe, 3), round(result.dsr, 3)
    (0.053, 0.277)
    """
    owner = "deflated_sharpe"
    values, per_year = _returns_of(returns, owner)
    if periods_per_year is not None:
        per_year = check_number(owner, "periods_per_year", periods_per_year, "a number > 0", lambda x: x > 0)
    if n_trials is not None:
        n_trials = _check_count(owner, "n_trials", n_trials, 1)
    if variance is not None:
        variance = check_number(owner, "variance", variance, "a number >= 0", lambda x: x >= 0)
    if study is not None and (n_trials is None or variance is None):
        found_n, found_variance = _study_sharpes(study, per_year, owner)
        n_trials = found_n if n_trials is None else n_trials
        variance = found_variance if variance is None else variance
    if n_trials is None or variance is None:
        raise TypeError("deflated_sharpe needs the trials the run was chosen from: pass study=... (a Study "
                        "whose trials have a 'Sharpe Ratio'), or n_trials=... and variance=....")
    sr, skew, kurtosis = moments(values)
    benchmark = expected_max_sharpe(n_trials, variance)
    return DeflatedSharpe(
        dsr=probabilistic_sharpe(sr, benchmark, len(values), skew, kurtosis),
        psr=probabilistic_sharpe(sr, 0.0, len(values), skew, kurtosis), sharpe=sr, sharpe_benchmark=benchmark,
        n=len(values), skew=skew, kurtosis=kurtosis, n_trials=n_trials, variance=variance,
        periods_per_year=per_year)


def moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Per-period Sharpe ratio (ddof=1), skewness and plain kurtosis (population moments) of returns.

    >>> [round(x, 4) for x in moments(np.array([0.01, -0.01, 0.02, 0.0]))]
    [0.3873, 0.0, 1.64]
    """
    mean, std = returns.mean(), returns.std(ddof=1)
    centred = returns - mean
    m2 = np.mean(centred**2)
    if not std > 0:
        raise ValueError("The returns do not vary (their standard deviation is 0): they have no Sharpe "
                         "ratio.")
    return float(mean / std), float(np.mean(centred**3) / m2**1.5), float(np.mean(centred**4) / m2**2)


def _returns_of(returns: Any, owner: str) -> tuple[np.ndarray, float]:
    from backtestkit.validation._returns import run_returns

    values, per_year = run_returns(returns, owner)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        raise param_error(owner, "returns", "at least 3 finite returns", Verbatim(f"{len(values)}"))
    return values, per_year


def _study_sharpes(study: Any, per_year: float, owner: str) -> tuple[int, float]:
    """The number of trials with a Sharpe ratio and the variance of those, per period."""
    from backtestkit.optimize import Study

    if not isinstance(study, Study):
        raise param_error(owner, "study", "a Study (optimize(..., return_study=True))", study, exc=TypeError)
    if "Sharpe Ratio" not in study.metric_names:
        raise ValueError("The study's trials have no 'Sharpe Ratio' (a search over a plain function, or "
                         "one whose optimize(metrics=...) left it out): pass n_trials=... and variance=... "
                         "to deflated_sharpe instead.")
    frame = study.trials_dataframe()
    sharpes = frame.loc[frame["state"] != "failed", "Sharpe Ratio"].to_numpy(dtype=float)
    sharpes = sharpes[np.isfinite(sharpes)]
    if len(sharpes) < 2:
        raise ValueError(f"The study has {len(sharpes)} trial(s) with a Sharpe Ratio; deflated_sharpe needs "
                         "at least 2 to measure how much they vary.")
    if not math.isfinite(per_year):
        raise ValueError("deflated_sharpe cannot tell how many periods a year the returns have (they are "
                         "not dated), so it cannot turn the study's annualised Sharpe ratios into per-period "
                         "ones: pass periods_per_year=... (252 for daily returns).")
    return len(sharpes), float(np.var(sharpes, ddof=1) / per_year)


def _check_count(owner: str, name: str, value: Any, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise param_error(owner, name, f"a whole number >= {least}", value, exc=TypeError)
    if value < least:
        raise param_error(owner, name, f"a whole number >= {least}", value)
    return int(value)
