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
    rank = np.empty(len(keys), dtype=np.int64)
    rank[sorted(range(len(keys)), key=keys.__getitem__)] = np.arange(len(keys))
    rows = np.flatnonzero(~np.isnan(scores).any(axis=1))
    # best first: whatever dominates a row sorts before it, so a row is only ever removed by an earlier one
    rows = rows[np.lexsort((rank[rows], *(-scores[rows, j] for j in reversed(range(scores.shape[1])))))]
    kept = scores[rows]
    i = 0
    while i < len(rows):  # one pass per member of the front: drop every row that member dominates
        point = kept[i]
        survives = (kept > point).any(axis=1) | (kept == point).all(axis=1)
        rows, kept = rows[survives], kept[survives]
        i += 1
    return rows.tolist()


def signed(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Objective values (a column per objective) turned so that higher is better in every column.

    >>> signed(np.array([[1.0, 2.0]]), ['max', 'min']).tolist()
    [[1.0, -2.0]]
    """
    signs = np.array([1.0 if direction == "max" else -1.0 for direction in directions])
    return np.asarray(values, dtype=float) * signs
