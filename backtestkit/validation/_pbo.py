"""The Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV;
Bailey, Borwein, López de Prado & Zhu, 2014).

The returns of every trial (T periods x N trials) are cut into S blocks of equal length. Each way of
choosing S/2 blocks is an in-sample set, the other S/2 its out-of-sample set. In each split the trial
best in sample is ranked out of sample: ω its relative rank (rank / (N + 1)), λ = ln(ω / (1 - ω)) its
logit. PBO is the share of splits with λ <= 0: how often the in-sample best is at or below the median
out of sample. Every split's metrics are worked out at once, from per-block sums, with numpy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import Verbatim, param_error

#: Splits whose metrics are worked out together: bounds the memory to a few matrices of
#: CHUNK x N floats (8 MB each for 1,000 trials).
CHUNK = 1024
METRICS = ("sharpe", "mean")
Metric = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class BacktestOverfitting:
    """What :func:`pbo` found: the probability of backtest overfitting and each split's data.

    Attributes:
        pbo: the share of splits whose in-sample best trial ranks at or below the median out of sample.
        logits: λ of each split (``ln(ω / (1 - ω))``, ω the best's relative rank out of sample).
        performance: one row per split: ``trial`` (the in-sample best's column label), ``in_sample`` and
            ``out_of_sample`` (its metric in and out of sample), ``logit``.
        metric: the metric's name.
        n_splits: S, the number of blocks.
        n_trials: N, the number of trials (columns).
        n_periods: the periods used (T, less the first ``T mod S`` dropped to make equal blocks).
    """

    pbo: float
    logits: np.ndarray
    performance: pd.DataFrame
    metric: str
    n_splits: int
    n_trials: int
    n_periods: int

    def __float__(self) -> float:
        return self.pbo

    @property
    def degradation(self) -> tuple[float, float]:
        """Slope and intercept of the least-squares line of out-of-sample against in-sample metric of the
        in-sample best: a slope below 0 means the better it looked, the worse it did."""
        frame = self.performance[["in_sample", "out_of_sample"]].replace([np.inf, -np.inf], np.nan).dropna()
        if len(frame) < 2 or frame["in_sample"].nunique() < 2:
            return math.nan, math.nan
        slope, intercept = np.polyfit(frame["in_sample"], frame["out_of_sample"], 1)
        return float(slope), float(intercept)

    @property
    def probability_of_loss(self) -> float:
        """The share of splits in which the in-sample best's out-of-sample metric is below 0."""
        return float(np.mean(self.performance["out_of_sample"].to_numpy() < 0))

    def summary(self) -> str:
        """One line: PBO, the splits, the probability of loss and the degradation's slope.

        >>> frame = pd.DataFrame({'trial': [0, 1], 'in_sample': [1.0, 2.0], 'out_of_sample': [0.5, -1.0],
        ...                       'logit': [1.0, -1.0]})
        >>> BacktestOverfitting(0.5, np.array([1.0, -1.0]), frame, 'sharpe', 2, 10, 100).summary()
        'PBO 0.500 over 2 splits of 10 trials x 100 periods (S=2, sharpe); out of sample the in-sample best lost in 50.0% of splits; degradation slope -1.5'
        """  # noqa: E501
        slope, _ = self.degradation
        return (f"PBO {self.pbo:.3f} over {len(self.logits):,} splits of {self.n_trials:,} trials x "
                f"{self.n_periods:,} periods (S={self.n_splits}, {self.metric}); out of sample the in-sample "
                f"best lost in {self.probability_of_loss:.1%} of splits; degradation slope {slope:.3g}")

    def plot(self) -> Any:
        """A Bokeh layout: the histogram of the logits and the in-sample vs out-of-sample scatter."""
        from backtestkit.plotting._overfitting import pbo_figures

        return pbo_figures(self.logits, self.performance, self.metric)

    def report_section(self) -> Any:
        """This result as a section of a report (``Study.write_report(sections=[...])``)."""
        from backtestkit.plotting._overfitting import pbo_section

        return pbo_section(self.pbo, self.logits, self.performance, self.metric, self.summary())

    def write_report(self, path: str | os.PathLike[str]) -> Any:
        """Write :meth:`report_section` as a page of its own; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(path, title="Probability of Backtest Overfitting", sections=[self.report_section()])


def pbo(returns: Any, n_splits: int = 16, metric: str | Metric = "sharpe") -> BacktestOverfitting:
    """The Probability of Backtest Overfitting of choosing the best of several trials, by CSCV.

    Args:
        returns: per-period returns, one column per trial (T x N): a DataFrame (its column labels name
            the trials; :func:`trial_returns` makes one from a study) or a 2-D array. The first
            ``T mod n_splits`` rows are dropped so that the blocks are equally long.
        n_splits: S, an even number of blocks >= 2; there are C(S, S/2) splits (12,870 for 16).
        metric: what ranks the trials in each half: ``'sharpe'`` (mean over standard deviation, ddof=1,
            per period), ``'mean'`` (mean return), or a function ``returns (t x N) -> N values``
            (called twice per split: far slower). NaN ranks last.

    Returns:
        A :class:`BacktestOverfitting`.

    Raises:
        TypeError, ValueError: a bad argument (before anything is computed).

    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.01, size=(1000, 50))  # 50 skill-less trials
    >>> result = pbo(noise, n_splits=8)
    >>> len(result.logits), result.pbo > 0.3
    (70, True)
    """
    owner = "pbo"
    values, labels = _matrix(returns, owner)
    n_splits = _check_splits(n_splits, len(values), owner)
    name, score = _metric(metric, owner)
    n_periods = len(values) - len(values) % n_splits
    blocks = values[len(values) - n_periods:].reshape(n_splits, n_periods // n_splits, -1)
    splits = np.array([[b in chosen for b in range(n_splits)]
                       for chosen in combinations(range(n_splits), n_splits // 2)])
    parts = [_split_chunk(blocks, splits[i:i + CHUNK], name, score) for i in range(0, len(splits), CHUNK)]
    best, in_sample, out_of_sample, logits = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
    performance = pd.DataFrame({"trial": labels[best], "in_sample": in_sample, "out_of_sample": out_of_sample,
                                "logit": logits})
    return BacktestOverfitting(float(np.mean(logits <= 0)), logits, performance, name, n_splits,
                               values.shape[1], n_periods)


def _split_chunk(blocks: np.ndarray, chosen: np.ndarray, name: str,
                 score: Metric | None) -> tuple[np.ndarray, ...]:
    """For splits ``chosen`` (rows of booleans, one per block): the in-sample best, its metric in and
    out of sample, and the logit of its out-of-sample rank."""
    if score is None:
        metric_in, metric_out = _sums_metric(blocks, chosen, name)
    else:
        metric_in = np.array([score(blocks[row].reshape(-1, blocks.shape[2])) for row in chosen], dtype=float)
        metric_out = np.array([score(blocks[~row].reshape(-1, blocks.shape[2])) for row in chosen],
                              dtype=float)
    metric_in = np.where(np.isnan(metric_in), -np.inf, metric_in)
    metric_out = np.where(np.isnan(metric_out), -np.inf, metric_out)
    best = np.argmax(metric_in, axis=1)
    rows = np.arange(len(chosen))
    at_best = metric_out[rows, best][:, None]
    # rank 1 (worst) .. N (best); ties share their mean rank
    rank = (metric_out < at_best).sum(axis=1) + ((metric_out == at_best).sum(axis=1) + 1) / 2
    omega = rank / (blocks.shape[2] + 1)
    return best, metric_in[rows, best], at_best[:, 0], np.log(omega / (1 - omega))


def _sums_metric(blocks: np.ndarray, chosen: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The built-in metrics of every trial in and out of sample, from per-block sums (matrix products)."""
    length = blocks.shape[1] * (blocks.shape[0] // 2)  # periods in each half
    sums = blocks.sum(axis=1)  # S x N
    weights = chosen.astype(float)
    sum_in = weights @ sums
    sum_out = sums.sum(axis=0) - sum_in
    if name == "mean":
        return sum_in / length, sum_out / length
    squares = np.einsum("spn,spn->sn", blocks, blocks)
    square_in = weights @ squares
    square_out = squares.sum(axis=0) - square_in
    with np.errstate(divide="ignore", invalid="ignore"):
        return (_sharpe(sum_in, square_in, length), _sharpe(sum_out, square_out, length))


def _sharpe(total: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    """mean / std (ddof=1) from sums and squares: ``sqrt(n - 1) / n total / sqrt(squares - total² / n)``,
    in place (this is most of pbo's time); NaN where the returns do not vary."""
    spread = np.multiply(total, total)
    spread /= -n
    spread += squares  # (n - 1) variance
    flat = spread <= 1e-24 * np.maximum(squares, 1e-300)
    np.sqrt(spread, out=spread)
    spread[flat] = np.nan
    np.divide(total, spread, out=spread)
    spread *= math.sqrt(n - 1) / n
    return spread


def _matrix(returns: Any, owner: str) -> tuple[np.ndarray, np.ndarray]:
    expected = "a 2-D array or DataFrame of per-period returns, one column per trial (at least 2)"
    if isinstance(returns, pd.DataFrame):
        labels = np.asarray(returns.columns, dtype=object)
        try:
            values = returns.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise param_error(owner, "returns", expected, Verbatim("a DataFrame with non-numeric columns"),
                              exc=TypeError) from None
    else:
        try:
            values = np.array(returns, dtype=float)  # a copy: the user's array is never touched
        except (TypeError, ValueError):
            raise param_error(owner, "returns", expected, returns, exc=TypeError) from None
        labels = np.arange(values.shape[1], dtype=object) if values.ndim == 2 else np.array([])
    if values.ndim != 2 or values.shape[1] < 2:
        raise param_error(owner, "returns", expected, Verbatim(f"an array of shape {values.shape}"))
    missing = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(missing):
        rows = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"The returns given to pbo have NaN or infinite values in {len(missing):,} rows "
                         f"(positions {rows}). Fill them (returns.fillna(0)) or drop those rows.")
    return values, labels


def _check_splits(n_splits: Any, n_rows: int, owner: str) -> int:
    expected = "an even whole number >= 2"
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)):
        raise param_error(owner, "n_splits", expected, n_splits, exc=TypeError)
    if n_splits < 2 or n_splits % 2:
        raise param_error(owner, "n_splits", expected, n_splits)
    if n_rows < 2 * n_splits:
        raise param_error(owner, "n_splits", f"at most half the periods ({n_rows // 2}), so that each "
                          "block has 2 or more", n_splits)
    return int(n_splits)


def _metric(metric: Any, owner: str) -> tuple[str, Metric | None]:
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    if metric not in METRICS:
        raise param_error(owner, "metric", "'sharpe', 'mean' or a function returns -> values", metric,
                          exc=ValueError if isinstance(metric, str) else TypeError)
    return metric, None
