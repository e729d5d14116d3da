"""What the exploring methods (genetic, coarse-to-fine) share: one :class:`Axis` per parameter, and
a seeded sampler of admissible, not yet seen combinations.

A method works on *genes*: for a listed parameter (a list, a range) the position of a value among
its candidates, for a scikit-optimize ``Integer`` the integer itself, for a ``Real`` the number, for a
``Categorical`` the position of a category. :meth:`Axis.key` turns a gene into the study's key part
(a candidate position, or a dimension's value), so what a method proposes is what the driver stores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtestkit._errors import param_error
from backtestkit.optimize._space import ParamSpace, admits, is_number
from backtestkit.optimize._trial import Key

#: Draws per wanted combination before a sampler gives up (the constraint passes almost nothing,
#: or the space has run out).
DRAWS_PER_SAMPLE = 200


@dataclass(frozen=True)
class Axis:
    """One parameter as a method explores it.

    ``kind`` is 'listed' (candidate positions 0..size-1), 'integer' (``low``..``high``), 'real'
    (``low``..``high``, continuous) or 'category' (a dimension's categories by position).
    ``ordered``: whether neighbouring genes are similar values (numbers), so a small step makes sense.

    >>> from backtestkit.optimize._space import build_space
    >>> space = build_space({'n': range(10, 50, 10), 'kind': ['sma', 'ema']}, ['n', 'kind'], 'demo')
    >>> [(axis.kind, axis.size, axis.ordered) for axis in axes(space)]
    [('listed', 4, True), ('listed', 2, False)]
    """

    name: str
    kind: str
    low: float
    high: float
    ordered: bool
    categories: tuple[Any, ...] = ()

    @property
    def size(self) -> int | None:
        """Number of distinct genes (None for a continuous axis)."""
        if self.kind == "real":
            return None
        return int(self.high - self.low) + 1

    def random(self, rng: np.random.Generator) -> Any:
        """A gene drawn uniformly."""
        if self.kind == "real":
            return float(rng.uniform(self.low, self.high))
        return int(rng.integers(int(self.low), int(self.high) + 1))

    def clip(self, gene: float) -> Any:
        """The nearest valid gene to ``gene``."""
        gene = min(max(gene, self.low), self.high)
        return float(gene) if self.kind == "real" else int(round(gene))

    def key(self, gene: Any) -> Any:
        """The study's key part of a gene: a candidate position or the dimension's value."""
        if self.kind == "category":
            return self.categories[gene]
        return gene

    def gene(self, key: Any) -> Any:
        """The gene of a key part (the inverse of :meth:`key`)."""
        if self.kind == "category":
            return self.categories.index(key)
        return key


def axes(space: ParamSpace) -> list[Axis]:
    """The space's parameters as axes (a skopt ``Dimension`` is read by its attributes, no import)."""
    found = []
    for name, cands, dimension in zip(space.names, space.candidates, space.dimensions, strict=True):
        if cands is not None:
            ordered = all(is_number(value) for value in cands)
            found.append(Axis(name, "listed", 0, len(cands) - 1, ordered))
        elif hasattr(dimension, "categories"):
            categories = tuple(dimension.categories)
            found.append(Axis(name, "category", 0, len(categories) - 1, False, categories))
        else:
            kind = "integer" if type(dimension).__name__ == "Integer" else "real"
            found.append(Axis(name, kind, dimension.low, dimension.high, True))
    return found


def check_listed(space: ParamSpace, owner: str, method: str) -> None:
    """Raise the house-style error if a parameter is a scikit-optimize dimension."""
    for name, dimension in zip(space.names, space.dimensions, strict=True):
        if dimension is not None:
            raise param_error(owner, name, f"a list of candidate values with method={method!r}", dimension,
                              hint="scikit-optimize dimensions need method='skopt' or method='genetic'.")


class Explorer:
    """Turns genomes (one gene per axis) into keys and tells which are admissible and unseen."""

    def __init__(self, space: ParamSpace, constraint: Callable[[Any], Any] | None, owner: str) -> None:
        self.space, self.axes, self.constraint, self.owner = space, axes(space), constraint, owner
        self.seen: set[Key] = set()  # proposed (or rejected by the constraint) keys
        self.rejected: set[Key] = set()

    @property
    def size(self) -> float:
        """Number of distinct combinations (``inf`` with a continuous axis)."""
        sizes = [axis.size for axis in self.axes]
        return float("inf") if None in sizes else float(np.prod(sizes, dtype=float))

    def key(self, genome: tuple[Any, ...]) -> Key:
        return tuple(axis.key(gene) for axis, gene in zip(self.axes, genome, strict=True))

    def genome(self, key: Key) -> tuple[Any, ...]:
        return tuple(axis.gene(part) for axis, part in zip(self.axes, key, strict=True))

    def fresh(self, genome: tuple[Any, ...]) -> Key | None:
        """The genome's key if it is admissible and was never proposed, else None. An admissible
        key returned here counts as proposed from now on."""
        key = self.key(genome)
        if key in self.seen:
            return None
        self.seen.add(key)
        if not admits(self.constraint, self.space.decode(key), self.owner):
            self.rejected.add(key)
            return None
        return key

    def sample(self, rng: np.random.Generator, n: int) -> Iterator[Key]:
        """Up to ``n`` fresh admissible combinations drawn uniformly (fewer when draws run out)."""
        found, limit = 0, DRAWS_PER_SAMPLE * max(n, 1)
        for _ in range(limit):
            if found == n or len(self.seen) >= self.size:
                return
            key = self.fresh(tuple(axis.random(rng) for axis in self.axes))
            if key is not None:
                found += 1
                yield key


def fitness(values: list[float], maximize: bool) -> np.ndarray:
    """Trial values as scores to maximise: negated when minimising, NaN (failed, no trades) as -inf.

    >>> fitness([1.0, float('nan'), -2.0], maximize=False)
    array([ -1., -inf,   2.])
    """
    scores = np.asarray(values, dtype=float) * (1.0 if maximize else -1.0)
    return np.where(np.isnan(scores), -np.inf, scores)


def none_admissible(tried: int, owner: str) -> ValueError:
    """The error when not one combination drawn passes the constraint."""
    return ValueError(
        f"None of the {tried:,} combinations drawn satisfies the 'constraint' of {owner}. "
        "Loosen the constraint or widen the parameter ranges."
    )
