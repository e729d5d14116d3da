"""Plateau-aware selection: the parameter set whose grid neighbourhood is good, not a lone spike.

The study's combinations are laid on a dense grid (one axis per parameter, its values sorted); each
point's objective is replaced by a statistic (mean, median or minimum) of the points within ``radius``
grid steps along every parameter (a box of up to (2r + 1)^d points, itself included). Points without
a value (no trades, failed, infeasible, not run) are left out of their neighbours' statistic and are
never chosen.
"""

from __future__ import annotations

import itertools
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import param_error, unknown_name_error
from backtestkit.optimize import Study

STATISTICS = ("mean", "median", "min")


@dataclass(frozen=True)
class PlateauResult:
    """What :func:`plateau` found: the smoothed objective, the plateau best beside the raw best, and
    how sharply the objective falls around the plateau best.

    Attributes:
        smoothed: the statistic of each combination's neighbourhood, in the objective's own values (a
            Series indexed like ``Study.heatmap()``; NaN where the combination has no value).
        raw: the objective of each combination (``Study.heatmap()``, NaN for non-``ok`` trials).
        best_params: the combination with the best smoothed objective.
        raw_best_params: the combination with the best raw objective.
        sensitivity: one row per parameter at the plateau best: ``below`` and ``above`` (the parameter's
            values one grid step either side, None at an edge) and ``drop below`` / ``drop above`` (how
            much worse the raw objective is there: > 0 is worse, NaN when there is no value).
        objective: the objective's name; maximize: its direction.
        radius: grid steps per parameter; statistic: 'mean', 'median' or 'min'.
    """

    smoothed: pd.Series
    raw: pd.Series
    best_params: dict[str, Any]
    raw_best_params: dict[str, Any]
    sensitivity: pd.DataFrame
    objective: str
    maximize: bool
    radius: dict[str, int]
    statistic: str

    def table(self) -> pd.DataFrame:
        """The plateau best and the raw best side by side: parameters, raw and smoothed objective."""
        rows = {}
        for label, params in (("plateau best", self.best_params), ("raw best", self.raw_best_params)):
            key = tuple(params[name] for name in self.smoothed.index.names)
            rows[label] = {**params, self.objective: self.raw[key],
                           f"smoothed ({self.statistic})": self.smoothed[key]}
        return pd.DataFrame.from_dict(rows, orient="index")

    def summary(self) -> str:
        """One line: the plateau best and the raw best with their raw and smoothed values."""
        table = self.table()
        shown = []
        for label, params in (("plateau best", self.best_params), ("raw best", self.raw_best_params)):
            described = ", ".join(f"{k}={v}" for k, v in params.items())
            shown.append(f"{label} {described} ({self.objective} {table.loc[label, self.objective]:.4g}, "
                         f"smoothed {table.loc[label, f'smoothed ({self.statistic})']:.4g})")
        radius = ", ".join(f"{k}±{v}" for k, v in self.radius.items())
        return f"{'; '.join(shown)}; {self.statistic} over {radius} grid steps"

    def plot(self) -> Any:
        """A Bokeh layout: per parameter, the raw and smoothed objective along it through the plateau best."""
        from backtestkit.plotting._overfitting import plateau_figures

        return plateau_figures(self.smoothed, self.raw, self.objective, self.best_params,
                               self.raw_best_params)

    def report_section(self) -> Any:
        """This result as a section of a report (``Study.write_report(sections=[...])``)."""
        from backtestkit.plotting._overfitting import plateau_section

        return plateau_section(self.summary(), self.table(), self.sensitivity, self.plot())

    def write_report(self, path: str | os.PathLike[str]) -> Any:
        """Write :meth:`report_section` as a page of its own; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(path, title="Plateau selection", sections=[self.report_section()])


def plateau(study: Study, radius: int | Mapping[str, int] = 1, statistic: str = "mean") -> PlateauResult:
    """Smooth a study's objective over each combination's grid neighbours and pick the best of that.

    Args:
        study: a :class:`~backtestkit.optimize.Study` (a grid search's is the natural one).
        radius: grid steps either side, for every parameter (an int >= 0) or per parameter (a dict;
            parameters left out get 1). 0 along a parameter ignores its neighbours.
        statistic: ``'mean'``, ``'median'`` or ``'min'`` (the worst neighbour, in the objective's
            direction) of the values in each neighbourhood.

    Returns:
        A :class:`PlateauResult`.

    Raises:
        TypeError, ValueError: bad arguments, or a study with no trial that has a value.

    >>> from backtestkit.optimize import run_search
    >>> spike = lambda p: 12.0 if p['x'] == 2 else (5.0 if 5 <= p['x'] <= 8 else 0.0)
    >>> study = run_search(spike, {'x': range(10)}, known_params=['x'], n_jobs=1, show_progress=False)
    >>> study.best_params, plateau(study).best_params
    ({'x': 2}, {'x': 6})
    """
    owner = "plateau"
    if not isinstance(study, Study):
        raise param_error(owner, "study", "a Study (optimize(..., return_study=True))", study, exc=TypeError)
    radii = _radii(radius, study.param_names, owner)
    if statistic not in STATISTICS:
        raise param_error(owner, "statistic", "'mean', 'median' or 'min'", statistic,
                          exc=ValueError if isinstance(statistic, str) else TypeError)
    levels, grid, index = _grid(study)
    if not np.isfinite(grid).any():
        raise ValueError(f"plateau needs at least one trial with a value; the study's {len(study):,} trials "
                         "have none (no trades, failed or infeasible).")
    sign = 1.0 if study.maximize else -1.0
    smooth = _smooth(grid * sign, [radii[name] for name in study.param_names], statistic) * sign
    names = study.param_names
    best = _best(smooth * sign, levels, names)
    raw_best = _best(grid * sign, levels, names)
    flat = [tuple(levels[i][j] for i, j in enumerate(position)) for position in np.ndindex(grid.shape)]
    full = pd.MultiIndex.from_tuples(flat, names=names)
    raw = pd.Series(grid.ravel(), index=full, name=study.objective).loc[index]
    smoothed = pd.Series(smooth.ravel(), index=full, name=f"{study.objective} ({statistic} of neighbours)")
    sensitivity = _sensitivity(grid * sign, levels, names, best)
    return PlateauResult(smoothed.loc[index], raw, best, raw_best, sensitivity, study.objective,
                         study.maximize, radii, statistic)


class Plateau:
    """The plateau selection rule: ``Plateau(radius, statistic)(study)`` is the parameters of
    :func:`plateau`'s best, a ``select(study) -> dict`` that holdout and walk-forward take as ``select=``.

    >>> from backtestkit.optimize import run_search
    >>> spike = lambda p: 12.0 if p['x'] == 2 else (5.0 if 5 <= p['x'] <= 8 else 0.0)
    >>> study = run_search(spike, {'x': range(10)}, known_params=['x'], n_jobs=1, show_progress=False)
    >>> Plateau(radius=1)(study)
    {'x': 6}
    """

    def __init__(self, radius: int | Mapping[str, int] = 1, statistic: str = "mean") -> None:
        _radii(radius, [] if not isinstance(radius, Mapping) else list(radius), "Plateau")
        if statistic not in STATISTICS:
            raise param_error("Plateau", "statistic", "'mean', 'median' or 'min'", statistic,
                              exc=ValueError if isinstance(statistic, str) else TypeError)
        self.radius, self.statistic = (dict(radius) if isinstance(radius, Mapping) else radius), statistic

    def __call__(self, study: Study) -> dict[str, Any]:
        return plateau(study, self.radius, self.statistic).best_params

    def __repr__(self) -> str:
        return f"Plateau(radius={self.radius!r}, statistic={self.statistic!r})"


def _radii(radius: Any, names: list[str], owner: str) -> dict[str, int]:
    expected = "a whole number >= 0, or a dict of them per parameter"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise param_error(owner, "radius", expected, radius, exc=TypeError)
        if value < 0:
            raise param_error(owner, "radius", expected, radius)
        return int(value)

    if isinstance(radius, Mapping):
        for name in radius:
            if name not in names:
                raise unknown_name_error("parameter", name, names, f"{owner}(radius=...)")
        return {name: check(radius.get(name, 1)) for name in names}
    return dict.fromkeys(names, check(radius))


def _grid(study: Study) -> tuple[list[list[Any]], np.ndarray, pd.MultiIndex]:
    """Each parameter's sorted values, the dense grid of values (NaN where none) and the study's index."""
    numbers_ = study._latest().tolist()
    names = study.param_names
    params = [study._params_of(n) for n in numbers_]
    levels = [_sorted(pd.unique(pd.Series([p[name] for p in params], dtype=object))) for name in names]
    positions = [{value: i for i, value in enumerate(values)} for values in levels]
    grid = np.full(tuple(len(values) for values in levels), np.nan)
    for number, p in zip(numbers_, params, strict=True):
        value = study._values[number]
        if study._states[number] == "ok" and math.isfinite(value):
            grid[tuple(positions[i][p[name]] for i, name in enumerate(names))] = value
    index = pd.MultiIndex.from_tuples([tuple(p[name] for name in names) for p in params], names=names)
    return levels, grid, index.sort_values()


def _sorted(values: Any) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types: the order they came in
        return list(values)


def _smooth(scores: np.ndarray, radii: list[int], statistic: str) -> np.ndarray:
    """The statistic of each finite point's neighbourhood (higher scores are better)."""
    padded = np.pad(scores, [(r, r) for r in radii], constant_values=np.nan)
    shape = scores.shape
    offsets = itertools.product(*[range(-r, r + 1) for r in radii])
    stack = np.stack([padded[tuple(slice(r + o, r + o + n) for r, o, n in zip(radii, offset, shape,
                                                                               strict=True))]
                      for offset in offsets])
    function = {"mean": np.nanmean, "median": np.nanmedian, "min": np.nanmin}[statistic]
    result = _nan_stat(stack, function)
    return np.where(np.isfinite(scores), result, np.nan)


def _nan_stat(stack: np.ndarray, function: Any) -> np.ndarray:
    """``function`` over axis 0, NaN ignored, without the all-NaN warning (those points are NaN)."""
    filled = np.isfinite(stack).any(axis=0)
    result = np.full(stack.shape[1:], np.nan)
    result[filled] = function(stack[:, filled], axis=0)
    return result


def _best(scores: np.ndarray, levels: list[list[Any]], names: list[str]) -> dict[str, Any]:
    """The parameters of the highest score; ties go to the first point in grid order."""
    position = np.unravel_index(int(np.nanargmax(scores)), scores.shape)
    return {name: levels[i][j] for i, (name, j) in enumerate(zip(names, position, strict=True))}


def _sensitivity(scores: np.ndarray, levels: list[list[Any]], names: list[str],
                 best: dict[str, Any]) -> pd.DataFrame:
    """Per parameter, the neighbours' values one step either side of ``best`` and how much worse they are."""
    at = [levels[i].index(best[name]) for i, name in enumerate(names)]
    centre = scores[tuple(at)]
    rows = {}
    for i, name in enumerate(names):
        row: dict[str, Any] = {}
        for side, step in (("below", -1), ("above", 1)):
            j = at[i] + step
            inside = 0 <= j < len(levels[i])
            row[side] = levels[i][j] if inside else None
            other = scores[tuple(at[:i] + [j] + at[i + 1:])] if inside else math.nan
            row[f"drop {side}"] = float(centre - other)
        rows[name] = row
    columns = ["below", "drop below", "above", "drop above"]
    frame = pd.DataFrame({column: pd.Series([rows[name][column] for name in names], index=names,
                                            dtype=object if column in ("below", "above") else float)
                          for column in columns})
    frame.index.name = "parameter"
    return frame
