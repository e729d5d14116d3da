"""Random paths for Monte Carlo: trade sequences reordered or redrawn, and OHLC bars rebuilt from a
block bootstrap of the bars' moves. Pure numpy on arrays; the random generator comes from the caller."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtestkit._data import OHLCV


def trade_paths(pnl: np.ndarray, cash: float, n: int, rng: np.random.Generator, *, method: str,
                compound: bool) -> np.ndarray:
    """``n`` equity paths (``n x (len(pnl) + 1)``, starting at ``cash``) of the trades' P/L reordered
    (``method='shuffle'``) or drawn with replacement (``'bootstrap'``).

    With ``compound`` each trade's P/L counts as a share of the equity before it (as in the original
    order) and the shares compound along a path; without it the P/L adds up in cash. A path that reaches
    zero equity stays there.

    >>> rng = np.random.default_rng(0)
    >>> trade_paths(np.array([10.0, -20.0]), 100.0, 1, rng, method="shuffle", compound=False)[0, [0, -1]]
    array([100.,  90.])
    """
    m = len(pnl)
    if method == "shuffle":
        order = rng.permuted(np.broadcast_to(np.arange(m), (n, m)), axis=1)
    else:
        order = rng.integers(0, m, size=(n, m))
    return ordered_equity(pnl, cash, order, compound=compound)


def ordered_equity(pnl: np.ndarray, cash: float, order: np.ndarray, *, compound: bool) -> np.ndarray:
    """The equity paths of the trades taken in each row of ``order`` (positions into ``pnl``); see
    :func:`trade_paths`.

    >>> ordered_equity(np.array([10.0, -11.0]), 100.0, np.array([[0, 1], [1, 0]]), compound=True)
    array([[100., 110.,  99.],
           [100.,  90.,  99.]])
    """
    n = len(order)
    if compound:
        before = cash + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
        shares = np.where(before > 0, pnl / np.where(before > 0, before, 1.0), -1.0)
        steps = cash * np.cumprod(1 + np.maximum(shares[order], -1.0), axis=1)
    else:
        steps = cash + np.cumsum(pnl[order], axis=1)
    equity = np.concatenate((np.full((n, 1), float(cash)), steps), axis=1)
    broke = np.maximum.accumulate(equity <= 0, axis=1)
    equity[broke] = 0.0
    return equity


def path_metrics(equity: np.ndarray, cash: float) -> dict[str, np.ndarray]:
    """Final equity, return and maximum drawdown (both in %, the drawdown negative, as the stats show
    them) of each row of ``equity``.

    >>> m = path_metrics(np.array([[100.0, 120.0, 90.0, 110.0]]), 100.0)
    >>> float(m["Equity Final [$]"][0]), float(m["Return [%]"][0]), float(m["Max. Drawdown [%]"][0])
    (110.0, 10.0, -25.0)
    """
    peak = np.maximum.accumulate(equity, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, 1 - equity / peak, 1.0)
    final = equity[:, -1]
    return {"Equity Final [$]": final, "Return [%]": (final / cash - 1) * 100,
            "Max. Drawdown [%]": -drawdown.max(axis=1) * 100}


def resampled_ohlc(data: pd.DataFrame, block: int, rng: np.random.Generator) -> pd.DataFrame:
    """The bars of ``data`` rebuilt from a block bootstrap of their moves: same index, same first bar.

    Each bar is described by its gap (Open over the previous Close), its body (Close over Open), and
    how far High rises above and Low falls below the body, all as log ratios; blocks of ``block``
    consecutive bars' moves are drawn with replacement and chained from the first Close. So every bar
    has High >= max(Open, Close) and Low <= min(Open, Close), and volatility clusters survive within a
    block. Volume goes with its bar; other columns are left out.

    >>> from backtestkit.datasets import load_daily
    >>> bars = resampled_ohlc(load_daily().iloc[:100], 5, np.random.default_rng(1))
    >>> bool((bars.High >= bars[["Open", "Close"]].max(axis=1)).all()), len(bars)
    (True, 100)
    """
    o, h, lo, c = (data[name].to_numpy(dtype=float) for name in OHLCV[:4])
    gap = np.log(o[1:] / c[:-1])
    body = np.log(c[1:] / o[1:])
    top = np.log(h[1:] / np.maximum(o[1:], c[1:]))
    bottom = np.log(np.minimum(o[1:], c[1:]) / lo[1:])
    moves = len(gap)
    starts = rng.integers(0, max(moves - block, 0) + 1, size=-(-moves // block))
    picks = (starts[:, None] + np.arange(min(block, moves))).ravel()[:moves]
    log_open = np.log(c[0]) + np.cumsum(gap[picks] + np.concatenate(([0.0], body[picks][:-1])))
    opens = np.exp(log_open)
    closes = np.exp(log_open + body[picks])
    upper, lower = np.maximum(opens, closes), np.minimum(opens, closes)
    # max(): floating error of exp/log must not break the bars' order, so clamp to the body
    highs = np.maximum(upper * np.exp(np.maximum(top[picks], 0.0)), upper)
    lows = np.minimum(lower * np.exp(-np.maximum(bottom[picks], 0.0)), lower)
    columns = {"Open": np.r_[o[0], opens], "High": np.r_[h[0], highs], "Low": np.r_[lo[0], lows],
               "Close": np.r_[c[0], closes], "Volume": data["Volume"].to_numpy()[np.r_[0, picks + 1]]}
    frame = pd.DataFrame(columns, index=data.index)
    return frame
