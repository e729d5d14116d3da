"""Backtest statistics: the ordered stats Series of a run, computed from numpy arrays in one pass.

The metrics themselves are small pure functions in ``_metrics.py``.  :func:`compute_stats`
gathers them into the Series that ``Backtest.run`` returns, with backtesting.py 0.6's keys, order and
values; :func:`recompute_stats` rebuilds that Series from a finished result, optionally for a subset of
its trades (``backtestkit.lib.compute_stats``).  ``doc/stats.md`` documents every key and its formula.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.tseries.frequencies import to_offset

from backtestkit._errors import Verbatim, param_error
from backtestkit._metrics import (
    NAN,
    annualised_return,
    annualised_volatility,
    bars_held,
    beta_on,
    calmar_ratio,
    centred_log_returns,
    drawdown,
    drawdown_episodes,
    episode_peaks,
    geometric_mean_return,
    kelly_criterion,
    mean,
    omega_ratio,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    sqn,
    ulcer_index,
    win_rate,
)
from backtestkit._typing import FloatArray, IntArray

#: Every key :func:`compute_stats` can return, in order.  ``'Commissions [$]'`` is there only when the
#: closed trades paid commissions; ``'Omega Ratio'`` and ``'Ulcer Index'`` are backtestkit's additions.
STATS_KEYS: tuple[str, ...] = (
    "Start", "End", "Duration", "Exposure Time [%]", "Equity Final [$]", "Equity Peak [$]",
    "Commissions [$]", "Return [%]", "Buy & Hold Return [%]", "Return (Ann.) [%]",
    "Volatility (Ann.) [%]", "CAGR [%]", "Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Alpha [%]",
    "Beta", "Max. Drawdown [%]", "Avg. Drawdown [%]", "Max. Drawdown Duration",
    "Avg. Drawdown Duration", "# Trades", "Win Rate [%]", "Best Trade [%]", "Worst Trade [%]",
    "Avg. Trade [%]", "Max. Trade Duration", "Avg. Trade Duration", "Profit Factor", "Expectancy [%]",
    "SQN", "Kelly Criterion", "Omega Ratio", "Ulcer Index", "_strategy", "_equity_curve", "_trades",
)  # fmt: skip


class Stats(pd.Series):
    """A run's stats: a pandas Series that prints compactly (5 decimals, its frames cut short).

    Anything derived from it (a slice, a copy, arithmetic) is a plain Series.
    """

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", 20, "display.precision", 5):
            return super().__repr__()


_ANNUALISED_KEYS = STATS_KEYS[9:15]  # Return (Ann.) [%] .. Calmar Ratio
TRADE_COLUMNS = ("EntryBar", "ExitBar", "PnL", "Commission", "ReturnPct", "Duration")
#: The closed trades, as the stats read them: a ``_trades`` frame, or its columns as arrays.
Trades = pd.DataFrame | Mapping[str, Any]

_DAYS_PER_YEAR = 365.25  # the year of CAGR, whatever the market's calendar
_WEEKEND_SHARE = 2 / 7 * 0.6  # over this share of bars on weekends: a 365-day market (crypto), else 252
# Bars 7, 31 or 365 whole days apart compound per calendar week/month/year (W: Monday to Sunday).
_CALENDARS = {7: ("W", 52.0), 31: ("M", 12.0), 365: ("Y", 1.0)}


# --- The time axis -----------------------------------------------------------------------------------


def _bar_spacing(index: pd.Index) -> Any:
    """The data's period, the median spacing of the last 100 bars; NaT without dates or bars to space."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return pd.NaT
    return pd.Timedelta(np.median(np.diff(index.asi8[-100:])), unit=index.unit)


_NAT = np.iinfo(np.int64).min  # NaT, as a timedelta64's integer


