"""A run's returns as the overfitting statistics read them: per calendar period (a day for intraday
and daily bars), as the stats' Sharpe Ratio counts them, with how many such periods make a year."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import Verbatim, param_error
from backtestkit._stats import _bar_spacing, _period_ends, _period_returns

EXPECTED = ("a stats Series from Backtest.run, an equity curve (Series or DataFrame with 'Equity') "
            "or a 1-D array of per-period returns")


def run_returns(returns: Any, owner: str, name: str = "returns") -> tuple[np.ndarray, float]:
    """Per-period returns and periods a year (NaN when unknown) of what the user gave.

    A stats Series or an equity curve gives the returns of each calendar period's last equity (as the
    stats' Sharpe Ratio counts them); an array or a plain Series of numbers is taken as the returns.
    """
    equity: pd.Series | None = None
    if isinstance(returns, pd.Series) and "_equity_curve" in returns.index:
        equity = returns["_equity_curve"]["Equity"]
    elif isinstance(returns, pd.DataFrame):
        if "Equity" not in returns.columns:
            raise param_error(owner, name, EXPECTED, Verbatim("a DataFrame without an 'Equity' column"))
        equity = returns["Equity"]
    if equity is not None:
        values = equity.to_numpy(dtype=float)
        last_bars, per_year = _period_ends(equity.index, _bar_spacing(equity.index))
        return _period_returns(values, last_bars), per_year
    if isinstance(returns, (str, bytes)) or not hasattr(returns, "__len__"):
        raise param_error(owner, name, EXPECTED, returns, exc=TypeError)
    try:
        values = np.asarray(returns, dtype=float)
    except (TypeError, ValueError):
        raise param_error(owner, name, EXPECTED, returns, exc=TypeError) from None
    if values.ndim != 1:
        raise param_error(owner, name, EXPECTED, Verbatim(f"an array of shape {values.shape}"))
    return values, math.nan

