"""What a search returns: the best combination, the heatmap of every evaluated one, counts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: One evaluated combination: a sort key (candidate positions, or values for continuous
#: dimensions), the parameter values, and the objective's value.
Record = tuple[tuple[Any, ...], dict[str, Any], float]


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`run_search`.

    Attributes:
        best_params: the combination with the highest objective value (NaN ranks last; ties go to
            the first in heatmap order; if every value is NaN, the first combination).
        best_value: its objective value (NaN if every value is NaN).
        heatmap: the objective value of every evaluated combination, a float Series named after the
            objective, with a MultiIndex whose levels are the parameter names (one level for one
            parameter), sorted by index.
        optimize_result: scikit-optimize's ``OptimizeResult`` with ``return_optimization=True``,
            else None.
        n_admissible: how many combinations of the grid pass the constraint, when known, else None.
        n_evaluated: how many times the objective ran (once per distinct combination).
    """

    best_params: dict[str, Any]
    best_value: float
    heatmap: pd.Series
    optimize_result: Any
    n_admissible: int | None
    n_evaluated: int


def build_result(
    records: Sequence[Record],
    names: Sequence[str],
    objective_name: str | None,
    *,
    optimize_result: Any = None,
    n_admissible: int | None = None,
) -> SearchResult:
    """Assemble a :class:`SearchResult` from the evaluated combinations (in any order).

    >>> records = [((1,), {'n': 20}, 0.5), ((0,), {'n': 10}, float('nan'))]
    >>> result = build_result(records, ['n'], 'SQN')
    >>> result.best_params, result.best_value
    ({'n': 20}, 0.5)
    >>> result.heatmap
    n
    10    NaN
    20    0.5
    Name: SQN, dtype: float64
    """
    ordered = sorted(records, key=lambda record: record[0])
    values = np.array([value for _, _, value in ordered], dtype=float)
    index = pd.MultiIndex.from_arrays(
        [[params[name] for _, params, _ in ordered] for name in names], names=list(names)
    )
    best = 0 if np.isnan(values).all() else int(np.nanargmax(values))
    return SearchResult(
        best_params=dict(ordered[best][1]),
        best_value=float(values[best]),
        heatmap=pd.Series(values, index=index, name=objective_name),
        optimize_result=optimize_result,
        n_admissible=n_admissible,
        n_evaluated=len(ordered),
    )


def grid_result(
    space: Any, codes: np.ndarray, values: np.ndarray, objective_name: str | None, *, n_admissible: int | None
) -> SearchResult:
    """Assemble a grid search's :class:`SearchResult` from compact arrays.

    ``codes`` holds each evaluated combination as one candidate position per parameter (a row per
    combination, in any order), ``values`` its objective value. The heatmap's MultiIndex is built
    from those positions directly, so a large grid needs no Python object per combination.

    >>> from types import SimpleNamespace
    >>> space = SimpleNamespace(names=['n'], candidates=[[10, 20, 30]])
    >>> result = grid_result(space, np.array([[2], [0]]), np.array([0.5, np.nan]), 'SQN', n_admissible=2)
    >>> result.best_params, result.heatmap.to_dict()
    ({'n': 30}, {(10,): nan, (30,): 0.5})
    """
    order = np.lexsort(codes.T[::-1])  # by the first parameter, then the second, ...
    codes, values = codes[order], values[order]
    index = pd.MultiIndex(
        levels=[pd.Index(list(candidates)) for candidates in space.candidates],
        codes=list(codes.T),
        names=list(space.names),
    ).remove_unused_levels()
    best = 0 if np.isnan(values).all() else int(np.nanargmax(values))
    return SearchResult(
        best_params={name: candidates[code] for name, candidates, code in
                     zip(space.names, space.candidates, codes[best].tolist(), strict=True)},
        best_value=float(values[best]),
        heatmap=pd.Series(values, index=index, name=objective_name),
        optimize_result=None,
        n_admissible=n_admissible,
        n_evaluated=len(values),
    )
