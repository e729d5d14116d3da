"""Jesse's ratio objectives and trade-count-normalised fitness, ready for ``optimize(maximize=...)``.

Each ratio reads a run's daily returns (:func:`daily_returns`: the equity's last value of each
calendar day, as Jesse's daily balances) and annualises with ``periods`` days a year (365, Jesse's
default; pass ``functools.partial(sharpe, periods=252)`` for stocks). They differ from the stats keys
of the same name, which follow backtesting.py (see doc/stats.md). :func:`fitness` scales a ratio by
how many trades made it, Jesse's optimisation score::

    bt.optimize(n1=range(5, 30, 5), n2=range(10, 70, 5), maximize=objectives.sharpe)
    bt.optimize(n1=range(5, 30, 5), n2=range(10, 70, 5), maximize=objectives.fitness("sharpe", 200))

Every function returns NaN where its ratio is undefined (too few returns, no spread, no loss).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pandas as pd

from backtestkit._errors import param_error

__all__ = ["calmar", "daily_returns", "fitness", "omega", "serenity", "sharpe", "smart_sharpe",
           "smart_sortino", "sortino"]

#: Days a year the ratios annualise with (Jesse's default: crypto trades every day).
PERIODS = 365


def daily_returns(stats: pd.Series) -> pd.Series:
    """The run's daily returns: the equity's last value on each calendar day with bars, in relative
    change from the day before (the first day has none). With an index that is not a DatetimeIndex,
    each bar is a period.

    Raises:
        TypeError: ``stats`` without an ``_equity_curve`` frame (pass what ``Backtest.run`` returns).

    >>> index = pd.to_datetime(['2024-01-01 10:00', '2024-01-01 16:00', '2024-01-02 16:00'])
    >>> stats = pd.Series({'_equity_curve': pd.DataFrame({'Equity': [100.0, 110.0, 99.0]}, index)})
    >>> daily_returns(stats).round(6).tolist()
    [-0.1]
    """
    curve = stats.get("_equity_curve") if hasattr(stats, "get") else None
    if not isinstance(curve, pd.DataFrame) or "Equity" not in curve:
        raise param_error("daily_returns", "stats", "a run's stats with its '_equity_curve' (what "
                          "Backtest.run returns)", type(stats).__name__, exc=TypeError)
    equity = curve["Equity"].astype(float)
    if isinstance(equity.index, pd.DatetimeIndex):
        equity = equity.groupby(equity.index.normalize()).last()
    return equity.pct_change().iloc[1:]


def _mean_over(returns: pd.Series, divisor: float, periods: float) -> float:
    """``mean(R) / divisor × sqrt(periods)``: +inf/-inf when only the divisor is 0, NaN when undefined."""
    if len(returns) < 2 or math.isnan(divisor):
        return math.nan
    mean = float(returns.mean())
    if divisor == 0:
        return math.copysign(math.inf, mean) if mean else math.nan
    return mean / divisor * math.sqrt(periods)


def autocorrelation_penalty(returns: pd.Series) -> float:
    """``sqrt(1 + 2 Σ_{x=1}^{n-1} (n - x)/n × |ρ|^x)``, ρ the lag-1 autocorrelation of the returns.

    >>> round(autocorrelation_penalty(pd.Series([0.1, -0.1, 0.1])) ** 2, 9)  # ρ = -1: 1 + 2 (2/3 + 1/3)
    3.0
    """
    n = len(returns)
    values = returns.to_numpy(dtype=float)
    if n < 3 or np.std(values[:-1]) == 0 or np.std(values[1:]) == 0:
        return math.nan
    rho = abs(float(np.corrcoef(values[:-1], values[1:])[0, 1]))
    lags = np.arange(1, n)
    return math.sqrt(1 + 2 * float(np.sum((n - lags) / n * rho ** lags)))


def sharpe(stats: pd.Series, periods: float = PERIODS) -> float:
    """Jesse's Sharpe ratio: ``mean(R) / std(R) × sqrt(periods)`` on the daily returns (ddof 1)."""
    returns = daily_returns(stats)
    return _mean_over(returns, float(returns.std()) if len(returns) > 1 else math.nan, periods)


def sortino(stats: pd.Series, periods: float = PERIODS) -> float:
    """Jesse's Sortino ratio: ``mean(R) / sqrt(Σ_{R<0} R² / n) × sqrt(periods)`` on the daily returns."""
    returns = daily_returns(stats)
    return _mean_over(returns, _downside(returns), periods)


def smart_sharpe(stats: pd.Series, periods: float = PERIODS) -> float:
    """:func:`sharpe` with its deviation multiplied by the :func:`autocorrelation_penalty`."""
    returns = daily_returns(stats)
    deviation = float(returns.std()) if len(returns) > 1 else math.nan
    return _mean_over(returns, deviation * autocorrelation_penalty(returns), periods)


def smart_sortino(stats: pd.Series, periods: float = PERIODS) -> float:
    """:func:`sortino` with its downside deviation multiplied by the :func:`autocorrelation_penalty`."""
    returns = daily_returns(stats)
    return _mean_over(returns, _downside(returns) * autocorrelation_penalty(returns), periods)


def _downside(returns: pd.Series) -> float:
    if not len(returns):
        return math.nan
    losses = returns[returns < 0].to_numpy(dtype=float)
    return math.sqrt(float(np.sum(losses ** 2)) / len(returns))


