"""method='grid': which combinations of the grid get evaluated, produced lazily.

The grid is never materialised. Without ``max_tries`` its combinations are enumerated in order;
with ``max_tries`` a uniform sample without replacement is drawn by walking the grid in random order
and keeping admissible combinations until there are enough, so only about ``max_tries``
combinations (divided by the constraint's pass rate) are ever decoded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from backtestkit.optimize._space import Codes, ParamSpace, admits

#: Combinations drawn from the random generator at a time while walking a grid in random order.
DRAW = 256


class GridSelection:
    """The combinations of a grid to evaluate: an iterable of codes, produced lazily.

    ``total`` is how many combinations iteration yields at most; ``n_admissible`` is the number of
    combinations that pass the constraint when known (up front, or once a sampling walk has been
    through the whole grid), else None. To know it up front (no ``max_tries``, or a fraction), a
    constraint is first run over the whole grid, then again as the combinations are produced.

    >>> from backtestkit.optimize._space import build_space
    >>> space = build_space({'a': [1, 2, 3], 'b': [1, 2]}, ['a', 'b'], 'demo')
    >>> grid = GridSelection(space, lambda p: p.a > p.b, None, np.random.default_rng(0), 'demo')
    >>> grid.total, list(grid)
    (3, [(1, 0), (2, 0), (2, 1)])
    """

    def __init__(
        self,
        space: ParamSpace,
        constraint: Callable[[Any], Any] | None,
        max_tries: int | float | None,
        rng: np.random.Generator,
        owner: str,
    ) -> None:
        self._space, self._constraint, self._rng, self._owner = space, constraint, rng, owner
        self.n_admissible: int | None = space.size if constraint is None else None
        if isinstance(max_tries, float):
            self.total = max(1, int(max_tries * self._count_admissible() + 0.5))
        elif max_tries is None or max_tries >= space.size:
            self.total = self._count_admissible()
        else:
            self.total = max_tries
        self._sampled = self.total < space.size and self.total != self.n_admissible

    def __iter__(self) -> Iterator[Codes]:
        if self._sampled:
            return self._sample()
        return (codes for codes in self._space.iter_codes() if self._admits(codes))

    def _admits(self, codes: Codes) -> bool:
        return admits(self._constraint, self._space.decode(codes), self._owner)

    def _count_admissible(self) -> int:
        if self.n_admissible is None:
            self.n_admissible = sum(1 for codes in self._space.iter_codes() if self._admits(codes))
            if self.n_admissible == 0:
                raise self._none_admissible()
        return self.n_admissible

    def _sample(self) -> Iterator[Codes]:
        found = 0
        for codes in random_order(self._space.sizes, self._rng):
            if self._admits(codes):
                yield codes
                found += 1
                if found == self.total:
                    return
        self.n_admissible = found  # the walk went through the whole grid
        if found == 0:
            raise self._none_admissible()

    def _none_admissible(self) -> ValueError:
        return ValueError(
            f"None of the {self._space.size} combinations satisfies the 'constraint' of {self._owner}. "
            "Loosen the constraint or widen the parameter ranges."
        )


def random_order(sizes: tuple[int, ...], rng: np.random.Generator) -> Iterator[Codes]:
    """Every combination of a grid exactly once, in uniformly random order, lazily.

    Until half the grid has come out, combinations are drawn one coordinate at a time (which works
    for grids of any size) and repeats are skipped; the rest is then shuffled and yielded.

    >>> sorted(random_order((2, 3), np.random.default_rng(1)))
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    """
    size = math.prod(sizes)
    seen: set[Codes] = set()
    while 2 * len(seen) < size:
        draws = np.stack([rng.integers(0, n, DRAW) for n in sizes], axis=1)
        for codes in map(tuple, draws.tolist()):
            if codes not in seen:
                seen.add(codes)
                yield codes
                if 2 * len(seen) >= size:
                    break
    taken = np.ravel_multi_index(np.array(list(seen), dtype=np.int64).T, sizes)
    rest = np.setdiff1d(np.arange(size, dtype=np.int64), taken)
    rng.shuffle(rest)
    yield from zip(*(axis.tolist() for axis in np.unravel_index(rest, sizes)), strict=True)
