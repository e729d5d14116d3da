"""Fitness and constraint expressions over stats keys, parsed once with ``ast`` into a safe evaluator.

``"Sharpe Ratio * min(1, `# Trades` / 100)"``: a stats key is written as it is (the longest known key
that appears in the text wins, so ``Max. Drawdown [%]`` and ``# Trades`` need no quoting) or in
backticks. The language has numbers, ``+ - * / // % **``, comparisons, ``and or not``, and the
functions in :data:`FUNCTIONS` plus ``if(cond, a, b)``; nothing else parses (no attributes, subscripts,
lambdas, other calls or names), so an expression can do nothing but compute with the stats.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from backtestkit._errors import did_you_mean


def _clamp(x: float, low: float, high: float) -> float:
    return min(max(x, low), high)


#: The functions an expression may call (and ``if(cond, a, b)``, which evaluates only the branch taken).
FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min, "max": max, "abs": abs, "sqrt": math.sqrt, "log": math.log, "exp": math.exp, "clamp": _clamp,
}
_ARITY = {"abs": (1, 1), "sqrt": (1, 1), "log": (1, 2), "exp": (1, 1), "clamp": (3, 3), "min": (2, None),
          "max": (2, None), "if": (3, 3)}
_CONSTANTS = {"nan": math.nan, "inf": math.inf}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
          ast.Constant, ast.Load, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_KEY = "_bk_key_"  # the placeholder a stats key becomes before the text is parsed
_IF = "_bk_if"


class ExpressionError(ValueError):
    """An expression that does not parse, uses what the language lacks, or names an unknown stats key."""


class Expression:
    """A parsed expression: call it with a run's stats (a Series or a dict) for its value.

    Args:
        text: the expression.
        keys: the stats keys it may read.
        owner: who asks, for error messages (``"Backtest.optimize(maximize=...)"``).

    Attributes:
        text: the expression as given.
        keys: the stats keys it reads.

    Raises:
        ExpressionError (a ValueError): bad syntax, a construct outside the language, an unknown key
            (with the closest known one), or a function called with the wrong number of arguments.

    A value that cannot be computed (a division by zero, the log of a negative number) is NaN, which
    ranks last.

    >>> e = Expression("Sharpe Ratio * min(1, `# Trades` / 100)", ['Sharpe Ratio', '# Trades'])
    >>> sorted(e.keys)
    ['# Trades', 'Sharpe Ratio']
    >>> e({'Sharpe Ratio': 1.5, '# Trades': 50})
    0.75
    """

    needs_frames = False  # reads numbers only: a search can give it the stats without their frames

    def __init__(self, text: str, keys: Sequence[str], owner: str = "expression") -> None:
        if not isinstance(text, str):
            raise TypeError(f"An expression for {owner} must be a string. Got {text!r} instead.")
        self.text, self.owner = text, owner
        self._source, self.keys = _compile_text(text, list(keys), owner)
        self._code = compile(self._source, "<expression>", "eval")
        self._names = [f"{_KEY}{i}" for i in range(len(self.keys))]

    def __call__(self, stats: Mapping[str, Any]) -> Any:
        scope = {name: stats.get(key, math.nan) for name, key in zip(self._names, self.keys, strict=True)}
        try:
            return eval(self._code, _GLOBALS, scope)  # noqa: S307 -- only whitelisted nodes reach here
        except (ArithmeticError, ValueError):
            return math.nan

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def __getstate__(self) -> dict[str, Any]:  # code objects do not pickle: workers compile again
        return {name: value for name, value in vars(self).items() if name != "_code"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(state)
        self._code = compile(self._source, "<expression>", "eval")


_GLOBALS: dict[str, Any] = {"__builtins__": {}, **FUNCTIONS, **_CONSTANTS}


def _compile_text(text: str, known: list[str], owner: str) -> tuple[str, list[str]]:
    """The expression as Python source with the keys as placeholders, and the keys it reads."""
    if _KEY in text or _IF in text:
        raise ExpressionError(f"The expression {text!r} for {owner} may not contain {_KEY!r} or {_IF!r}.")
    used: list[str] = []

    def placeholder(key: str) -> str:
        if key not in used:
            used.append(key)
        return f" {_KEY}{used.index(key)} "

    def quoted(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in known:
            raise _unknown(key, known, text, owner)
        return placeholder(key)

    source = re.sub(r"`([^`]*)`", quoted, text)
    if "`" in source:
        raise ExpressionError(f"The expression {text!r} for {owner} has an unclosed backtick.")
    for key in sorted(known, key=len, reverse=True):  # the longest key first: 'Return (Ann.) [%]'
        pattern = (r"(?<![\w.])" if key[0].isalnum() or key[0] == "_" else "") + re.escape(key) + \
            (r"(?!\w)" if key[-1].isalnum() or key[-1] == "_" else "")
        source = re.sub(pattern, lambda _, key=key: placeholder(key), source)
    source = re.sub(r"\bif\s*\(", f"{_IF}(", source)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        _suggest_key(source, known, text, owner)
        raise ExpressionError(
            f"The expression {text!r} for {owner} does not parse. Write stats keys as they are "
            f"('Sharpe Ratio', '# Trades') or in backticks (`Return [%]`), and use + - * / ** ( ), "
            f"comparisons, and/or/not and {', '.join([*FUNCTIONS, 'if'])}.") from None
    tree = _IfCalls().visit(_checked(tree, text, known, owner, len(used)))
    return ast.unparse(ast.fix_missing_locations(tree)), used


def _checked(tree: ast.Expression, text: str, known: list[str], owner: str, n_keys: int) -> ast.Expression:
    """``tree`` if every node is in the language; else the error naming the first that is not."""
    placeholders = {f"{_KEY}{i}" for i in range(n_keys)}
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        where = f"in the expression {text!r} for {owner}"
        if not isinstance(node, _NODES):
            what = {ast.Attribute: "Attribute access is", ast.Subscript: "Subscripts are",
                    ast.Lambda: "Lambdas are"}.get(type(node), f"{type(node).__name__} is")
            raise ExpressionError(f"{what} not allowed {where}: "
                                  f"only numbers, stats keys, operators and {', '.join([*FUNCTIONS, 'if'])}.")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ExpressionError(f"Only numbers are allowed {where}. Got {node.value!r} instead. "
                                  "Write a stats key with symbols in backticks: `Return [%]`.")
        if isinstance(node, ast.Call):
            _check_call(node, where)
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in placeholders \
                and node.id not in _CONSTANTS:
            if node.id in FUNCTIONS or node.id == _IF:
                raise ExpressionError(f"{node.id!r} is a function {where}: call it, e.g. {node.id}(...).")
            raise _unknown(node.id, known, text, owner)
    return tree


def _check_call(node: ast.Call, where: str) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    shown = "if" if name == _IF else name
    if shown not in _ARITY:
        called = ast.unparse(node.func)
        raise ExpressionError(f"Calling {called!r} is not allowed {where}: the functions are "
                              f"{', '.join([*FUNCTIONS, 'if'])}.")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ExpressionError(f"{shown}() takes plain arguments {where}.")
    low, high = _ARITY[shown]
    if len(node.args) < low or (high is not None and len(node.args) > high):
        count = f"{low}" if low == high else f"at least {low}" if high is None else f"{low} or {high}"
        raise ExpressionError(f"{shown}() takes {count} arguments {where}. Got {len(node.args)} instead.")


class _IfCalls(ast.NodeTransformer):
    """``if(cond, a, b)`` becomes ``a if cond else b``: only the branch taken is evaluated."""

    def visit_Call(self, node: ast.Call) -> ast.AST:  # noqa: N802 -- ast's naming
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == _IF:
            test, body, orelse = node.args
            return ast.IfExp(test=test, body=body, orelse=orelse)
        return node


def _suggest_key(source: str, known: list[str], text: str, owner: str) -> None:
    """Raise the unknown-key error for a piece of an unparsable expression that looks like a misspelt
    key (``# Trade``, ``Sharpe Ratoi``): text between operators that is not a number, key or function."""
    for piece in re.split(r"[-()*/+<>=!,%]|\band\b|\bor\b|\bnot\b", source):
        piece = piece.strip()
        words = piece.replace("_", " ").split()
        if not piece or piece.startswith(_KEY) or piece in FUNCTIONS or not words or \
                all(re.fullmatch(r"[\d.e]+", w) for w in words):
            continue
        if did_you_mean(piece, known):
            raise _unknown(piece, known, text, owner)


def _unknown(name: str, known: list[str], text: str, owner: str) -> ExpressionError:
    hint = did_you_mean(name, [*known, *FUNCTIONS])
    return ExpressionError(f"Unknown stats key {name!r} in the expression {text!r} for {owner}."
                           f"{' ' + hint if hint else ''} Write a key with spaces or symbols as it is or "
                           "in backticks: `# Trades`.")


def is_expression(text: str, known: Sequence[str]) -> bool:
    """Whether ``text`` reads as an expression rather than one (perhaps misspelt) stats key.

    >>> is_expression('Sharpe Ratio * 2', ['Sharpe Ratio']), is_expression('Sharpe Ratoi', ['Sharpe Ratio'])
    (True, False)
    """
    return text not in known and bool(re.search(r"[-`()*/+<>=!,]|\band\b|\bor\b|\bnot\b", text))