def _drawdowns(returns: pd.Series) -> pd.Series:
    """``W_t / max(W_0..W_t) - 1`` of the wealth ``W = cumprod(1 + R)`` (0 or negative)."""
    wealth = (1 + returns).cumprod()
    return wealth / wealth.cummax() - 1


def calmar(stats: pd.Series, periods: float = PERIODS) -> float:
    """Jesse's Calmar ratio: ``CAGR / |max drawdown|`` of the daily returns, with
    ``CAGR = (Π(1 + R))^(1/y) - 1`` over ``y = days / periods`` years from the first return's day to
    the last's (``y = returns / periods`` without a DatetimeIndex)."""
    returns = daily_returns(stats)
    if len(returns) < 2:
        return math.nan
    index = returns.index
    days = (index[-1] - index[0]).days if isinstance(index, pd.DatetimeIndex) else len(returns)
    worst = float(_drawdowns(returns).min())
    if days <= 0 or worst == 0:
        return math.nan
    growth = float((1 + returns).prod())
    return (abs(growth) ** (periods / days) - 1) / abs(worst)


def omega(stats: pd.Series) -> float:
    """Omega ratio with a threshold of 0: ``Σ max(R, 0) / Σ max(-R, 0)`` on the daily returns."""
    returns = daily_returns(stats)
    loss = -float(returns[returns < 0].sum())
    return float(returns[returns > 0].sum()) / loss if loss > 0 else math.nan


def serenity(stats: pd.Series) -> float:
    """Jesse's Serenity index: ``Σ R / (ulcer × pitfall)`` on the daily returns, with ``ulcer =
    sqrt(Σ DD² / (n - 1))`` of the drawdowns ``DD`` and ``pitfall = -CVaR95(DD) / std(R)``."""
    returns = daily_returns(stats)
    if len(returns) < 2:
        return math.nan
    drawdowns = _drawdowns(returns)
    ulcer = math.sqrt(float((drawdowns ** 2).sum()) / (len(returns) - 1))
    spread, deviation = float(drawdowns.std()), float(returns.std())
    if ulcer == 0 or spread == 0 or deviation == 0:
        return math.nan
    var = NormalDist(float(drawdowns.mean()), spread).inv_cdf(0.05)
    tail = drawdowns[drawdowns < var]
    cvar = float(tail.mean()) if len(tail) else var
    pitfall = -cvar / deviation
    return float(returns.sum()) / (ulcer * pitfall)


#: The ratios :func:`fitness` knows, with the range Jesse normalises each to (its value at 0 and 1).
RATIOS: dict[str, tuple[Callable[[pd.Series], float], float, float]] = {
    "sharpe": (sharpe, -0.5, 5), "calmar": (calmar, -0.5, 30), "sortino": (sortino, -0.5, 15),
    "omega": (omega, -0.5, 5), "serenity": (serenity, -0.5, 15), "smart_sharpe": (smart_sharpe, -0.5, 5),
    "smart_sortino": (smart_sortino, -0.5, 15),
}
#: Score of a run Jesse's fitness rejects (too few trades, or a negative ratio): above 0, below the rest.
REJECTED = 0.0001


class _Fitness:
    """The objective :func:`fitness` returns: picklable, named for tables and reports."""

    def __init__(self, ratio: str, optimal_total: int) -> None:
        self.ratio, self.optimal_total = ratio, optimal_total
        self.__name__ = f"fitness({ratio}, {optimal_total})"

    def __call__(self, stats: pd.Series) -> float:
        total = stats["# Trades"]
        if not total > 5:
            return REJECTED
        rate = min(math.log10(total) / math.log10(self.optimal_total), 1.0)
        function, low, high = RATIOS[self.ratio]
        value = function(stats)
        if value < 0:
            return REJECTED
        return rate * (value - low) / (high - low)

    def __repr__(self) -> str:
        return self.__name__


def fitness(ratio: str | Callable[[pd.Series], float], optimal_total: int) -> Callable[[pd.Series], float]:
    """Jesse's optimisation fitness: a ratio normalised to its usual range, scaled by the trade count.

    ``score = min(1, log10(N) / log10(optimal_total)) × (ratio - low) / (high - low)`` with ``N`` the
    number of trades and ``(low, high)`` the ratio's range in :data:`RATIOS` (sharpe -0.5 to 5, ...);
    a run of 5 trades or fewer, or with a negative ratio, scores 0.0001. A NaN ratio scores NaN.

    Args:
        ratio: 'sharpe', 'sortino', 'smart_sharpe', 'smart_sortino', 'calmar', 'omega' or 'serenity',
            or one of those functions.
        optimal_total: the number of trades at which the count stops adding to the score (> 1).

    Returns:
        A picklable ``stats -> float`` for ``optimize(maximize=...)``.

    Raises:
        ValueError, TypeError: an unknown ratio, or ``optimal_total`` not an int > 1.

    >>> fitness('sharpe', 200)
    fitness(sharpe, 200)
    """
    names = {function: name for name, (function, _, _) in RATIOS.items()}
    name = names.get(ratio, ratio) if callable(ratio) else ratio
    if not isinstance(name, str) or name not in RATIOS:
        raise param_error("fitness", "ratio", f"one of {', '.join(map(repr, RATIOS))} or one of those "
                          "functions", ratio)
    if not isinstance(optimal_total, numbers.Integral) or isinstance(optimal_total, bool):
        raise param_error("fitness", "optimal_total", "an int > 1", optimal_total, exc=TypeError)
    if optimal_total <= 1:
        raise param_error("fitness", "optimal_total", "an int > 1", optimal_total)
    return _Fitness(name, int(optimal_total))

