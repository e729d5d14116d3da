"""Differential-testing harness: one strategy, run through backtesting.py (the oracle) and backtestkit.

A strategy is written once, as a factory ``make(lib)`` that builds a Strategy subclass from ``lib``'s
names (``lib.Strategy``, ``lib.crossover``, ...), so the very same body runs on both libraries.
backtesting.py is only ever imported and run: a black box whose outputs we observe.

Equality means: stats in the oracle's key order (backtestkit may append keys after them), numbers
equal to a relative 1e-9 (NaN equals NaN), times exact, the same ``str(stats['_strategy'])``, and the
same ``_equity_curve`` and ``_trades`` frames, column by column. Warnings are compared by kind and
roughly by count: what a user is told (UserWarning) must match; deprecation noise that pandas 3 raises
inside the oracle is not behaviour and is ignored.
"""

from __future__ import annotations

import importlib
import math
import numbers
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest

RTOL = 1e-9
# Only absorbs float noise around zero (a P/L of 1e-13 against an exact 0.0).
ATOL = 1e-12

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)

T = TypeVar("T")
Make = Callable[["Library"], type]


class Library:
    """One library's public names, imported on first use: ``lib.Backtest``, ``lib.crossover``, ...

    Names are looked up in the package, then in its ``lib`` module. A name that backtestkit does not
    provide yet skips the calling test (with the missing name as the reason) instead of failing it.

    >>> Library("backtesting").Backtest.__name__
    'Backtest'
    """

    def __init__(self, package: str) -> None:
        self.package = package

    def __repr__(self) -> str:
        return self.package

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        for module_name in (self.package, f"{self.package}.lib"):
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            if hasattr(module, name):
                return getattr(module, name)
        pytest.skip(f"{self.package} does not provide {name!r} yet")


ORACLE = Library("backtesting")
OURS = Library("backtestkit")


def record(call: Callable[[], T]) -> tuple[T, list[warnings.WarningMessage]]:
    """Call ``call()`` and return its result with every warning it emitted (none escape to pytest).

    A backtestkit module that does not exist yet skips the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith("backtestkit"):
                raise
            pytest.skip(f"backtestkit has no module {error.name!r} yet")
    return result, caught


def run(
    lib: Library,
    make: Make,
    data: pd.DataFrame,
    *,
    run_kwargs: dict[str, Any] | None = None,
    backtest: str = "Backtest",
    **backtest_kwargs: Any,
) -> tuple[pd.Series, list[warnings.WarningMessage]]:
    """Run ``make(lib)`` on a copy of ``data`` with ``lib``'s ``backtest`` class: stats and warnings."""
    strategy = make(lib)
    engine = getattr(lib, backtest)
    return record(lambda: engine(data.copy(), strategy, **backtest_kwargs).run(**(run_kwargs or {})))


def assert_same(
    make: Make,
    data: pd.DataFrame,
    *,
    exercises: Callable[[pd.Series], object] | None = None,
    run_kwargs: dict[str, Any] | None = None,
    backtest: str = "Backtest",
    **backtest_kwargs: Any,
) -> tuple[pd.Series, pd.Series]:
    """Run the strategy through both libraries and assert identical stats, frames and warnings.

    ``exercises(oracle_stats)`` runs before backtestkit does: it asserts (or returns False if not) that
    the case really exercises its feature (an SL really hit, an order really cancelled), so a test cannot
    pass vacuously. Returns ``(oracle_stats, our_stats)`` for further checks.
    """
    options = dict(run_kwargs=run_kwargs, backtest=backtest, **backtest_kwargs)
    expected, expected_warnings = run(ORACLE, make, data, **options)
    if exercises is not None:
        assert exercises(expected) is not False, "the case does not exercise its feature in the oracle"
    frame = data.copy()
    actual, actual_warnings = run(OURS, make, frame, **options)
    pd.testing.assert_frame_equal(frame, data, obj="the user's data after the run")
    assert_same_stats(actual, expected)
    assert_same_warnings(actual_warnings, expected_warnings)
    return expected, actual


def assert_same_stats(actual: pd.Series, expected: pd.Series) -> None:
    """Same public keys in the oracle's order (ours may append more), same strategy name, trades, equity
    curve and values (checked in this order: the first differing trade explains the rest)."""
    keys = [key for key in expected.index if not key.startswith("_")]
    ours = [key for key in actual.index if not key.startswith("_")]
    assert ours[: len(keys)] == keys, f"stats keys differ:\n ours:   {ours}\n oracle: {keys}"
    assert str(actual["_strategy"]) == str(expected["_strategy"])
    assert_same_frame(actual["_trades"], expected["_trades"], "_trades")
    assert_same_frame(actual["_equity_curve"], expected["_equity_curve"], "_equity_curve")
    differing = [
        f"  {key}: ours {actual[key]!r}, oracle {expected[key]!r}"
        for key in keys
        if not same_value(actual[key], expected[key])
    ]
    assert not differing, "stats differ:\n" + "\n".join(differing)


