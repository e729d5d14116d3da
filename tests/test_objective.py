"""Tests for backtestkit._objective: how a search's settings are shown in its report."""

from __future__ import annotations

from backtestkit._objective import _shown, _source


def limit(p):
    return p.n1 < p.n2


def test_a_lambda_constraint_shows_as_the_lambda_alone() -> None:
    settings = dict(n1=range(5, 30, 5), constraint=lambda p: p.n1 < p.n2, maximize="SQN")
    assert _source(settings["constraint"]) == "lambda p: p.n1 < p.n2"


def test_of_several_lambdas_on_a_line_the_constraint_is_shown() -> None:
    settings = dict(maximize=lambda s: s["SQN"], constraint=lambda p: p.n2 - p.n1 > 5)
    assert _source(settings["constraint"]) == "lambda p: p.n2 - p.n1 > 5"


def test_a_function_constraint_shows_its_source() -> None:
    assert _source(limit) == "def limit(p):\n    return p.n1 < p.n2"
    assert _source(None) is None


def test_long_candidate_lists_show_their_ends() -> None:
    assert _shown(range(3)) == [0, 1, 2]
    halves = [0.5 * i for i in range(20)]  # 13 at most: the first 10, an ellipsis, the last 3
    assert _shown(halves) == "[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, …, 8.5, 9.0, 9.5]"
    assert _shown("ema") == "ema"
