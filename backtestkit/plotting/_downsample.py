"""What the chart works out from a run's data before drawing anything: pure numpy and pandas, no bokeh.

Chiefly downsampling. A :class:`Grouping` maps every bar to the plotted bar it falls in and aggregates
arrays over those groups with ``ufunc.reduceat``, so a million bars take milliseconds. Groups come from
a pandas rule on a DatetimeIndex (``'1h'``, ``'ME'``; periods without bars are dropped) or, for any
other index, from runs of a fixed number of bars. The same groupings give the coarser candles that
the chart superimposes behind the bars. Also here: the few small array helpers the panels need.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from backtestkit._errors import param_error

MAX_BARS = 10_000

# Timeframes tried when one is picked automatically, finest first.
_RULES = ("1s", "5s", "15s", "30s", "1min", "5min", "15min", "30min", "1h", "2h", "4h", "1D", "W", "ME",
          "QE", "YE")  # fmt: skip


class Grouping:
    """Consecutive bars gathered into groups; ``groups[i]`` is the group (plotted bar) of bar ``i``.

    >>> g = Grouping(np.array([0, 0, 1, 1, 1]), "2-3 bars")
    >>> len(g), g.starts.tolist(), g.ends.tolist()
    (2, [0, 2], [1, 4])
    >>> g.last(np.array([1.0, 2, 3, 4, 5])).tolist(), g.mean(np.array([1.0, np.nan, 3, 4, 5])).tolist()
    ([2.0, 5.0], [1.0, 4.0])
    """

    def __init__(self, groups: np.ndarray, label: str) -> None:
        self.groups = groups
        self.label = label
        changes = np.flatnonzero(groups[1:] != groups[:-1]) + 1
        self.starts = np.concatenate(([0], changes))
        self.ends = np.concatenate((changes - 1, [len(groups) - 1]))

    def __len__(self) -> int:
        return len(self.starts)

    def first(self, values: np.ndarray) -> np.ndarray:
        return values[..., self.starts]

    def last(self, values: np.ndarray) -> np.ndarray:
        return values[..., self.ends]

    def max(self, values: np.ndarray) -> np.ndarray:
        """Largest value of each group, ignoring NaN (NaN only where a group is all NaN)."""
        return np.fmax.reduceat(values, self.starts, axis=-1)

    def min(self, values: np.ndarray) -> np.ndarray:
        return np.fmin.reduceat(values, self.starts, axis=-1)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of each group's values, NaN counting as 0."""
        return np.add.reduceat(np.nan_to_num(values), self.starts, axis=-1)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of each group's non-NaN values (NaN where a group is all NaN)."""
        counts = np.add.reduceat((~np.isnan(values)).astype(np.int64), self.starts, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self.sum(values) / np.maximum(counts, 1), np.nan)

    def ohlcv(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The candles of the groups: first Open, highest High, lowest Low, last Close, summed Volume.

        Each group is labelled with its first bar's index label.

        >>> bars = pd.DataFrame({"Open": [1.0, 2, 3, 4], "High": [2.0, 5, 4, 6], "Low": [0.5, 1, 2, 3],
        ...                      "Close": [2.0, 3, 4, 5], "Volume": [10.0, 20, 30, 40]})
        >>> Grouping(np.array([0, 0, 1, 1]), "2 bars").ohlcv(bars)
           Open  High  Low  Close  Volume
        0   1.0   5.0  0.5    3.0    30.0
        2   3.0   6.0  2.0    5.0    70.0
        """
        price = {name: frame[name].to_numpy(np.float64) for name in ("Open", "High", "Low", "Close")}
        volume = frame["Volume"].to_numpy(np.float64) if "Volume" in frame else np.full(len(frame), np.nan)
        return pd.DataFrame({
            "Open": self.first(price["Open"]),
            "High": self.max(price["High"]),
            "Low": self.min(price["Low"]),
            "Close": self.last(price["Close"]),
            "Volume": np.where(np.isnan(self.max(volume)), np.nan, self.sum(volume)),
        }, index=frame.index[self.starts])  # fmt: skip


def identity(n_bars: int) -> Grouping:
    """Every bar in a group of its own."""
    return Grouping(np.arange(n_bars), "1 bar")


def by_count(n_bars: int, size: int) -> Grouping:
    """Runs of ``size`` bars (the last run may be shorter)."""
    return Grouping(np.arange(n_bars) // size, f"{size} bars each")


def by_rule(index: pd.DatetimeIndex, rule: str) -> Grouping:
    """The bars of each period of a pandas ``rule`` ('1h', 'W', 'ME'); periods without bars are dropped.

    >>> index = pd.to_datetime(["2024-01-01 09:00", "2024-01-01 09:30", "2024-01-01 11:15"])
    >>> by_rule(index, "1h").groups.tolist()
    [0, 0, 1]
    """
    counts = pd.Series(np.ones(len(index), dtype=np.int64), index=index).resample(rule).sum().to_numpy()
    counts = counts[counts > 0]
    return Grouping(np.repeat(np.arange(len(counts)), counts), f"{rule} bars")


def period_length(rule: str, at: pd.Timestamp) -> pd.Timedelta:
    """How long the first whole period of ``rule`` after ``at`` lasts (for 'ME', the next month's length).

    >>> period_length("ME", pd.Timestamp("2024-01-10")), period_length("4h", pd.Timestamp("2024-01-10"))
    (Timedelta('29 days 00:00:00'), Timedelta('0 days 04:00:00'))
    """
    edges = pd.date_range(start=at, periods=2, freq=rule)
    return edges[1] - edges[0]


def bar_spacing(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The median time between consecutive bars (0 for fewer than two bars).

    >>> bar_spacing(pd.to_datetime(["2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10"]))
    Timedelta('1 days 00:00:00')
    """
    if len(index) < 2:
        return pd.Timedelta(0)
    return pd.Timedelta(np.median(np.diff(index.asi8)), unit=index.unit)


def auto_downsample(index: pd.Index, max_bars: int = MAX_BARS) -> Grouping | None:
    """The finest grouping that leaves at most ``max_bars`` plotted bars; None when all bars fit."""
    n_bars = len(index)
    if n_bars <= max_bars:
        return None
    if isinstance(index, pd.DatetimeIndex):
        span = index[-1] - index[0]
        for rule in _RULES:  # bars spanning `span` fall in at most span / period + 2 periods
            if span / period_length(rule, index[0]) + 2 <= max_bars:
                return by_rule(index, rule)
    return by_count(n_bars, math.ceil(n_bars / max_bars))


def auto_superimpose_rule(index: pd.DatetimeIndex) -> str | None:
    """The first timeframe whose periods last ten bars or more (daily bars → 'ME'), or None."""
    spacing = bar_spacing(index)
    if spacing <= pd.Timedelta(0):
        return None
    return next((rule for rule in _RULES if period_length(rule, index[0]) >= 10 * spacing), None)


def downsampling(index: pd.Index, resample: bool | str) -> tuple[Grouping, str]:
    """How the bars are gathered for plotting, and a note saying so ('' when every bar is plotted).

    ``resample`` True downsamples past :data:`MAX_BARS` bars, a rule forces that timeframe.

    >>> downsampling(pd.RangeIndex(25_000), True)[1]
    'downsampled from 25,000 to 8,334 bars (3 bars each)'
    """
    if isinstance(resample, str):
        grouping = by_rule(index, resample)
    else:
        grouping = (auto_downsample(index) if resample else None) or identity(len(index))
    if len(grouping) == len(index):
        return identity(len(index)), ""
    return grouping, f"downsampled from {len(index):,} to {len(grouping):,} bars ({grouping.label})"


def superimpose_rule(index: pd.Index, superimpose: bool | str) -> str | None:
    """The timeframe of the candles to superimpose (a rule given, or picked when True), or None."""
    if isinstance(superimpose, str):
        return superimpose
    if not superimpose or not isinstance(index, pd.DatetimeIndex):
        return None
    return auto_superimpose_rule(index)


def check_rule(owner: str, name: str, value: object, index: pd.Index) -> None:
    """Check a True/False-or-rule argument: a rule must be valid, need timestamps, be coarser than the bars.

    >>> check_rule("Backtest.plot", "resample", "1h", pd.date_range("2024", periods=3, freq="D"))
    Traceback (most recent call last):
    ValueError: The 'resample' parameter of Backtest.plot must be True, False or a timeframe longer than \
the bars' spacing (1 days), such as 'ME'. Got '1h' instead.
    """
    expected = "True, False or a pandas offset alias such as 'W' or 'ME'"
    if isinstance(value, (bool, np.bool_)):
        return
    if not isinstance(value, str):
        raise param_error(owner, name, expected, value, exc=TypeError)
    if not isinstance(index, pd.DatetimeIndex):
        raise param_error(owner, name, "True or False for data without a DatetimeIndex", value,
                          hint="Timeframes such as 'W' need bars with timestamps.")  # fmt: skip
    try:
        with warnings.catch_warnings():  # pandas 2 warns about some spellings before rejecting them
            warnings.simplefilter("ignore", FutureWarning)
            length = period_length(value, index[0])
    except ValueError:
        raise param_error(owner, name, expected, value) from None
    spacing = bar_spacing(index)
    if length <= spacing:
        shown = str(spacing).removeprefix("0 days ").removesuffix(" 00:00:00")
        expected = f"True, False or a timeframe longer than the bars' spacing ({shown})"
        raise param_error(owner, name, f"{expected}, such as {auto_superimpose_rule(index) or 'YE'!r}", value)


def longest_drawdown(curve: pd.DataFrame) -> tuple[int, int, str] | None:
    """First and last bar of the longest drawdown (peak to recovery, or to the end) and its duration.

    None when the equity never fell. The duration reads 'N days' on timestamps, else 'N bars'.

    >>> curve = pd.DataFrame({"DrawdownPct": [0.0, 0.1, 0.2, 0.0, 0.1],
    ...                       "DrawdownDuration": [np.nan, np.nan, np.nan, 3, 1]})
    >>> longest_drawdown(curve)  # from the peak on bar 0 to the recovery on bar 3
    (0, 3, '3 bars')
    """
    durations = curve["DrawdownDuration"].reset_index(drop=True)
    if not durations.notna().any():
        return None
    end = int(durations.idxmax())
    peaks = np.flatnonzero(curve["DrawdownPct"].to_numpy()[:end] == 0)
    longest = durations[end]
    if isinstance(longest, pd.Timedelta):
        text = f"{longest.days:,} days" if longest >= pd.Timedelta(days=1) else str(longest)
    else:
        text = f"{longest:,.0f} bars"
    return (int(peaks[-1]) if len(peaks) else 0), end, text


def is_overlay(values: np.ndarray, close: np.ndarray) -> bool:
    """Whether over half of an indicator's values lie within 0.6–1.4× Close (so it belongs on price).

    >>> close = np.array([100.0, 101, 102, 103])
    >>> is_overlay(np.array([99.0, np.nan, 101, 104]), close), is_overlay(np.array([30.0, 70, 50, 40]), close)
    (True, False)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / close
    ratio = ratio[np.isfinite(ratio)]
    return bool(ratio.size) and bool(np.mean((ratio >= 0.6) & (ratio <= 1.4)) > 0.5)
