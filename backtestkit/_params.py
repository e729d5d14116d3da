"""Parameter strings: a combination of strategy parameters as one short, pasteable line and back.

``param_string({'n2': 30, 'n1': 10})`` is ``'n1=10,n2=30'``: names sorted, so the same parameters always
give the same text; ints as written, floats as ``repr`` writes them (so they read back exactly, ``inf``
and ``nan`` included), ``True``/``False``/``None``, and strings in double quotes with JSON's escapes.
:func:`parse_params` reads it back, for ``bt.run(**parse_params(text))``.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from backtestkit._errors import describe, param_error

_NAME = re.compile(r"[^\W\d]\w*")
_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|nan)(?![\w.])")
_WORDS = {"True": True, "False": False, "None": None}
_FORM = "name=value pairs separated by commas, e.g. 'n1=10,n2=30,mode=\"fast\",sl=0.02'"


def param_string(params: Mapping[str, Any]) -> str:
    """A parameter combination as one short line, the same for the same parameters in any order.

    Args:
        params: parameter name -> value: an int, a float, a bool, a string or None (numpy scalars
            of those kinds too), as ``Backtest.run`` takes them or ``Trial.params`` holds them.

    Returns:
        ``name=value`` pairs sorted by name, joined by commas; :func:`parse_params` reads it back.

    Raises:
        TypeError: ``params`` is not a mapping, or a value is of another kind (a list, an object).
        ValueError: a name that is not a Python identifier (it could not be a strategy parameter).

    >>> param_string({'n2': 30, 'n1': 10})
    'n1=10,n2=30'
    >>> param_string({'sl': 0.1, 'mode': 'fast "x"', 'trail': None, 'long_only': True})
    'long_only=True,mode="fast \\\\"x\\\\"",sl=0.1,trail=None'
    """
    if not isinstance(params, Mapping):
        raise param_error("param_string", "params", "a mapping of parameter names to values", params,
                          exc=TypeError)
    pairs = []
    for name in sorted(params, key=str):
        if not isinstance(name, str) or not name.isidentifier():
            raise param_error("param_string", "params", "keyed by parameter names (identifiers)", name)
        pairs.append(f"{name}={_value_text(name, params[name])}")
    return ",".join(pairs)


def _value_text(name: str, value: Any) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, np.bool_):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"The value of parameter {name!r} must be an int, a float, a bool, a string or None to "
                    f"go in a parameter string. Got {describe(value)} of type {type(value).__name__} "
                    "instead.")


def parse_params(text: str) -> dict[str, Any]:
    """Read a parameter string (as :func:`param_string` writes it) back into a dict.

    Spaces around names, ``=`` and commas are allowed; strings go in double quotes (with JSON's
    escapes: ``\\"``, ``\\\\``, ``\\n``, ``\\u00e9``); numbers with a ``.``, an exponent, ``inf`` or
    ``nan`` are floats, others ints; ``True``, ``False`` and ``None`` are themselves.

    Args:
        text: the parameter string, e.g. ``'n1=10,n2=30'`` (``''`` gives ``{}``).

    Returns:
        parameter name -> value, in the order of the text, ready for ``bt.run(**params)``.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: the text is malformed (the message shows where) or names a parameter twice.

    >>> parse_params('n1=10, n2=30, sl=0.02, mode="fast", long_only=True')
    {'n1': 10, 'n2': 30, 'sl': 0.02, 'mode': 'fast', 'long_only': True}
    >>> parse_params(param_string({'x': 1e-300, 'y': 'a,b=c'}))
    {'x': 1e-300, 'y': 'a,b=c'}
    """
    if not isinstance(text, str):
        raise param_error("parse_params", "text", "a string such as 'n1=10,n2=30'", text, exc=TypeError)
    params: dict[str, Any] = {}
    position = _SPACE.match(text).end()  # type: ignore[union-attr]
    while position < len(text):
        name = _NAME.match(text, position)
        if name is None:
            raise _malformed(text, position, "a parameter name")
        if name[0] in params:
            raise ValueError(f"The parameter string {text!r} names {name[0]!r} twice.")
        position = _skip(text, name.end())
        if not text.startswith("=", position):
            raise _malformed(text, position, f"'=' after {name[0]!r}")
        params[name[0]], position = _value(text, _skip(text, position + 1), name[0])
        position = _skip(text, position)
        if position < len(text):
            if text[position] != ",":
                raise _malformed(text, position, f"',' or the end after the value of {name[0]!r}")
            position = _skip(text, position + 1)
            if position == len(text):
                raise _malformed(text, position, "a parameter name after ','")
    return params


def _skip(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()  # type: ignore[union-attr]


def _value(text: str, position: int, name: str) -> tuple[Any, int]:
    """The value that starts at ``position`` and where it ends."""
    if text.startswith('"', position):
        try:
            return json.decoder.scanstring(text, position + 1)  # type: ignore[attr-defined]
        except json.JSONDecodeError as exc:
            raise _malformed(text, position, f"a string for {name!r} closed by '\"', with JSON's escapes "
                             f"(the problem at position {exc.pos}: {exc.msg})") from None
    number = _NUMBER.match(text, position)
    if number is not None:
        literal = number[0]
        is_float = any(c in literal for c in ".eEn")  # a point, an exponent, inf or nan
        return (float(literal) if is_float else int(literal)), number.end()
    word = _NAME.match(text, position)
    if word is not None and word[0] in _WORDS:
        return _WORDS[word[0]], word.end()
    hint = f" (strings go in double quotes: {name}=\"{word[0]}\")" if word is not None else ""
    raise _malformed(text, position, f"a value for {name!r}: a number, True, False, None or a \"string\""
                     f"{hint}")


def _malformed(text: str, position: int, expected: str) -> ValueError:
    """The error for malformed text: what was expected, where, with a caret under the place."""
    found = repr(text[position]) if position < len(text) else "the end"
    message = (f"Cannot read the parameter string {text!r} at position {position}: expected {expected}, "
               f"found {found}. The form is {_FORM}.")
    if text.isprintable():
        message += f"\n  {text}\n  {' ' * position}^"
    return ValueError(message)

