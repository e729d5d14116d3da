"""Deterministic generator of the bundled sample data.

Regenerate the CSVs next to this file with ``python -m backtestkit.datasets._generate`` (or pass another
directory). The output is byte-for-byte reproducible: one fixed seed, numpy's PCG64 Generator, fixed
rounding and formatting.

The market model, in log prices, bar by bar:

- a hidden regime (bull, bear, range), switching as a Markov chain, sets the drift and scales volatility;
- GARCH(1,1) variance clusters volatility within a regime;
- a bar opens with an overnight gap after a session break (longer breaks gap more), else at the last close;
- High and Low are drawn as the extremes of a Brownian bridge from Open to Close, so they always
  enclose both; volume rises with the bar's volatility and the size of its move.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtestkit.datasets import _DAILY_FILE, _HOURLY_FILE

SEED = 7  # picked among a few seeds for a telling path: a crash, a recovery, a modest gain overall
HOURS = tuple(range(9, 17))  # hourly bars start 09:00, ..., 16:00: a 09:00-17:00 session
# Share of each session's diffusive variance per hourly bar: busy open and close, quiet lunch.
_INTRADAY_SHAPE = np.array([1.6, 1.1, 0.9, 0.8, 0.8, 0.9, 1.0, 1.3])


@dataclass(frozen=True)
class _Regime:
    drift: float  # annual drift of the log price
    vol_scale: float  # multiplies the market's annual volatility


@dataclass(frozen=True)
class _Market:
    bars_per_day: int
    garch_alpha: float
    garch_beta: float
    annual_vol: float = 0.18
    gap_share: float = 0.2  # share of a trading day's variance that arrives overnight
    regimes: tuple[_Regime, ...] = (_Regime(0.20, 0.8), _Regime(-0.25, 1.6), _Regime(0.02, 1.0))
    mean_regime_years: float = 0.7
    daily_volume: float = 2_000_000.0
    start_price: float = 100.0


_DAILY = _Market(bars_per_day=1, garch_alpha=0.08, garch_beta=0.90)
_HOURLY = _Market(bars_per_day=len(HOURS), garch_alpha=0.04, garch_beta=0.95)


def _regime_path(rng: np.random.Generator, n: int, switch_prob: float, n_regimes: int) -> np.ndarray:
    """Markov chain of regime numbers: stay with 1 - switch_prob, else move to another regime at random."""
    switches = rng.random(n) < switch_prob
    steps = rng.integers(1, n_regimes, size=n)  # to a different regime: +1 .. +(n_regimes - 1)
    return np.cumsum(np.where(switches, steps, 0)) % n_regimes


def _garch(shocks: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """GARCH(1,1) variance multipliers (long-run mean 1) driven by standard normal shocks."""
    omega = 1.0 - alpha - beta
    variance = np.empty(len(shocks))
    h = 1.0
    for t, z in enumerate(shocks):
        variance[t] = h
        h = omega + alpha * h * z * z + beta * h
    return variance


def _simulate(
    rng: np.random.Generator, market: _Market, bar_share: np.ndarray, gap_share: np.ndarray
) -> dict[str, np.ndarray]:
    """OHLCV arrays for bars whose variances are the given shares of a trading day's variance."""
    n, bars_per_year = len(bar_share), 252 * market.bars_per_day
    regime = _regime_path(rng, n, 1 / (market.mean_regime_years * bars_per_year), len(market.regimes))
    drift = np.array([r.drift for r in market.regimes])[regime] / bars_per_year
    calm_sigma = market.annual_vol / np.sqrt(252)
    z_bar, z_gap = rng.standard_normal(n), rng.standard_normal(n)
    day_sigma = (
        calm_sigma
        * np.array([r.vol_scale for r in market.regimes])[regime]
        * np.sqrt(_garch(z_bar, market.garch_alpha, market.garch_beta))
    )
    bar_sigma = day_sigma * np.sqrt(bar_share)
    move = drift - bar_sigma**2 / 2 + bar_sigma * z_bar
    # The first summand carries the start price, so an ungapped Open equals the previous Close exactly.
    steps = day_sigma * np.sqrt(gap_share) * z_gap + np.concatenate(([np.log(market.start_price)], move[:-1]))
    log_open = np.cumsum(steps)
    # Extremes of a Brownian bridge from 0 to `move` with variance bar_sigma**2 (exact marginals).
    u_high, u_low = rng.random(n), rng.random(n)
    up = (move + np.sqrt(move**2 - 2 * bar_sigma**2 * np.log1p(-u_high))) / 2
    down = (move - np.sqrt(move**2 - 2 * bar_sigma**2 * np.log1p(-u_low))) / 2
    activity = 0.8 * np.log(day_sigma / calm_sigma) + 0.3 * np.abs(z_bar) + 0.25 * rng.standard_normal(n)
    volume = market.daily_volume * bar_share / (1 - market.gap_share) * np.exp(activity)
    return {
        "Open": np.exp(log_open),
        "High": np.exp(log_open + up),
        "Low": np.exp(log_open + down),
        "Close": np.exp(log_open + move),
        "Volume": np.round(volume, -2).astype(np.int64),
    }


