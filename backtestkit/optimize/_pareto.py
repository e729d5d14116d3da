"""Several objectives at once: which trials are non-dominated (the Pareto front), and which is "best".

A trial *dominates* another when it is at least as good in every objective and better in one. The
front is the trials no other trial dominates; equal trials do not dominate each other, so ties are
all on it. Only trials that ran and scored count: a NaN in any objective (a run without trades, a
failed or infeasible trial) keeps a trial off the front. The best trial of a multi-objective study is
the front's best in the first objective, ties going to the next objectives, then to the first
combination in heatmap order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: How an objective's direction is written in a study: higher is better, or lower.
DIRECTIONS = ("max", "min")


def pareto_front(scores: np.ndarray, keys: Sequence[Any]) -> list[int]:
    """The positions of the non-dominated rows of ``scores`` (one column per objective, higher is
    better, NaN rows left out), best first: by the first column, then the next, then ``keys``.

    >>> pareto_front(np.array([[1.0, 5.0], [2.0, 3.0], [1.0, 4.0], [3.0, 1.0], [2.0, 3.0]]), range(5))
    [3, 1, 4, 0]
    >>> pareto_front(np.array([[np.nan, 1.0], [0.0, 0.0]]), range(2))
    [1]
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D array (a row per trial). Got {scores.ndim} dimensions "
                         "instead.")
    rows = [i for i in range(len(scores)) if not np.isnan(scores[i]).any()]
    # best first: whatever dominates a row sorts before it, so one pass against the front so far is enough
    rows.sort(key=lambda i: (*(-scores[i]), keys[i]))
    front: list[int] = []
    for i in rows:
        if front:
            kept = scores[front]
            if ((kept >= scores[i]).all(axis=1) & (kept > scores[i]).any(axis=1)).any():
                continue
        front.append(i)
    return front


def signed(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Objective values (a column per objective) turned so that higher is better in every column.

    >>> signed(np.array([[1.0, 2.0]]), ['max', 'min']).tolist()
    [[1.0, -2.0]]
    """
    signs = np.array([1.0 if direction == "max" else -1.0 for direction in directions])
    return np.asarray(values, dtype=float) * signs
