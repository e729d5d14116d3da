"""The parameter space: the user's ``**params`` checked and turned into candidate lists.

A grid is treated as mixed-radix integers: a combination is a tuple of *codes*, one position per
parameter in that parameter's candidate list, so huge grids are never materialised.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backtestkit._errors import describe, param_error, unknown_name_error

Codes = tuple[int, ...]


class Combination(dict):  # type: ignore[type-arg]
    """One parameter combination, readable as ``p.n1`` as well as ``p['n1']``.

    This is what a ``constraint`` receives.

    >>> p = Combination(n1=10, n2=20)
    >>> p.n1 < p.n2, p['n2']
    (True, 20)
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"This combination has no parameter {name!r}. It has: {list(self)}."
            ) from None


def is_skopt_dimension(value: Any) -> bool:
    """Whether ``value`` is a scikit-optimize ``Dimension`` (checked without importing skopt)."""
    return any(
        cls.__name__ == "Dimension" and cls.__module__.startswith("skopt.") for cls in type(value).__mro__
    )


def is_number(value: Any) -> bool:
    """A real number that is not a bool (``True`` is a category, not the number 1)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class ParamSpace:
    """The checked search space.

    ``candidates[i]`` is the tuple of distinct values of parameter ``names[i]`` (sorted when they are
    mutually comparable), or ``None`` when that parameter is a scikit-optimize ``Dimension``, held in
    ``dimensions[i]``.
    """

    names: tuple[str, ...]
    candidates: tuple[tuple[Any, ...] | None, ...]
    dimensions: tuple[Any, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of candidates per parameter (only meaningful without ``Dimension`` objects)."""
        return tuple(len(c) if c is not None else 0 for c in self.candidates)

    @property
    def size(self) -> int:
        """Number of combinations in the full grid (a Python int: it may exceed 2**63)."""
        return math.prod(self.sizes)

    @property
    def has_dimensions(self) -> bool:
        """Whether some parameter is a scikit-optimize ``Dimension`` (a grid cannot hold it)."""
        return any(c is None for c in self.candidates)

    def decode(self, key: tuple[Any, ...]) -> dict[str, Any]:
        """The parameter values of a combination given by its key: a candidate position per listed
        parameter, the value itself for a scikit-optimize ``Dimension``."""
        return {
            name: value if cands is None else cands[value]
            for name, cands, value in zip(self.names, self.candidates, key, strict=True)
        }

    def decode_columns(self, columns: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """:meth:`decode` of many keys given a column per key element: a column of values per parameter.

        >>> ParamSpace(("n",), ([10, 20],), (None,)).decode_columns([[1, 0, 1]])
        [[20, 10, 20]]
        """
        return [list(column) if cands is None else [cands[position] for position in column]
                for cands, column in zip(self.candidates, columns, strict=True)]

    def describe(self) -> dict[str, Any]:
        """The space as a study records it: each parameter's candidates, or its dimension's repr."""
        return {name: repr(dimension) if cands is None else list(cands)
                for name, cands, dimension in zip(self.names, self.candidates, self.dimensions, strict=True)}

    def iter_codes(self) -> Iterator[Codes]:
        """Every combination's codes in lexicographic order, lazily."""
        return itertools.product(*map(range, self.sizes))


def build_space(params: Mapping[str, Any], known_params: Collection[str], owner: str) -> ParamSpace:
    """Check the user's ``**params`` and return the search space.

    Raises:
        ValueError: no parameters, an unknown parameter name, or an empty collection of candidates.

    >>> space = build_space({'n1': range(10, 30, 10), 'kind': 'ema'}, ['n1', 'kind'], 'Backtest.optimize')
    >>> space.candidates, space.size
    (((10, 20), ('ema',)), 2)
    """
    if not params:
        known = ", ".join(repr(k) for k in sorted(known_params)) or "(none)"
        raise ValueError(
            f"{owner} needs at least one parameter to search over, e.g. n1=range(5, 30, 5). "
            f"Known parameters: {known}."
        )
    for name in params:
        if name not in known_params:
            raise unknown_name_error("parameter", name, known_params, owner)
    candidates = tuple(_candidates(owner, name, value) for name, value in params.items())
    dimensions = tuple(value if is_skopt_dimension(value) else None for value in params.values())
    return ParamSpace(tuple(params), candidates, dimensions)


def _candidates(owner: str, name: str, value: Any) -> tuple[Any, ...] | None:
    """The distinct candidate values of one parameter (``None`` for a skopt ``Dimension``)."""
    if is_skopt_dimension(value):
        return None
    if isinstance(value, (str, bytes)):
        return (value,)
    try:
        values = _unique(iter(value))
    except TypeError:  # not iterable: one fixed value
        return (value,)
    if not values:
        raise param_error(owner, name, "a non-empty collection of candidate values, or a single value", value)
    try:
        return tuple(sorted(values))
    except TypeError:  # not mutually comparable (e.g. None among numbers): keep the order given
        return tuple(values)


def _unique(values: Iterable[Any]) -> list[Any]:
    """Values without repeats, first occurrence kept; unhashable values are kept as they are."""
    seen: set[Any] = set()
    out = []
    for value in values:
        try:
            if value in seen:
                continue
            seen.add(value)
        except TypeError:
            pass
        out.append(value)
    return out


def describe_combination(params: Mapping[str, Any]) -> str:
    """A combination as ``n1=10, n2=20`` for error messages."""
    return ", ".join(f"{name}={describe(value)}" for name, value in params.items())


def combination_error(exc: Exception, params: Mapping[str, Any], what: str) -> Exception:
    """A new exception of ``exc``'s type (or a RuntimeError) naming the combination it came from."""
    message = f"{what} raised {type(exc).__name__} for the combination {describe_combination(params)}: {exc}"
    try:
        return type(exc)(message)
    except Exception:  # an exception type that cannot be built from one message
        return RuntimeError(message)


def admits(constraint: Callable[[Any], Any] | None, params: dict[str, Any], owner: str) -> bool:
    """Whether the combination passes the constraint (always, without one).

    Raises:
        The constraint's exception type (or RuntimeError), naming the combination.
    """
    if constraint is None:
        return True
    try:
        return bool(constraint(Combination(params)))
    except Exception as exc:
        raise combination_error(exc, params, f"The constraint of {owner}") from exc
