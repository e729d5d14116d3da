"""Random OHLC frames that resemble an example, for Monte Carlo and robustness tests."""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np
import pandas as pd

from backtestkit._errors import Verbatim, param_error
from backtestkit._ohlcv import OHLC, validate_ohlcv

_OWNER = "random_ohlc_data"


def _check_scalars(frac: object, random_state: object) -> None:
    if isinstance(frac, bool) or not isinstance(frac, numbers.Real):
        raise param_error(_OWNER, "frac", "a finite number > 0", frac, exc=TypeError)
    if not 0 < frac < np.inf:
        raise param_error(_OWNER, "frac", "a finite number > 0", frac)
    if random_state is None:
        return
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise param_error(_OWNER, "random_state", "an int >= 0 or None", random_state, exc=TypeError)
    if random_state < 0:
        raise param_error(_OWNER, "random_state", "an int >= 0 or None", random_state)


def _index(index: pd.Index, size: int) -> pd.Index:
    """The first ``size`` labels; past the end, the whole span repeats shifted by one period."""
    if size <= len(index):
        return index[:size]
    if not (isinstance(index, pd.DatetimeIndex) or pd.api.types.is_numeric_dtype(index.dtype)):
        return pd.RangeIndex(size)
    period = index[-1] - index[0] + (index[-1] - index[-2])
    step = np.arange(size)
    return (index.take(step % len(index)) + pd.Index(step // len(index)) * period).rename(index.name)


def _frames(data: pd.DataFrame, size: int, replace: bool, rng: np.random.Generator) -> Iterator[pd.DataFrame]:
    """Endless frames: bars drawn at random, chained through the example's gaps in their original order."""
    prices = data[list(OHLC)].to_numpy()
    shapes = prices / prices[:, :1]  # High, Low and Close as multiples of the bar's Open
    gaps = np.concatenate(([1.0], prices[1:, 0] / prices[:-1, 3]))  # Open over the previous Close
    gaps = gaps[np.arange(size) % len(data)]
    index = _index(data.index, size)
    while True:
        rows = rng.choice(len(data), size=size, replace=replace)
        close_factor = np.concatenate(([1.0], shapes[rows[:-1], 3]))
        opens = prices[0, 0] * np.cumprod(gaps * close_factor)
        frame = data.iloc[rows].copy()
        frame.index = index
        frame[list(OHLC)] = opens[:, None] * shapes[rows]
        yield frame


def random_ohlc_data(
    example_data: pd.DataFrame, *, frac: float = 1.0, random_state: int | None = None
) -> Iterator[pd.DataFrame]:
    """Generate random OHLC frames that resemble ``example_data``, endlessly.

    Each frame is made of the example's bars in random order: every bar keeps its shape (High, Low and
    Close relative to its Open), its Volume and any other columns, and is placed where the previous
    bar closed, times the example's overnight gap at that position. So bar-level statistics (returns,
    ranges, gaps and volumes) match the example, while the price path is new. Prices stay positive.

    Parameters
    ----------
    example_data : pandas.DataFrame
        OHLC(V) data to imitate, as accepted by :class:`backtestkit.Backtest`; not modified.
    frac : float
        Length of each frame as a fraction of the example's: ``frac <= 1`` draws bars without
        replacement (1 shuffles them all), ``frac > 1`` draws with replacement (oversampling) and extends
        the index by repeating its span.
    random_state : int or None
        Seed for a reproducible sequence of frames; None draws fresh entropy.

    Returns
    -------
    Iterator[pandas.DataFrame]
        An infinite generator; each ``next()`` gives a new frame with the example's columns.

    Raises
    ------
    TypeError, ValueError
        If ``example_data`` is not valid OHLC data with at least 2 rows, ``frac`` is not a number > 0
        that leaves at least one bar, or ``random_state`` is not an int >= 0 or None. Raised at the
        call, before any frame is made.

    Examples
    --------
    >>> from backtestkit.datasets import load_daily
    >>> frames = random_ohlc_data(load_daily(), random_state=0)
    >>> first, second = next(frames), next(frames)
    >>> first.shape == second.shape == load_daily().shape, first.equals(second)
    (True, False)
    """
    _check_scalars(frac, random_state)
    data = validate_ohlcv(example_data, owner=_OWNER, name="example_data", stacklevel=3)
    if len(data) < 2:
        raise param_error(_OWNER, "example_data", "OHLC data with at least 2 rows", Verbatim("1 row"))
    size = round(frac * len(data))
    if size < 1:
        raise param_error(_OWNER, "frac", f"at least 1/len(example_data) = {1 / len(data):.3g}", frac)
    return _frames(data, size, frac > 1, np.random.default_rng(random_state))