def _frame(
    rng: np.random.Generator,
    market: _Market,
    index: pd.DatetimeIndex,
    bar_share: np.ndarray,
    session_start: np.ndarray,
) -> pd.DataFrame:
    """Simulate bars on ``index``; bars that start a session gap by the calendar days since the last one."""
    dates = index.normalize().to_numpy()
    days = np.diff(dates, prepend=dates[0]) / np.timedelta64(1, "D")
    # An overnight break carries gap_share of a day's variance; each extra calendar day adds a quarter.
    gap_share = np.where(session_start, market.gap_share * (1 + 0.25 * np.maximum(days - 1, 0)), 0.0)
    columns = _simulate(rng, market, bar_share, gap_share)
    frame = pd.DataFrame(columns, index=pd.Index(index, name="Date"))
    return frame.round({"Open": 2, "High": 2, "Low": 2, "Close": 2})


def daily_frame(rng: np.random.Generator) -> pd.DataFrame:
    """2,500 daily bars on business days from 2015-01-02, every one gapping from the previous close."""
    index = pd.bdate_range("2015-01-02", periods=2_500)
    return _frame(rng, _DAILY, index, np.full(len(index), 1 - _DAILY.gap_share), np.ones(len(index), bool))


def hourly_frame(rng: np.random.Generator) -> pd.DataFrame:
    """10,000 hourly bars, 09:00-16:00 on 1,250 business days from 2019-01-02; gaps only at 09:00."""
    days = pd.bdate_range("2019-01-02", periods=10_000 // len(HOURS))
    index = pd.DatetimeIndex([day + pd.Timedelta(hours=hour) for day in days for hour in HOURS])
    shape = (1 - _HOURLY.gap_share) * _INTRADAY_SHAPE / _INTRADAY_SHAPE.sum()
    return _frame(rng, _HOURLY, index, np.tile(shape, len(days)), index.hour == HOURS[0])


def write(directory: str | Path) -> list[Path]:
    """Write the sample CSVs into ``directory``; return their paths."""
    daily_rng, hourly_rng = (np.random.default_rng(seed) for seed in np.random.SeedSequence(SEED).spawn(2))
    outputs = [
        (_DAILY_FILE, daily_frame(daily_rng), "%Y-%m-%d"),
        (_HOURLY_FILE, hourly_frame(hourly_rng), "%Y-%m-%d %H:%M"),
    ]
    Path(directory).mkdir(parents=True, exist_ok=True)
    paths = []
    for file_name, frame, date_format in outputs:
        frame.index = frame.index.strftime(date_format).rename("Date")
        path = Path(directory) / file_name
        frame.to_csv(path, float_format="%.2f", lineterminator="\n")
        paths.append(path)
    return paths


def main(argv: list[str]) -> None:
    """Command line: ``python -m backtestkit.datasets._generate [DIRECTORY]`` (default: this package)."""
    directory = Path(argv[0]) if argv else Path(__file__).parent
    for path in write(directory):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1:])