def assert_same_frame(actual: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    """Same columns in the same order, same index and cells (see ``differing``); on failure, show the
    first row that differs, side by side."""
    assert list(actual.columns) == list(expected.columns), (
        f"{what} columns differ:\n ours:   {list(actual.columns)}\n oracle: {list(expected.columns)}"
    )
    n = min(len(actual), len(expected))
    cells = {
        column: differing(ours.iloc[:n], theirs.iloc[:n])
        for column, ours, theirs in [("index", actual.index.to_series(), expected.index.to_series())]
        + [(column, actual[column], expected[column]) for column in expected.columns]
    }
    rows = np.logical_or.reduce(list(cells.values()))
    if not rows.any() and len(actual) == len(expected):
        return
    row = int(rows.argmax()) if rows.any() else n
    columns = [column for column, mask in cells.items() if row < n and mask[row]]
    around = slice(max(row - 1, 0), row + 2)
    with warnings.catch_warnings():  # only the message: pandas 2 warns when a column is all NaN here
        warnings.simplefilter("ignore", FutureWarning)
        side_by_side = pd.concat({"ours": actual.iloc[around], "oracle": expected.iloc[around]})
    raise AssertionError(
        f"{what}: ours has {len(actual)} rows, the oracle {len(expected)}; first difference at row {row}"
        f" in {columns}:\n{side_by_side.sort_index(level=1, kind='stable').to_string()}"
    )


def differing(actual: pd.Series, expected: pd.Series) -> np.ndarray:
    """Which cells differ: numbers beyond a relative 1e-9 (NaN == NaN), anything else by ``same_value``."""
    if {actual.dtype.kind, expected.dtype.kind} <= set("iufb"):
        ours, theirs = actual.to_numpy(float), expected.to_numpy(float)
        return ~np.isclose(ours, theirs, rtol=RTOL, atol=ATOL, equal_nan=True)
    pairs = zip(actual.tolist(), expected.tolist(), strict=True)
    return np.array([not same_value(ours, theirs) for ours, theirs in pairs], dtype=bool)


def assert_same_records(actual: Sequence[Any], expected: Sequence[Any]) -> None:
    """Two lists of records (what a strategy saw, bar by bar) are equal; report the first difference
    (field by field for dict records)."""
    assert len(actual) == len(expected), f"ours has {len(actual)} records, the oracle {len(expected)}"
    for number, (ours, theirs) in enumerate(zip(actual, expected, strict=True)):
        if same_value(ours, theirs):
            continue
        if isinstance(ours, dict) and isinstance(theirs, dict) and ours.keys() == theirs.keys():
            fields = [(key, ours[key], theirs[key]) for key in theirs]
            fields = [field for field in fields if not same_value(field[1], field[2])]
        else:
            fields = [("", ours, theirs)]
        details = "\n".join(f" {field}\n  ours:   {o!r}\n  oracle: {t!r}" for field, o, t in fields)
        raise AssertionError(f"record {number} differs:\n{details}")


def same_value(actual: Any, expected: Any) -> bool:
    """Equality for one stats value or frame cell: numbers to rel 1e-9, any null equals any null.

    >>> same_value(1.0, 1.0 + 1e-12), same_value(float('nan'), None), same_value(1.0, 1.001)
    (True, True, False)
    >>> same_value(pd.Timestamp('2020-01-01'), pd.Timestamp('2020-01-01 00:00:01'))
    False
    >>> same_value((1, 'a', [2.0]), (1, 'a', [2.0 + 1e-13])), same_value({'pl': 1.0}, {'pl': 1.1})
    (True, False)
    """
    if _is_null(actual) or _is_null(expected):
        return _is_null(actual) and _is_null(expected)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same_value(actual[key], expected[key]) for key in expected)
        )
    if isinstance(expected, (tuple, list, np.ndarray)):
        return (
            isinstance(actual, (tuple, list, np.ndarray))
            and len(actual) == len(expected)
            and all(same_value(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if _is_real(actual) and _is_real(expected):
        return math.isclose(float(actual), float(expected), rel_tol=RTOL, abs_tol=ATOL)
    return bool(actual == expected)


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, tuple, list, dict, np.ndarray, pd.Series, pd.DataFrame)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def warning_kinds(caught: Sequence[warnings.WarningMessage]) -> Counter[type[Warning]]:
    """Count warnings by their nearest built-in category (a library's own UserWarning subclass counts
    as a UserWarning; pandas' deprecation classes as DeprecationWarning).

    >>> class PandasDeprecation(DeprecationWarning): ...  # like pandas.errors.Pandas4Warning
    >>> warning_kinds([warnings.WarningMessage('x', PandasDeprecation, 'f', 1)])
    Counter({<class 'DeprecationWarning'>: 1})
    """
    return Counter(
        next(kind for kind in message.category.__mro__ if kind.__module__ == "builtins")
        for message in caught
    )


def assert_same_warnings(
    actual: Sequence[warnings.WarningMessage], expected: Sequence[warnings.WarningMessage]
) -> None:
    """What the user is told must match: UserWarnings from both or neither, in roughly the same number
    (±10 %, at least ±1); other kinds from backtestkit only where the oracle emits them too.

    Deprecation warnings are ignored from the oracle (pandas 3 complaining about its internals) and
    not allowed from backtestkit.
    """
    ours, theirs = warning_kinds(actual), warning_kinds(expected)
    for kind in DEPRECATIONS:
        theirs.pop(kind, None)
    told = [f"{message.category.__name__}: {str(message.message)[:100]}" for message in actual]
    oracle_told = [f"{message.category.__name__}: {str(message.message)[:100]}" for message in expected]
    assert set(ours) - {UserWarning} <= set(theirs), f"backtestkit emitted {dict(ours)}: {told[:3]}"
    n_ours, n_theirs = ours[UserWarning], theirs[UserWarning]
    assert (n_ours == 0) == (n_theirs == 0) and abs(n_ours - n_theirs) <= max(1, n_theirs // 10), (
        f"backtestkit emitted {n_ours} UserWarnings, the oracle {n_theirs}:\n"
        f" ours:   {told[:3]}\n oracle: {oracle_told[:3]}"
    )
