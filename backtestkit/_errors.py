"""Exception wording shared by every module: one voice for every bad argument."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class Verbatim(str):
    """Text shown verbatim (unquoted) as the "Got ... instead" part of an error message."""

    def __repr__(self) -> str:
        return str(self)


def describe(value: Any) -> str:
    """Short, readable rendering of a user's value for an error message."""
    text = repr(value)
    if len(text) > 80:
        text = f"{text[:77]}..."
    return text


def param_error(
    owner: str,
    name: str,
    expected: str,
    got: Any,
    *,
    hint: str = "",
    exc: type[Exception] = ValueError,
) -> Exception:
    """Build the house-style exception for a bad argument.

    >>> str(param_error('Backtest', 'cash', 'a number > 0', -100))
    "The 'cash' parameter of Backtest must be a number > 0. Got -100 instead."
    """
    message = f"The {name!r} parameter of {owner} must be {expected}. Got {describe(got)} instead."
    if hint:
        message = f"{message} {hint}"
    return exc(message)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A " Did you mean 'x'?" suffix for the closest candidate, or ''.

    >>> did_you_mean('nn1', ['n1', 'n2', 'cash'])
    "Did you mean 'n1'?"
    >>> did_you_mean('zzz', ['n1'])
    ''
    """
    close = difflib.get_close_matches(str(name), list(candidates), n=1, cutoff=0.5)
    return f"Did you mean {close[0]!r}?" if close else ""


def unknown_name_error(kind: str, name: str, known: Iterable[str], owner: str) -> Exception:
    """Error for a name that is not among the known ones, listing them and suggesting the closest.

    >>> str(unknown_name_error('parameter', 'nn1', ['n1', 'n2'], 'SmaCross'))
    "Unknown parameter 'nn1' for SmaCross. Known: 'n1', 'n2'. Did you mean 'n1'?"
    """
    known = sorted(known)
    listing = ", ".join(repr(k) for k in known) if known else "(none)"
    message = f"Unknown {kind} {name!r} for {owner}. Known: {listing}."
    suggestion = did_you_mean(name, known)
    if suggestion:
        message = f"{message} {suggestion}"
    return ValueError(message)