def _round_up(count: int, unit: str, resolution: int | None) -> int:
    """``count`` ``unit``s of time rounded up to a whole number of the data's period's resolution,
    given in nanoseconds (whole days for daily bars; None: as is): what ``Timedelta.ceil`` gives, in
    Python integers rather than its 25 us.  A resolution finer than ``unit`` leaves ``count`` as is;
    a coarser one is a whole number of ``unit``s (both are 1 ns times a power of 10, a minute, an hour
    or a day), so the result is exact."""
    if resolution is None:
        return count
    per_unit = _unit_nanoseconds(unit)
    nanoseconds = count * per_unit
    if not nanoseconds % resolution:
        return count
    return -(-nanoseconds // resolution) * resolution // per_unit


@functools.lru_cache(maxsize=8)
def _unit_nanoseconds(unit: str) -> int:
    return int(np.timedelta64(1, unit).astype("m8[ns]").view(np.int64))


def _period_ends(index: pd.Index, spacing: Any) -> tuple[IntArray | None, float]:
    """The last bar of each calendar period, and periods per year: what period returns are taken over.

    Days for intraday and daily bars, 252 a year or 365 if over 60% of a calendar's weekend share of
    bars fall on weekends; weeks, months or years for bars 7, 31 or 365 whole days apart.  Without a
    DatetimeIndex: every bar (None) and NaN periods per year.
    """
    if not isinstance(index, pd.DatetimeIndex):
        return None, np.nan
    wall = index.tz_localize(None) if index.tz is not None else index
    days = wall.values.astype("datetime64[D]").astype(np.int64)  # day 0, 1970-01-01, was a Thursday
    calendar, per_year = _CALENDARS.get(spacing.days if spacing is not pd.NaT else 0, ("D", 0.0))
    if calendar == "D":
        keys = days
    elif calendar == "W":
        keys = (days + 3) // 7
    else:
        keys = wall.values.astype(f"datetime64[{calendar}]").astype(np.int64)
    last_bars = np.flatnonzero(np.append(keys[1:] != keys[:-1], True))  # each period's last bar
    if calendar == "D":  # the share of bars on weekends, from the bars of each day
        bars_a_day = np.diff(last_bars, prepend=-1)
        on_weekends = bars_a_day[(days[last_bars] + 3) % 7 >= 5].sum()
        per_year = 365.0 if on_weekends / len(days) > _WEEKEND_SHARE else 252.0
    return last_bars, per_year


def _period_returns(equity: FloatArray, last_bars: IntArray | None) -> FloatArray:
    """Simple returns from one period's last equity to the next's (bar to bar without periods)."""
    closes = equity if last_bars is None else equity[last_bars]
    return closes[1:] / closes[:-1] - 1.0


class Clock(NamedTuple):
    """What the stats need of the bars alone (their index and Close), worked out once per data set."""

    start: Any
    end: Any
    duration: Any  # End - Start
    resolution: int | None  # what durations are rounded up to: the period's resolution in ns, or None
    last_bars: IntArray | None  # each calendar period's last bar (None: every bar)
    per_year: float  # periods a year (NaN without a calendar)
    missing: Any  # a duration that is not there: NaT on a DatetimeIndex, else NaN
    close: FloatArray  # the market, for Buy & Hold and Alpha
    market: FloatArray  # and its centred_log_returns, for Beta


def clock(bars: pd.DataFrame) -> Clock:
    """The :class:`Clock` of non-empty bars."""
    index = bars.index
    spacing = _bar_spacing(index)
    last_bars, per_year = _period_ends(index, spacing)
    missing = pd.NaT if isinstance(index, pd.DatetimeIndex) else NAN
    resolution = None if spacing is pd.NaT else pd.Timedelta(to_offset(spacing.resolution_string)).value
    close = bars["Close"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        market = centred_log_returns(close)
    return Clock(index[0], index[-1], _span(index), resolution, last_bars, per_year, missing, close, market)


def _span(index: pd.Index) -> Any:
    """End minus Start: a Timedelta, an index difference, or a bar count for a non-numeric index."""
    if isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index.dtype):
        return index[-1] - index[0]
    return len(index) - 1


def _elapsed(index: pd.Index, starts: IntArray, ends: IntArray) -> npt.NDArray[Any]:
    """Time from ``starts`` to ``ends``: timedelta64 for a DatetimeIndex; else index differences
    (bar counts for a non-numeric index) as floats."""
    if isinstance(index, pd.DatetimeIndex):
        return (index.asi8[ends] - index.asi8[starts]).astype(f"m8[{index.unit}]")
    if pd.api.types.is_numeric_dtype(index.dtype):
        return (index.to_numpy()[ends] - index.to_numpy()[starts]).astype(np.float64)
    return (ends - starts).astype(np.float64)


def _longest_and_mean(durations: npt.NDArray[Any], resolution: int | None, missing: Any) -> tuple[Any, Any]:
    """Longest and mean duration; Timedeltas rounded up to the data's resolution (in ns)."""
    if not len(durations):
        return missing, missing
    if durations.dtype.kind != "m":
        return durations.max(), np.float64(durations.mean())
    unit, counts = np.datetime_data(durations.dtype)[0], durations.view(np.int64)
    if np.minimum.reduce(counts) == _NAT:  # missing durations (a trades frame of the user's): left out,
        counts = counts[counts != _NAT]  # as pandas' max() and mean() leave them out (backtesting.py)
        if not len(counts):
            return missing, missing
    longest = np.timedelta64(_round_up(int(np.maximum.reduce(counts)), unit, resolution), unit)
    return pd.Timedelta(longest), pd.Timedelta(_round_up(int(mean(counts)), unit, resolution), unit=unit)


def warmup_bars(strategy: object, n_bars: int) -> int:
    """Bars until every indicator stored on the strategy has a value: its latest first non-NaN.

    Indicators are what ``I()`` returns, arrays of an ndarray subclass with one value per bar (2-D:
    one line per row), kept as attributes; plain ndarrays are the user's own, and scatter indicators
    (signals, NaN between events by design) do not count.  An all-NaN line counts as ready at bar 0,
    as in backtesting.py.  The engine starts calling ``next()`` one bar
    after this, and Buy & Hold is measured from it.
    """
    start = 0
    for value in getattr(strategy, "__dict__", {}).values():
        if (
            isinstance(value, np.ndarray)
            and type(value) is not np.ndarray
            and value.dtype.kind == "f"
            and value.ndim in (1, 2)
            and value.shape[-1] == n_bars
            and not getattr(value, "_opts", {}).get("scatter", False)
        ):
            start = max(start, int((~np.isnan(np.atleast_2d(value))).argmax(axis=1).max()))
    return start


# --- Assembling the Series ---------------------------------------------------------------------------


def _overview(
    times: Clock, equity: FloatArray, close: FloatArray, trades: Trades, warmup: int, with_fees: bool,
    exposure: bool = True,
) -> dict[str, Any]:
    """Start .. Buy & Hold Return [%]: the run's span, exposure (if ``exposure``), final equity and
    plain returns."""
    overview = {"Start": times.start, "End": times.end, "Duration": times.duration}
    if exposure:
        held = bars_held(np.asarray(trades["EntryBar"]), np.asarray(trades["ExitBar"]))
        overview["Exposure Time [%]"] = np.float64(held) / len(equity) * 100
    overview["Equity Final [$]"] = equity[-1]
    overview["Equity Peak [$]"] = np.maximum.reduce(equity)
    fees = np.add.reduce(np.asarray(trades["Commission"], dtype=np.float64)) if with_fees else 0.0
    if fees:
        overview["Commissions [$]"] = fees
    overview["Return [%]"] = (equity[-1] - equity[0]) / equity[0] * 100
    overview["Buy & Hold Return [%]"] = (close[-1] - close[warmup]) / close[warmup] * 100
    return overview


def _annualised(
    equity: FloatArray, returns: FloatArray, per_year: float, duration: Any, max_dd: float, rate: float
) -> dict[str, Any]:
    """Return (Ann.) [%] .. Calmar Ratio; all NaN without a calendar (no DatetimeIndex)."""
    if math.isnan(per_year):
        return dict.fromkeys(_ANNUALISED_KEYS, NAN)
    period_mean = geometric_mean_return(returns)
    annual = annualised_return(period_mean, per_year)
    volatility = annualised_volatility(returns, period_mean, per_year)
    years = (duration.days + duration.seconds / 86400) / _DAYS_PER_YEAR
    cagr = (equity[-1] / equity[0]) ** (1 / years) - 1 if years else NAN
    values = (
        annual * 100,
        volatility * 100,
        np.float64(cagr * 100),
        sharpe_ratio(annual, volatility, rate),
        sortino_ratio(annual, returns, per_year, rate),
        calmar_ratio(annual, max_dd),
    )
    return dict(zip(_ANNUALISED_KEYS, values, strict=True))


def _episodes(index: pd.Index, dd: FloatArray) -> tuple[IntArray, FloatArray, npt.NDArray[Any]]:
    """Last bar, deepest drawdown and duration of each drawdown episode.

    With no episode, backtesting.py reports a dip at the last bar as one whose depth *and duration*
    are the drawdown fraction itself; kept for compatibility (see doc/stats.md).
    """
    starts, ends = drawdown_episodes(dd)
    if len(starts):
        return ends, episode_peaks(dd, starts, ends), _elapsed(index, starts, ends)
    ends = np.flatnonzero(dd[-1:] > 0) + len(dd) - 1
    return ends, dd[ends], dd[ends]


def _drawdowns(
    max_dd: np.float64, peaks: FloatArray, durations: npt.NDArray[Any], resolution: int | None
) -> dict[str, Any]:
    """Max. Drawdown [%] .. Avg. Drawdown Duration; ``max_dd`` is :func:`_finite`'s deepest drawdown."""
    longest, average = _longest_and_mean(durations, resolution, NAN)
    return {
        "Max. Drawdown [%]": -max_dd * 100,
        "Avg. Drawdown [%]": -mean(peaks) * 100 if len(peaks) else NAN,
        "Max. Drawdown Duration": longest,
        "Avg. Drawdown Duration": average,
    }


def _trade_stats(trades: Trades, resolution: int | None, missing: Any) -> dict[str, Any]:
    """# Trades .. Kelly Criterion, from the closed trades' P&L, returns and durations."""
    count = len(trades["EntryBar"])
    if not count:  # what each figure below gives without trades, without their dozen numpy calls
        return {"# Trades": 0, **dict.fromkeys(_PARTS["trades"], NAN), "Max. Trade Duration": missing,
                "Avg. Trade Duration": missing}
    pnl = np.asarray(trades["PnL"], dtype=np.float64)
    returns = np.asarray(trades["ReturnPct"], dtype=np.float64)
    longest, average = _longest_and_mean(np.asarray(trades["Duration"]), resolution, missing)
    return {
        "# Trades": count,
        "Win Rate [%]": win_rate(pnl) * 100,
        "Best Trade [%]": np.maximum.reduce(returns) * 100 if count else NAN,
        "Worst Trade [%]": np.minimum.reduce(returns) * 100 if count else NAN,
        "Avg. Trade [%]": geometric_mean_return(returns) * 100,
        "Max. Trade Duration": longest,
        "Avg. Trade Duration": average,
        "Profit Factor": profit_factor(returns),
        "Expectancy [%]": mean(returns) * 100 if count else NAN,
        "SQN": sqn(pnl),
        "Kelly Criterion": kelly_criterion(pnl),
    }


def _equity_curve(
    index: pd.Index, equity: FloatArray, dd: FloatArray, ends: IntArray, durations: npt.NDArray[Any]
) -> pd.DataFrame:
    """The ``_equity_curve`` frame: equity, drawdown and, on each drawdown's last bar, its duration."""
    column = np.full(len(equity), np.nan, dtype=durations.dtype)
    column[ends] = durations
    curve = {"Equity": equity, "DrawdownPct": dd, "DrawdownDuration": column}
    return pd.DataFrame(curve, index=index, copy=False)


def _finite(value: np.float64) -> np.float64:
    """``np.nan_to_num`` of a scalar (NaN as 0, ±inf as the largest floats), the finite ones (nearly
    all) without its 20 µs of array machinery."""
    return value if math.isfinite(value) else np.nan_to_num(value)


def _keys_index(keys: tuple[str, ...]) -> pd.Index:
    """The Series' index: a shallow copy (its own ``name``) of a cached Index, 20x faster to make."""
    return _cached_index(keys).copy()


@functools.lru_cache(maxsize=8)
def _cached_index(keys: tuple[str, ...]) -> pd.Index:
    return pd.Index(keys)


def stats_series(
    trades: pd.DataFrame, equity: FloatArray, bars: pd.DataFrame, strategy: object, risk_free_rate: float,
    with_fees: bool, times: Clock | None = None, warmup: int | None = None,
) -> pd.Series:  # fmt: skip
    """The stats Series in :data:`STATS_KEYS` order: what ``Backtest.run`` and the two public
    functions return.  ``times`` is the bars' :class:`Clock`, if the caller keeps one; ``warmup``
    the bars before Buy & Hold starts, if not the strategy's :func:`warmup_bars` (a window run)."""
    stats, curve = _computed(trades, equity, bars, strategy, risk_free_rate, with_fees, times, warmup)
    stats["_equity_curve"] = _equity_curve(bars.index, equity, *curve)
    stats["_trades"] = trades
    return Stats(list(stats.values()), index=_keys_index(tuple(stats)), dtype=object)


def stats_dict(
    trades: Trades, equity: FloatArray, bars: pd.DataFrame, strategy: object, risk_free_rate: float,
    with_fees: bool, times: Clock | None = None, warmup: int | None = None,
    keys: Collection[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every stat but the frames, keyed in order, from arrays: the values of the stats Series, to the bit.
    ``times`` and ``warmup`` as for :func:`stats_series`. Given ``keys``, only the stats those need are
    computed (Start .. Buy & Hold Return but the exposure, ``# Trades`` and ``_strategy`` always are; see
    :func:`parts_for`), each to the same bit.
    """
    parts = _ALL_PARTS if keys is None else parts_for(keys)
    return _computed(trades, equity, bars, strategy, risk_free_rate, with_fees, times, warmup, parts)[0]


#: The stats computed together beyond the overview (Start .. Buy & Hold Return but the exposure),
#: ``# Trades`` and ``_strategy``, which every run computes: a subset of keys costs only its parts.
_PARTS: dict[str, tuple[str, ...]] = {
    "exposure": ("Exposure Time [%]",),
    "annualised": _ANNUALISED_KEYS,
    "beta": ("Alpha [%]", "Beta"),
    "drawdowns": STATS_KEYS[17:21],  # Max. Drawdown [%] .. Avg. Drawdown Duration
    "trades": STATS_KEYS[22:32],  # Win Rate [%] .. Kelly Criterion
    "omega": ("Omega Ratio",),
    "ulcer": ("Ulcer Index",),
}
_PART_OF = {key: part for part, part_keys in _PARTS.items() for key in part_keys}
_ALL_PARTS = frozenset(_PARTS)


def parts_for(keys: Collection[str]) -> frozenset[str]:
    """The parts of the stats that ``keys`` need (keys of no part need none).

    >>> sorted(parts_for(["Sharpe Ratio", "# Trades", "SQN"]))
    ['annualised', 'trades']
    """
    return frozenset(_PART_OF[key] for key in keys if key in _PART_OF)


def _computed(
    trades: Trades, equity: FloatArray, bars: pd.DataFrame, strategy: object, risk_free_rate: float,
    with_fees: bool, times: Clock | None, warmup: int | None = None, parts: frozenset[str] = _ALL_PARTS,
) -> tuple[dict[str, Any], tuple[FloatArray, IntArray, npt.NDArray[Any]] | None]:  # fmt: skip
    """The stats but the frames (of ``parts``), and, when they are all computed, the drawdowns,
    episode ends and durations the ``_equity_curve`` frame shows. Divisions by zero and logs of 0
    give the inf/NaN the docs promise, without warnings."""
    if warmup is None:
        warmup = warmup_bars(strategy, len(equity))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _stats_dict(trades, equity, bars, strategy, risk_free_rate, with_fees,
                           times or clock(bars), warmup, parts)


def _stats_dict(
    trades: Trades, equity: FloatArray, bars: pd.DataFrame, strategy: object, risk_free_rate: float,
    with_fees: bool, times: Clock, warmup: int, parts: frozenset[str],
) -> tuple[dict[str, Any], tuple[FloatArray, IntArray, npt.NDArray[Any]] | None]:  # fmt: skip
    stats = _overview(times, equity, times.close, trades, warmup, with_fees, "exposure" in parts)
    dd = drawdown(equity) if parts & {"annualised", "drawdowns", "ulcer"} else None
    max_dd = _finite(np.maximum.reduce(dd)) if dd is not None else None
    returns = _period_returns(equity, times.last_bars) if parts & {"annualised", "omega"} else None
    if "annualised" in parts:
        stats.update(_annualised(equity, returns, times.per_year, times.duration, max_dd, risk_free_rate))
    if "beta" in parts:
        slope, rf_pct = beta_on(equity, times.market), risk_free_rate * 100
        stats["Alpha [%]"] = stats["Return [%]"] - rf_pct - slope * (stats["Buy & Hold Return [%]"] - rf_pct)
        stats["Beta"] = slope
    curve = None
    if "drawdowns" in parts:
        ends, peaks, durations = _episodes(bars.index, dd)
        stats.update(_drawdowns(max_dd, peaks, durations, times.resolution))
        curve = (dd, ends, durations)
    if "trades" in parts:
        stats.update(_trade_stats(trades, times.resolution, times.missing))
    else:
        stats["# Trades"] = len(trades["EntryBar"])
    if "omega" in parts:
        stats["Omega Ratio"] = omega_ratio(returns)
    if "ulcer" in parts:
        stats["Ulcer Index"] = ulcer_index(dd)
    stats["_strategy"] = strategy
    return stats, curve


def compute_stats(
    trades: pd.DataFrame,
    equity: np.ndarray,
    ohlc_data: pd.DataFrame,
    strategy_instance: object,
    risk_free_rate: float = 0.0,
) -> pd.Series:
    """The stats Series of a finished run, keys in :data:`STATS_KEYS` order (see ``doc/stats.md``).

    Args:
        trades: The closed trades, one row each, with at least the columns of :data:`TRADE_COLUMNS`
            (``Backtest.run``'s ``_trades`` frame); returned as ``'_trades'``.
        equity: The equity at each bar's close, one value per row of ``ohlc_data``.
        ohlc_data: The bars; ``'Close'`` is the market for Buy & Hold, Alpha and Beta, the index the
            clock.  Annualised figures need a DatetimeIndex and are NaN without one.
        strategy_instance: The strategy that ran, returned as ``'_strategy'``; the float arrays among
            its attributes with one value per bar are its indicators, and Buy & Hold starts when the
            last of them has its first value.
        risk_free_rate: Annual risk-free rate for the Sharpe and Sortino ratios and Alpha (0.02 = 2%).

    Returns:
        A Series of dtype object.

    Raises:
        ValueError: If ``equity`` does not have one value per bar.

    Example:
        >>> bars = pd.DataFrame({"Close": [100.0, 110.0, 99.0, 121.0]},
        ...                     index=pd.date_range("2024-01-01", periods=4))
        >>> trades = pd.DataFrame({"EntryBar": [0], "ExitBar": [3], "PnL": [21.0], "Commission": [0.0],
        ...                        "ReturnPct": [0.21], "Duration": [pd.Timedelta("3D")]})
        >>> stats = compute_stats(trades, np.array([100.0, 110.0, 99.0, 121.0]), bars, None)
        >>> print(f"{stats['Return [%]']:.1f} {stats['Max. Drawdown [%]']:.1f} {stats['# Trades']}")
        21.0 -10.0 1
    """
    equity = np.array(equity, dtype=np.float64)  # a copy: the result's frame holds it
    if len(equity) != len(ohlc_data) or not len(equity):
        expected = f"an array of one value per bar of ohlc_data ({len(ohlc_data)})"
        raise param_error("compute_stats", "equity", expected, Verbatim(f"{len(equity)} values"))
    return stats_series(trades, equity, ohlc_data, strategy_instance, risk_free_rate, True)


def recompute_stats(
    *, stats: pd.Series, data: pd.DataFrame, trades: pd.DataFrame | None = None, risk_free_rate: float = 0.0
) -> pd.Series:
    """Recompute a run's stats, for all of its trades or a subset, like backtesting.py's
    ``lib.compute_stats``.

    For a subset, the equity is rebuilt as the starting equity plus each chosen trade's P&L, booked
    whole on the trade's entry bar (backtesting.py's approximation; open positions are not marked to
    market).  As in backtesting.py, the result has no ``'Commissions [$]'`` key.

    Args:
        stats: A Series returned by ``Backtest.run`` (its ``_equity_curve``, ``_trades`` and
            ``_strategy`` are used).
        data: The bars that run was on.
        trades: Rows of ``stats['_trades']`` to keep (e.g. ``trades[trades.Size > 0]``); all if None.
        risk_free_rate: Annual risk-free rate for the Sharpe and Sortino ratios and Alpha.

    Returns:
        The stats Series, as :func:`compute_stats` returns it.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``data`` does not match the run, ``trades`` lacks a column or has bars that
            are not whole, outside the run, or exits before entries, or ``risk_free_rate`` is not finite.

    Example:
        >>> bars = pd.DataFrame({"Close": [100.0, 110.0, 99.0, 121.0]},
        ...                     index=pd.date_range("2024-01-01", periods=4))
        >>> trades = pd.DataFrame({"EntryBar": [0, 2], "ExitBar": [1, 3], "PnL": [10.0, 22.0],
        ...     "Commission": [0.0, 0.0], "ReturnPct": [0.1, 0.22], "Duration": [pd.Timedelta("1D")] * 2})
        >>> stats = compute_stats(trades, np.array([100.0, 110.0, 110.0, 132.0]), bars, None)
        >>> longs = recompute_stats(stats=stats, data=bars, trades=trades.iloc[1:])
        >>> print(longs["# Trades"], longs["_equity_curve"]["Equity"].tolist())
        1 [100.0, 100.0, 122.0, 122.0]
    """
    equity = _check_recompute(stats, data, trades, risk_free_rate)
    if trades is None:
        trades = stats["_trades"]
    else:
        entries = trades["EntryBar"].to_numpy().astype(np.int64)
        pnl = np.bincount(entries, weights=trades["PnL"].to_numpy(dtype=np.float64), minlength=len(equity))
        equity = equity[0] + np.cumsum(pnl)
    return stats_series(trades, equity, data, stats["_strategy"], risk_free_rate, False)


def _check_recompute(stats: Any, data: Any, trades: Any, risk_free_rate: Any) -> FloatArray:
    """Validate :func:`recompute_stats`'s arguments; return a copy of the run's equity."""
    owner, run_keys = "compute_stats", ("_equity_curve", "_trades", "_strategy")
    if not isinstance(stats, pd.Series):
        raise param_error(owner, "stats", "the Series returned by Backtest.run()", stats, exc=TypeError)
    lacking = [key for key in run_keys if key not in stats.index]
    if lacking:
        got = Verbatim(f"a Series without {_listing(lacking)}")
        raise param_error(owner, "stats", "the Series returned by Backtest.run()", got)
    equity = stats["_equity_curve"]["Equity"].to_numpy(dtype=np.float64, copy=True)
    if not isinstance(data, pd.DataFrame):
        raise param_error(owner, "data", "a DataFrame of the bars the run was on", data, exc=TypeError)
    if "Close" not in data.columns or len(data) != len(equity):
        got = Verbatim(f"{len(data)} rows" + ("" if "Close" in data.columns else " without a 'Close' column"))
        raise param_error(owner, "data", f"the run's {len(equity)} bars, with a 'Close' column", got)
    if trades is not None:
        _check_trades(owner, trades, len(equity))
    if isinstance(risk_free_rate, bool) or not isinstance(risk_free_rate, numbers.Real):
        raise param_error(owner, "risk_free_rate", "a number such as 0.02", risk_free_rate, exc=TypeError)
    if not math.isfinite(risk_free_rate):
        raise param_error(owner, "risk_free_rate", "a finite number such as 0.02", risk_free_rate)
    return equity


def _check_trades(owner: str, trades: Any, n_bars: int) -> None:
    """Validate a frame of trades to recompute stats for: rows of a run's ``_trades``."""
    expected = "None or rows of stats['_trades']"
    if not isinstance(trades, pd.DataFrame):
        raise param_error(owner, "trades", expected, trades, exc=TypeError)
    lacking = [column for column in TRADE_COLUMNS if column not in trades.columns]
    if lacking:
        raise param_error(owner, "trades", expected, Verbatim(f"a DataFrame without {_listing(lacking)}"))
    entries, exits = trades["EntryBar"].to_numpy(dtype=float), trades["ExitBar"].to_numpy(dtype=float)
    if not all((np.isfinite(bars) & (bars % 1 == 0)).all() for bars in (entries, exits)):
        raise param_error(owner, "trades", expected, Verbatim("bars that are not whole numbers"))
    if len(entries) and not (entries.min() >= 0 and entries.max() < n_bars):
        got = Verbatim(f"entry bars from {entries.min():g} to {entries.max():g}")
        raise param_error(owner, "trades", expected, got, hint=f"This run has bars 0 to {n_bars - 1}.")
    if len(exits) and not (exits.max() < n_bars and (exits >= entries).all()):
        got = Verbatim(f"exit bars from {exits.min():g} to {exits.max():g}")
        raise param_error(owner, "trades", expected, got, hint=f"This run has bars 0 to {n_bars - 1}, "
                          "and a trade exits on or after the bar it entered on.")


def _listing(names: list[str]) -> str:
    return ", ".join(map(repr, names))
