"""Fitness and constraint expressions: what they compute, and everything the language refuses."""

from __future__ import annotations

import math
import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backtestkit._objective import NUMERIC_KEYS
from backtestkit.optimize import Expression, ExpressionError

STATS = {"Sharpe Ratio": 1.5, "# Trades": 50, "Max. Drawdown [%]": -20.0, "Return [%]": 12.0, "SQN": 2.0,
         "Buy & Hold Return [%]": 8.0, "Return (Ann.) [%]": 4.0, "Win Rate [%]": 55.0}


def value(text, stats=STATS):
    return Expression(text, NUMERIC_KEYS)(stats)


@pytest.mark.parametrize("text, expected", [
    ("Sharpe Ratio * min(1, `# Trades` / 100)", 1.5 * 0.5),       # 50 trades of the 100 wanted
    ("Sharpe Ratio * min(1, # Trades / 100)", 0.75),               # a whole key needs no backticks
    ("Return [%] / abs(Max. Drawdown [%])", 12 / 20),
    ("Buy & Hold Return [%] - Return [%]", 8 - 12),               # the longest key wins
    ("Return (Ann.) [%] + Return [%]", 4 + 12),
    ("SQN ** 2 - 1", 3.0),
    ("-SQN", -2.0),
    ("sqrt(SQN * 8)", 4.0),
    ("log(exp(SQN))", 2.0),
    ("max(SQN, 3, 1)", 3),
    ("clamp(Return [%], 0, 10)", 10),
    ("clamp(Max. Drawdown [%], -10, 0)", -10),
    ("if(# Trades > 30, SQN, 0)", 2.0),
    ("if(# Trades > 60, SQN, 0)", 0),
    ("if(# Trades > 60, 1 / 0, -1)", -1),                          # only the branch taken is evaluated
    ("Max. Drawdown [%] > -25 and # Trades >= 30", True),
    ("not (Max. Drawdown [%] > -10) or SQN < 0", True),
    ("-25 < Max. Drawdown [%] <= 0", True),
    ("`Win Rate [%]` / 100", 0.55),
])
def test_expressions_compute_from_the_stats(text, expected):
    assert value(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1 / 0", "log(-1)", "sqrt(Max. Drawdown [%])", "exp(10000)"])
def test_what_cannot_be_computed_is_nan(text):
    assert math.isnan(value(text))


def test_a_missing_key_is_nan_and_the_keys_read_are_listed():
    expression = Expression("SQN + `Calmar Ratio`", NUMERIC_KEYS)
    assert sorted(expression.keys) == ["Calmar Ratio", "SQN"]
    assert math.isnan(expression({"SQN": 1.0}))


def test_an_expression_pickles_for_the_workers():
    expression = pickle.loads(pickle.dumps(Expression("Sharpe Ratio * 2", NUMERIC_KEYS)))
    assert expression(STATS) == 3.0
    assert repr(expression) == "Expression('Sharpe Ratio * 2')"


REFUSED = [
    ("__import__('os')", "Calling '__import__' is not allowed"),
    ("__import__('os').system('ls')", "Calling \"__import__\\('os'\\).system\" is not allowed"),
    ("SQN.__class__", "Attribute access is not allowed"),
    ("SQN.real.imag", "Attribute access is not allowed"),
    ("Sharpe Ratio[0]", "Subscripts are not allowed"),
    ("(lambda: 1)()", "Calling 'lambda: 1' is not allowed"),
    ("lambda: 1", "Lambdas are not allowed"),
    ("print(SQN)", "Calling 'print' is not allowed"),
    ("eval('1')", "Calling 'eval' is not allowed"),
    ("os", "Unknown stats key 'os'"),
    ("x + 1", "Unknown stats key 'x'"),
    ("'text'", "Only numbers are allowed"),
    ("[SQN]", "List is not allowed"),
    ("(y := 1)", "NamedExpr is not allowed"),
    ("min", "'min' is a function"),
    ("min(SQN)", r"min\(\) takes at least 2 arguments"),
    ("clamp(SQN, 1)", r"clamp\(\) takes 3 arguments"),
    ("max(*[1, 2])", r"max\(\) takes plain arguments"),
    ("SQN +", "does not parse"),
    ("`SQN", "unclosed backtick"),
    ("_bk_key_0", "may not contain"),
]


@pytest.mark.parametrize("text, match", REFUSED)
def test_everything_outside_the_language_is_refused(text, match):
    with pytest.raises(ExpressionError, match=match):
        Expression(text, NUMERIC_KEYS, "Backtest.optimize(maximize=...)")


def test_an_unknown_key_gets_the_closest_known_one():
    message = ("Unknown stats key 'Sharpe Ratoi' in the expression '`Sharpe Ratoi` * 2' for "
               "Backtest.optimize(maximize=...). Did you mean 'Sharpe Ratio'? Write a key with spaces or "
               "symbols as it is or in backticks: `# Trades`.")
    with pytest.raises(ExpressionError, match=f"^{re.escape(message)}$"):
        Expression("`Sharpe Ratoi` * 2", NUMERIC_KEYS, "Backtest.optimize(maximize=...)")
    with pytest.raises(ExpressionError, match="Did you mean 'SQN'"):
        Expression("SQNN * 2", NUMERIC_KEYS)


def test_a_key_inside_a_longer_word_is_not_taken_for_the_key():
    with pytest.raises(ExpressionError, match="Unknown stats key 'SQNs'"):
        Expression("SQNs", NUMERIC_KEYS)


numbers = st.floats(-1e6, 1e6, allow_nan=False)


@given(numbers, numbers, numbers)
def test_arithmetic_matches_python(a, b, c):
    stats = {"SQN": a, "Sharpe Ratio": b, "Return [%]": c}
    assert value("SQN + Sharpe Ratio * Return [%] - min(SQN, Return [%])", stats) == \
        a + b * c - min(a, c)
    assert value("clamp(SQN, min(Sharpe Ratio, Return [%]), max(Sharpe Ratio, Return [%]))", stats) == \
        min(max(a, min(b, c)), max(b, c))
    assert value("if(SQN > Sharpe Ratio, 1, 2)", stats) == (1 if a > b else 2)
