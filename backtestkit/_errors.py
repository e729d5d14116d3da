"""Exception wording shared by every module: one voice for every bad argument."""

from __future__ import annotations

import difflib
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from numbers import Number
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


def unknown_name_error(kind: str, name: str, known: Iterable[str], owner: str, *,
                       also: Iterable[str] = ()) -> Exception:
    """Error for a name that is not among the known ones, listing them and suggesting the closest.

    ``also`` names other keywords the caller takes (its options): suggested if closest, not listed.

    >>> str(unknown_name_error('parameter', 'nn1', ['n1', 'n2'], 'SmaCross'))
    "Unknown parameter 'nn1' for SmaCross. Known: 'n1', 'n2'. Did you mean 'n1'?"
    >>> str(unknown_name_error('parameter', 'maximise', ['n1'], 'Backtest.optimize', also=['maximize']))
    "Unknown parameter 'maximise' for Backtest.optimize. Known: 'n1'. Did you mean 'maximize'?"
    """
    known = sorted(known)
    listing = ", ".join(repr(k) for k in known) if known else "(none)"
    message = f"Unknown {kind} {name!r} for {owner}. Known: {listing}."
    suggestion = did_you_mean(name, [*known, *also])
    if suggestion:
        message = f"{message} {suggestion}"
    return ValueError(message)


def check_number(owner: str, name: str, value: Any, expected: str, ok: Callable[[float], bool]) -> float:
    """``value`` as a float if it is a finite real number for which ``ok`` holds; else the error.

    >>> check_number('Backtest', 'cash', 100, 'a number > 0', lambda x: x > 0)
    100.0
    """
    if not isinstance(value, Number) or isinstance(value, bool):
        raise param_error(owner, name, expected, value, exc=TypeError)
    if not (math.isfinite(float(value)) and ok(float(value))):
        raise param_error(owner, name, expected, value)
    return float(value)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, pointing at the user's line: the first caller outside backtestkit.

    Engine warnings are raised deep inside the bar loop; a fixed ``stacklevel`` would point at
    different library lines depending on the path, so count the library's own frames instead.
    """
    frame, level = sys._getframe(1), 2  # stacklevel 1 would be this function
    while frame is not None and frame.f_globals.get("__name__", "").startswith("backtestkit"):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def note_bar(exc: BaseException, bar: int, label: object) -> None:
    """Add to an error raised during a run the bar it was raised on (Python 3.11 shows notes)."""
    if hasattr(exc, "add_note"):
        exc.add_note(f"(raised on bar {bar}, {label})")
