"""Parameter strings: the text written for hand-picked cases, round trips of any value, and errors."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import backtestkit
from backtestkit import Backtest, param_string, parse_params
from backtestkit.datasets import load_daily
from backtestkit.optimize import Trial
from tests.test_chart import SmaCross


@pytest.mark.parametrize("params, text", [
    ({}, ""),
    ({"n2": 30, "n1": 10}, "n1=10,n2=30"),  # sorted by name: the same text in any order
    ({"n1": 10, "n2": 30}, "n1=10,n2=30"),
    ({"x": -3, "y": 0}, "x=-3,y=0"),
    ({"sl": 0.1, "big": 1e100, "small": 1e-05, "one": 1.0}, "big=1e+100,one=1.0,sl=0.1,small=1e-05"),
    ({"a": math.inf, "b": -math.inf, "c": math.nan, "d": -0.0}, "a=inf,b=-inf,c=nan,d=-0.0"),
    ({"on": True, "off": False, "trail": None}, "off=False,on=True,trail=None"),
    ({"mode": "fast"}, 'mode="fast"'),
    ({"s": 'a,b="c"\\'}, 's="a,b=\\"c\\"\\\\"'),  # commas, quotes and backslashes escaped as in JSON
    ({"s": "é\n"}, 's="é\\n"'),
    ({"n": np.int64(7), "f": np.float64(0.25), "b": np.bool_(True)}, "b=True,f=0.25,n=7"),
])
def test_param_string_writes_a_short_stable_line(params, text):
    before = dict(params)
    assert param_string(params) == text
    assert list(params) == list(before)  # what the user passed is left as it was


def test_parse_params_reads_the_documented_forms():
    assert parse_params(" n1 = 10 ,n2=30 ") == {"n1": 10, "n2": 30}
    assert parse_params("a=1.,b=.5,c=2e3,d=+4,e=-inf,f=010") == {"a": 1.0, "b": 0.5, "c": 2000.0, "d": 4,
                                                                 "e": -math.inf, "f": 10}
    assert [type(v) for v in parse_params("a=1,b=1.0,c=1e0").values()] == [int, float, float]
    assert parse_params('s="\\u00e9,\\"x\\""') == {"s": 'é,"x"'}
    assert parse_params("") == parse_params("   ") == {}


def test_order_of_the_text_is_kept_when_parsed():
    assert list(parse_params("n2=1,n1=2")) == ["n2", "n1"]


values = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(),
)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


def same(a, b) -> bool:
    """Equal values of the same type, NaN equal to NaN and -0.0 told from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


@given(st.dictionaries(names, values, max_size=6))
def test_every_combination_round_trips(params):
    back = parse_params(param_string(params))
    assert back.keys() == params.keys()
    assert all(same(back[name], params[name]) for name in params)
    assert param_string(back) == param_string(params)


@given(st.dictionaries(names, values, max_size=6))
def test_the_text_is_one_printable_line_without_spaces_outside_strings(params):
    text = param_string(params)
    assert "\n" not in text
    outside = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    assert " " not in outside


@pytest.mark.parametrize("text, match", [
    ("n1", "at position 2: expected '=' after 'n1', found the end"),
    ("n1=", "at position 3: expected a value for 'n1'"),
    ("n1=10,", "at position 6: expected a parameter name after ','"),
    ("n1=10 n2=3", "at position 6: expected ',' or the end after the value of 'n1', found 'n'"),
    ("n1=fast", re.escape('(strings go in double quotes: n1="fast")')),
    ("n1='fast'", "at position 3: expected a value for 'n1'"),
    ('n1="abc', "at position 3: expected a string for 'n1' closed by '\"'"),
    ('n1="a\\qb"', "expected a string for 'n1' closed by '\"', with JSON's escapes"),
    ("=3", "at position 0: expected a parameter name, found '='"),
    ("1n=3", "at position 0: expected a parameter name, found '1'"),
    ("n1=10abc", "at position 3: expected a value for 'n1'"),
    ("n1=1.2.3", "at position 3: expected a value for 'n1'"),
    ("n1=information", re.escape('n1="information"')),
    ("n1=1,n1=2", "The parameter string 'n1=1,n1=2' names 'n1' twice."),
])
def test_malformed_text_says_what_was_expected_and_where(text, match):
    with pytest.raises(ValueError, match=match):
        parse_params(text)


def test_malformed_text_points_at_the_place():
    with pytest.raises(ValueError) as caught:
        parse_params("n1=10;n2=3")
    assert str(caught.value).endswith("\n  n1=10;n2=3\n       ^")


@pytest.mark.parametrize("call, arg, exc, match", [
    (parse_params, 10, TypeError,
     "The 'text' parameter of parse_params must be a string such as 'n1=10,n2=30'. Got 10 instead."),
    (param_string, [("n1", 1)], TypeError,
     "The 'params' parameter of param_string must be a mapping of parameter names to values."),
    (param_string, {"n 1": 1}, ValueError,
     "The 'params' parameter of param_string must be keyed by parameter names"),
    (param_string, {"n1": [1, 2]}, TypeError,
     r"The value of parameter 'n1' must be an int, a float, a bool, a string or None to go in a parameter "
     r"string. Got \[1, 2\] of type list instead."),
])
def test_bad_arguments_are_refused(call, arg, exc, match):
    with pytest.raises(exc, match=match):
        call(arg)


def test_a_trial_gives_its_string_and_a_run_takes_it_back():
    trial = Trial(0, {"n2": 40, "n1": 10}, "ok", 1.0)
    assert trial.param_string == "n1=10,n2=40"
    bt = Backtest(load_daily(), SmaCross, finalize_trades=True)
    again = bt.run(**backtestkit.parse_params(trial.param_string))
    assert again["_strategy"].n1 == 10 and again["_strategy"].n2 == 40
    assert again["# Trades"] == bt.run(n1=10, n2=40)["# Trades"]
