"""method='euler': coarse-to-fine grid search (LEAN's Euler search).

Each numeric parameter is first searched on a coarse grid of ``steps`` values spread over its
candidates (every value of a non-numeric parameter is kept). Then, level by level, a finer grid is
laid around each of the ``keep`` best combinations found so far: the stride between candidate
positions is divided by ``shrink`` and the new grid covers the cell around the best point (the
positions closer to it than the old stride). The search ends when the stride is one position on every
parameter, i.e. at the listed resolution. Each level is one batch, run in parallel; combinations
already evaluated are not proposed again and combinations that fail the constraint are skipped.
"""

from __future__ import annotations

import itertools
import math
import numbers
from typing import Any

import numpy as np

from backtestkit._errors import param_error
from backtestkit.optimize._explore import Explorer, check_listed, fitness, none_admissible
from backtestkit.optimize._method import Context, Evaluator, SearchMethod
from backtestkit.optimize._space import ParamSpace
from backtestkit.optimize._trial import Key


class Euler(SearchMethod):
    """Coarse-to-fine grids: a coarse grid, then finer grids around the best cells, down to the
    listed resolution.

    Args:
        steps: values per numeric parameter on the coarse grid (>= 2; a parameter with no more
            candidates than that is searched in full from the start).
        keep: the best combinations so far that each level refines around.
        shrink: what each level divides the stride by (>= 2): 2 lays 3 values per parameter around a
            best combination, 3 lays 5, and so on.
        max_tries: evaluations at most (None: until the listed resolution is reached).

    Listed values only (lists, ranges; numbers are refined by position, other values kept as the
    best cell has them). The study records the levels run in ``study.info['levels']``.

    >>> from backtestkit.optimize import run_search
    >>> study = run_search(lambda p: -(p['x'] - 37) ** 2 - (p['y'] - 12) ** 2,
    ...                    {'x': range(100), 'y': range(50)}, known_params=['x', 'y'],
    ...                    method=Euler(steps=5), n_jobs=1)
    >>> study.n_evaluated < 100, study.best_params
    (True, {'x': 37, 'y': 12})
    """

    name = "euler"

    def __init__(self, steps: int = 3, keep: int = 2, shrink: int = 2, *,
                 max_tries: int | None = None) -> None:
        for name, value, low in (("steps", steps, 2), ("keep", keep, 1), ("shrink", shrink, 2)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise param_error("Euler", name, f"an int >= {low}", value)
        if max_tries is not None and (
            not isinstance(max_tries, numbers.Integral) or isinstance(max_tries, bool) or max_tries < 1
        ):
            raise param_error("Euler", "max_tries", "an int >= 1 or None", max_tries)
        self.steps, self.keep, self.shrink, self.max_tries = int(steps), int(keep), int(shrink), max_tries

    def check(self, space: ParamSpace, owner: str) -> None:
        check_listed(space, owner, "euler")

    def options(self) -> dict[str, Any]:
        return {"steps": self.steps, "keep": self.keep, "shrink": self.shrink, "max_tries": self.max_tries}

    def search(self, space: ParamSpace, driver: Evaluator, context: Context) -> dict[str, Any]:
        """Raises ValueError when no combination satisfies the constraint."""
        explorer = Explorer(space, context.constraint, context.owner)
        sizes = space.sizes
        ordered = [axis.ordered and size > self.steps
                   for axis, size in zip(explorer.axes, sizes, strict=True)]
        strides = [(size - 1) / (self.steps - 1) if free else 1.0
                   for size, free in zip(sizes, ordered, strict=True)]
        budget = self.max_tries or space.size
        driver.expect(min(budget, self._estimate(sizes, ordered, strides)))
        coarse = itertools.product(*(
            sorted({round(j * stride) for j in range(self.steps)}) if free else range(size)
            for size, free, stride in zip(sizes, ordered, strides, strict=True)))
        keys = _fresh(explorer, coarse, budget)
        if not keys:  # the constraint admits no coarse point: start from random admissible ones
            wanted = min(budget, self.steps ** len(sizes))
            keys = list(explorer.sample(np.random.default_rng(context.seed), wanted))
        if not keys:
            raise none_admissible(len(explorer.seen), context.owner)
        scores: dict[Key, float] = {}
        _evaluate(driver, keys, scores, context.maximize)
        levels = 1
        while any(stride > 1 for stride in strides) and len(scores) < budget:
            finer = [max(1.0, stride / self.shrink) for stride in strides]
            best = sorted(scores, key=lambda key: (-scores[key], key))[: self.keep]
            grids = itertools.chain.from_iterable(
                itertools.product(*map(_around, key, strides, finer, sizes))
                for key in best)
            keys = _fresh(explorer, grids, budget - len(scores))
            _evaluate(driver, keys, scores, context.maximize)
            strides, levels = finer, levels + 1
        driver.expect(len(scores))
        return {"levels": levels}

    def _estimate(self, sizes: tuple[int, ...], ordered: list[bool], strides: list[float]) -> int:
        """Combinations the search evaluates at most (for the progress bar)."""
        coarse = math.prod(self.steps if free else size for size, free in zip(sizes, ordered, strict=True))
        levels = max((math.ceil(math.log(stride, self.shrink)) for stride in strides if stride > 1),
                     default=0)
        cell = (2 * self.shrink - 1) ** sum(ordered)
        return coarse + levels * self.keep * (cell - 1)


def _around(center: int, stride: float, step: float, size: int) -> list[int]:
    """Positions closer to ``center`` than ``stride``, ``step`` apart (the center alone once done)."""
    if stride <= 1:
        return [center]
    reach = math.ceil(stride / step) - 1
    return sorted({min(max(round(center + j * step), 0), size - 1) for j in range(-reach, reach + 1)})


def _fresh(explorer: Explorer, keys: Any, budget: int) -> list[Key]:
    """The admissible keys never proposed before, in order, ``budget`` at most."""
    fresh: list[Key] = []
    for key in keys:
        if len(fresh) >= budget:
            break
        if explorer.fresh(key) is not None:
            fresh.append(key)
    return fresh


def _evaluate(driver: Evaluator, keys: list[Key], scores: dict[Key, float], maximize: bool) -> None:
    trials = driver.evaluate(iter(keys), len(keys))
    scores.update(zip(keys, fitness([trial.value for trial in trials], maximize).tolist(), strict=True))
