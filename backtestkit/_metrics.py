"""Performance metrics: small pure functions of numpy arrays, each defined once.

Each states its edge cases in its docstring: no data gives NaN, so does a zero denominator unless said
otherwise.  ``_stats.py`` gathers them into the stats Series; ``doc/stats.md`` gives every formula.

A run's stats call these some 40 times, on arrays of a few thousand values, so the fixed cost of each
numpy call counts: sums, maxima and minima are the ufuncs' ``reduce``, which ``ndarray.sum``/``max``/
``min`` call from Python wrappers; means are ``np.add.reduce(x, dtype=float64) / len(x)``, what
``ndarray.mean`` computes (the same pairwise sum, so the same bits); NaNs are looked for with one
minimum.
"""

from __future__ import annotations

import math

import numpy as np

from backtestkit._typing import FloatArray, IntArray

NAN = np.float64(np.nan)


def mean(values: FloatArray) -> np.float64:
    """``values.mean()`` of a non-empty float64 (or integer) array, to the bit, without the method's
    wrapper: the float64 sum (what the method sums integers in too) over the count."""
    return np.add.reduce(values, dtype=np.float64) / len(values)


def variance(values: FloatArray) -> np.float64:
    """``values.var(ddof=1)`` of an array of two values or more, to the bit: numpy's steps (the mean,
    the squared deviations, their sum over n - 1) without its wrapper."""
    deviations = values - mean(values)
    np.multiply(deviations, deviations, out=deviations)
    return np.add.reduce(deviations, dtype=np.float64) / (len(values) - 1)


def without_nan(values: FloatArray) -> FloatArray:
    """``values`` without its NaNs: the array itself when its minimum is not NaN (it has none, nearly
    always), so the usual case costs one pass and no copy."""
    if not len(values) or not np.isnan(np.minimum.reduce(values)):
        return values
    return values[~np.isnan(values)]


# --- Metrics on period returns -----------------------------------------------------------------------


def geometric_mean_return(returns: FloatArray) -> np.float64:
    """Per-period geometric mean of simple returns, NaN ignored.

    NaN without returns; 0.0 when any return is -100% or worse, as nothing compounds once the capital
    is gone (backtesting.py's convention).

    >>> float(geometric_mean_return(np.array([0.21, 0.0])))  # sqrt(1.21 * 1.00) - 1
    0.1
    """
    growth = 1.0 + without_nan(returns)
    if not len(growth):
        return NAN
    if np.minimum.reduce(growth) <= 0:
        return np.float64(0.0)
    return np.exp(mean(np.log(growth))) - 1.0


def annualised_return(mean_return: float, periods_per_year: float) -> np.float64:
    """A per-period mean return compounded over a year: ``(1 + g) ** p - 1``."""
    return np.float64((1.0 + mean_return) ** periods_per_year - 1.0)


def annualised_volatility(returns: FloatArray, mean_return: float, periods_per_year: float) -> np.float64:
    """Standard deviation of a year of ``p`` independent period growths with the sample's moments:
    ``sqrt((s² + (1 + g)²) ** p - (1 + g) ** (2p))``, ``s²`` the variance (ddof=1) of the non-NaN
    returns.  NaN for fewer than two returns.  As in backtesting.py the difference cancels when the
    returns are (nearly) all equal, leaving rounding noise, 0 or NaN."""
    returns = without_nan(returns)
    if len(returns) < 2:
        return NAN
    growth = 1.0 + mean_return
    return np.sqrt((variance(returns) + growth**2) ** periods_per_year - growth ** (2 * periods_per_year))


def sharpe_ratio(annual_return: float, annual_volatility: float, risk_free_rate: float) -> np.float64:
    """Annual excess return per unit of annual volatility; NaN when the volatility is 0."""
    if not annual_volatility:
        return NAN
    return np.float64((annual_return - risk_free_rate) / annual_volatility)


def sortino_ratio(
    annual_return: float, returns: FloatArray, periods_per_year: float, risk_free_rate: float
) -> np.float64:
    """Annual excess return per unit of annualised downside deviation, the root mean square of the
    period returns with gains counted as 0.  ``±inf`` when no period lost money, NaN without returns."""
    returns = without_nan(returns)
    if not len(returns):
        return NAN
    downside = np.sqrt(mean(np.minimum(returns, 0.0) ** 2)) * np.sqrt(periods_per_year)
    excess = float(annual_return) - float(risk_free_rate)  # Python floats: inf - inf is NaN, no warning
    if downside and math.isfinite(excess) and math.isfinite(downside):  # nearly always: no np.errstate
        return np.float64(excess) / downside
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.float64(excess) / downside


def calmar_ratio(annual_return: float, max_drawdown: float) -> np.float64:
    """Annual return per unit of maximum drawdown (a positive fraction); NaN without a drawdown."""
    if not max_drawdown:
        return NAN
    return np.float64(annual_return / max_drawdown)


def omega_ratio(returns: FloatArray, threshold: float = 0.0) -> np.float64:
    """Gains over losses around a threshold return: ``Σ(r - t)⁺ / Σ(t - r)⁺``, NaN ignored.

    NaN when no period fell below the threshold.

    >>> float(omega_ratio(np.array([0.02, -0.01, 0.01])))  # (0.02 + 0.01) / 0.01
    3.0
    """
    excess = without_nan(returns) - threshold
    losses = -np.add.reduce(excess[excess < 0])
    if not losses:
        return NAN
    return np.float64(np.add.reduce(excess[excess > 0]) / losses)


