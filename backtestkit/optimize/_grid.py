"""method='grid': which combinations of the grid get evaluated, produced lazily.

The grid is never materialised. Without ``max_tries`` its combinations are enumerated in order;
with ``max_tries`` a sample without replacement is drawn by walking the grid in a seeded random order
and keeping admissible combinations until there are enough, so only about ``max_tries``
combinations (divided by the constraint's pass rate) are ever decoded, in constant memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from backtestkit._errors import param_error, warn
from backtestkit.optimize._method import Context, Evaluator, SearchMethod
from backtestkit.optimize._space import Codes, ParamSpace, admits

#: A sampling walk gives up after this many draws per wanted combination (and at least MIN_DRAWS),
#: so a constraint that (almost) nothing passes ends in an error, not an endless walk.
DRAWS_PER_TRY = 1000
MIN_DRAWS = 1_000_000
_MASK64 = (1 << 64) - 1


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
        size, found, tried = self._space.size, 0, 0
        limit = min(size, max(MIN_DRAWS, DRAWS_PER_TRY * self.total))
        for tried, codes in enumerate(random_order(self._space.sizes, self._rng), 1):  # noqa: B007
            if self._admits(codes):
                yield codes
                found += 1
                if found == self.total:
                    return
            if tried == limit:
                break
        if tried == size:  # the walk went through the whole grid
            self.n_admissible = found
        if found == 0:
            raise self._none_admissible(tried)
        if tried < size:
            warn(f"Only {found:,} of the {tried:,} combinations drawn at random satisfy the 'constraint' "
                 f"of {self._owner}, fewer than max_tries={self.total:,}: the search evaluated those. "
                 "Loosen the constraint, or narrow the ranges to the admissible region.")

    def _none_admissible(self, tried: int | None = None) -> ValueError:
        size = self._space.size
        which = f"{size:,} combinations"
        if tried not in (None, size):
            which = f"{tried:,} combinations drawn at random (of {size:,})"
        return ValueError(
            f"None of the {which} satisfies the 'constraint' of {self._owner}. "
            "Loosen the constraint or widen the parameter ranges."
        )


class Grid(SearchMethod):
    """Every admissible combination of the grid, in order; or, with ``max_tries``, a uniform random
    sample of them without repeats (an int: that many; a float in (0, 1]: that share).

    >>> Grid(max_tries=50)
    Grid(max_tries=50)
    """

    name = "grid"

    def __init__(self, max_tries: int | float | None = None) -> None:
        self.max_tries = max_tries

    def check(self, space: ParamSpace, owner: str) -> None:
        for name, dimension in zip(space.names, space.dimensions, strict=True):
            if dimension is not None:
                raise param_error(owner, name, "a list of candidate values with method='grid'", dimension,
                                  hint="scikit-optimize dimensions need method='skopt'.")

    def search(self, space: ParamSpace, driver: Evaluator, context: Context) -> dict[str, Any]:
        grid = GridSelection(space, context.constraint, self.max_tries, np.random.default_rng(context.seed),
                             context.owner)
        driver.expect(grid.total)
        driver.evaluate(iter(grid), grid.total, results=False)
        return {"n_admissible": grid.n_admissible}

    def options(self) -> dict[str, Any]:
        return {"max_tries": self.max_tries}


def random_order(sizes: tuple[int, ...], rng: np.random.Generator) -> Iterator[Codes]:
    """Every combination of a grid exactly once, in a random order, lazily and in constant memory.

    A seeded permutation of the grid's positions (a 4-round Feistel network on the smallest
    power-of-four domain that holds them, walking the cycle past positions outside the grid) is
    decoded position by position, so even a grid of 10**12 combinations costs nothing to start.

    >>> sorted(random_order((2, 3), np.random.default_rng(1)))
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    """
    size = math.prod(sizes)
    half = max(1, ((size - 1).bit_length() + 1) // 2)
    mask = (1 << half) - 1
    keys = [int(k) for k in rng.integers(0, 2**63, 4)]

    def mix(x: int, key: int) -> int:  # splitmix64's finaliser, keyed, cut to half the bits
        x = (x + key) & _MASK64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
        return (x ^ (x >> 31)) & mask

    def permute(x: int) -> int:
        left, right = x >> half, x & mask
        for key in keys:
            left, right = right, left ^ mix(right, key)
        return (left << half) | right

    for position in range(size):
        shuffled = permute(position)
        while shuffled >= size:  # cycle-walk back into the grid: still a permutation of range(size)
            shuffled = permute(shuffled)
        yield _unravel(shuffled, sizes)


def _unravel(position: int, sizes: tuple[int, ...]) -> Codes:
    codes = []
    for n in reversed(sizes):
        position, code = divmod(position, n)
        codes.append(code)
    return tuple(reversed(codes))