def beta(equity: FloatArray, close: FloatArray) -> np.float64:
    """Slope of the strategy's bar log returns on the market's: ``cov(e, m) / var(m)``.

    NaN for fewer than two returns, a flat market, or an equity that hit 0.
    """
    if len(equity) < 3:
        return NAN
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return beta_on(equity, centred_log_returns(close))


def centred_log_returns(values: FloatArray) -> FloatArray:
    """Bar log returns less their mean: the market's side of :func:`beta`, the same for every run on
    the same bars.  Call under ``np.errstate(divide="ignore", invalid="ignore", over="ignore")``."""
    returns = np.log(values[1:] / values[:-1])
    returns -= mean(returns) if len(returns) else 0.0
    return returns


def beta_on(equity: FloatArray, market: FloatArray) -> np.float64:
    """:func:`beta` given the market's :func:`centred_log_returns`; under the same ``np.errstate``."""
    if len(equity) < 3:
        return NAN
    return np.float64(centred_log_returns(equity) @ market) / np.float64(market @ market)


# --- Drawdowns ---------------------------------------------------------------------------------------


def drawdown(equity: FloatArray) -> FloatArray:
    """Fraction lost since the running peak at each bar: ``1 - equity / max(equity[:i+1])``.

    >>> drawdown(np.array([100.0, 120.0, 90.0, 130.0])).tolist()
    [0.0, 0.0, 0.25, 0.0]
    """
    peaks = np.maximum.accumulate(equity)
    if len(peaks) and peaks[0] > 0 and peaks[-1] < np.inf:  # nothing to divide by 0 or inf by inf
        return 1.0 - equity / peaks
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - equity / peaks


def drawdown_episodes(dd: FloatArray) -> tuple[IntArray, IntArray]:
    """Start (the last bar at the peak) and end (the bar back at a peak, or the last bar) of each
    drawdown.  As in backtesting.py, a dip at the last bar right after a peak is not an episode.

    >>> drawdown_episodes(np.array([0.0, 0.1, 0.0, 0.0, 0.2, 0.3]))
    (array([0, 3]), array([2, 5]))
    """
    marks = (dd == 0).nonzero()[0]
    if not len(marks) or marks[-1] != len(dd) - 1:
        marks = np.concatenate((marks, [len(dd) - 1]))
    gaps = (marks[1:] > marks[:-1] + 1).nonzero()[0]
    return marks[gaps], marks[gaps + 1]


def episode_peaks(dd: FloatArray, starts: IntArray, ends: IntArray) -> FloatArray:
    """Deepest drawdown of each episode ``dd[starts[i]:ends[i] + 1]``."""
    if not len(starts):
        return np.empty(0)
    bounds = np.empty(2 * len(starts), dtype=starts.dtype)
    bounds[::2], bounds[1::2] = starts, ends + 1
    return np.maximum.reduceat(np.concatenate((dd, [0.0])), bounds)[::2]


def ulcer_index(dd: FloatArray) -> np.float64:
    """Root mean square of the drawdown in percent (Martin, 1987); NaN without bars.

    >>> float(ulcer_index(np.array([0.0, 0.3, 0.4, 0.0])))  # sqrt((0 + 30² + 40² + 0) / 4)
    25.0
    """
    return np.sqrt(mean((100.0 * dd) ** 2)) if len(dd) else NAN


def bars_held(entry_bars: IntArray, exit_bars: IntArray) -> int:
    """How many bars at least one trade was open on, entry and exit bar included.

    Overlapping trades count once: the sorted holding periods are merged into blocks.

    >>> bars_held(np.array([0, 2, 8]), np.array([3, 5, 8]))  # bars 0-5 and bar 8
    7
    """
    if not len(entry_bars):
        return 0
    order = np.argsort(entry_bars, kind="stable")
    starts, ends = entry_bars[order], exit_bars[order] + 1
    reach = np.maximum.accumulate(ends)  # the end of the block each trade belongs to, so far
    first = np.concatenate(([True], starts[1:] >= reach[:-1])).nonzero()[0]  # the trades starting a block
    last = np.concatenate((first[1:], [len(starts)])) - 1
    return int((reach[last] - starts[first]).sum())


# --- Metrics on closed trades ------------------------------------------------------------------------


def win_rate(pnl: FloatArray) -> np.float64:
    """Share of trades with a positive P&L; NaN without trades."""
    return np.float64(np.count_nonzero(pnl > 0)) / len(pnl) if len(pnl) else NAN


def profit_factor(returns: FloatArray) -> np.float64:
    """Sum of the winning trades' returns over the absolute sum of the losing ones; NaN without a loser."""
    losses = -np.add.reduce(returns[returns < 0])
    return np.float64(np.add.reduce(returns[returns > 0]) / losses) if losses else NAN


def sqn(pnl: FloatArray) -> np.float64:
    """Van Tharp's System Quality Number ``sqrt(n) * mean(pnl) / std(pnl)``; NaN for < 2 trades.

    >>> float(sqn(np.array([30.0, -10.0])))  # sqrt(2) * 10 / sqrt(800)
    0.5
    """
    if len(pnl) < 2:
        return NAN
    spread = np.sqrt(variance(pnl))
    return np.sqrt(len(pnl)) * mean(pnl) / spread if spread else NAN


def kelly_criterion(pnl: FloatArray) -> np.float64:
    """Kelly fraction ``W - (1 - W) / R``: W the win rate, R the mean win over the mean loss.

    NaN without both a winner and a loser.

    >>> float(kelly_criterion(np.array([20.0, -10.0])))  # 0.5 - 0.5 / (20 / 10)
    0.25
    """
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if not len(wins) or not len(losses):
        return NAN
    rate = len(wins) / len(pnl)
    return np.float64(rate - (1 - rate) / (mean(wins) / -mean(losses)))
