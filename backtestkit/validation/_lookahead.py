"""The lookahead-bias check: does an indicator's past change when the future is cut off?

An indicator computed honestly from bars up to ``t`` has the same value at ``t`` whether or not bars
after ``t`` exist. ``check_lookahead`` runs the strategy's ``init()`` on the whole data and on copies
cut short at a few bars, and compares every indicator on the bars both runs have: a ``.shift(-1)``, a
centred rolling window or a normalisation over the whole series shows up as a value that changed.
Only ``init()`` runs: no bar loop, no broker work, so the check costs a few ``init()`` calls.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest, strategy_parameters
from backtestkit._engine import Engine
from backtestkit._errors import param_error, unknown_name_error
from backtestkit.validation._common import check_backtest

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit._data import _Array

OWNER = "check_lookahead"
#: Two values are the same when they differ by less than this, relative (floating-point noise of an
#: indicator computed on a different length, e.g. a cumulative sum, is far below it).
RTOL = 1e-9
COLUMNS = ["Indicator", "First bar", "First time", "Bars kept", "Full data", "Cut data", "Cuts differing"]


class LookaheadResult:
    """What :func:`check_lookahead` found: ``ok`` (no indicator looks ahead) and ``table``, a row per
    indicator whose past changed when future bars were removed.

    ``table`` columns: ``Indicator`` (its ``self.I`` name; ``name[k]`` for line ``k`` of a multi-line
    one), ``First bar`` (the earliest bar, by position, whose value changed), ``First time`` (that bar's
    index label), ``Bars kept`` (the length of the cut data that showed it), ``Full data`` and ``Cut
    data`` (the two values there) and ``Cuts differing`` (at how many of the cuts it changed).
    ``cuts`` lists the lengths the data was cut to.
    """

    def __init__(self, table: pd.DataFrame, cuts: list[int], strategy: str, n_indicators: int) -> None:
        self.table, self.cuts, self.strategy, self.n_indicators = table, cuts, strategy, n_indicators

    @property
    def ok(self) -> bool:
        """True when no indicator's past values changed on any cut."""
        return self.table.empty

    def __bool__(self) -> bool:
        return self.ok

    def report_section(self) -> Any:
        """A Bokeh section for a report (``Study.write_report(sections=[...])``): the verdict, and the
        table of the indicators that look ahead when there are any."""
        from html import escape

        from bokeh.layouts import column

        from backtestkit.plotting._page import data_table, div, stylesheet

        style = stylesheet()
        lines = str(self).splitlines()
        text = f"<h2>Lookahead check</h2><p class='note'>{escape(lines[0])}</p><p>{escape(lines[1])}</p>"
        if self.ok:
            return column(div(style, text))
        return column(div(style, text), data_table(self.table, max_rows=len(self.table)))

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else f"{len(self.table)} looking ahead"
        count = f"{self.n_indicators} indicator{'s' * (self.n_indicators != 1)}"
        return f"<LookaheadResult {self.strategy}: {count}, {verdict}>"

    def __str__(self) -> str:
        cuts = ", ".join(f"{cut:,}" for cut in self.cuts)
        count = f"{self.n_indicators} indicator{'s' * (self.n_indicators != 1)}"
        head = f"Lookahead check of {self.strategy}: {count}, data cut to {cuts} bars."
        if self.ok:
            return f"{head}\nNo indicator changed its past values: no lookahead found."
        lines = [head, f"{len(self.table)} indicator(s) changed past values when future bars were removed:"]
        for row in self.table.itertuples(index=False):
            lines.append(f"  {row[0]}: first differs at bar {row[1]:,} ({row[2]}) with {row[3]:,} bars kept: "
                         f"{row[4]!r} on the full data, {row[5]!r} on the cut data ({row[6]} of "
                         f"{len(self.cuts)} cuts)")
        return "\n".join(lines)


def check_lookahead(bt: Backtest, cuts: int = 5, **params: Any) -> LookaheadResult:
    """Report every indicator whose past values change when future bars are removed from the data.

    Runs the strategy's ``init()`` (only ``init()``: no bar is traded) on the whole data of ``bt``
    and on ``cuts`` copies cut short, at lengths spread from half the data to all but its last bar,
    and compares each indicator (by its ``self.I`` name and order) on the bars both have.

    Parameters:
        bt: The Backtest whose data and strategy to check.
        cuts: How many cut copies to try (an int >= 1).
        **params: Strategy parameters to check with (the class's own values otherwise).

    Returns:
        A :class:`LookaheadResult`: ``ok``, and ``table`` with a row per indicator that looks ahead,
        naming the first bar that differs.

    Raises:
        TypeError, ValueError: For a bad argument or an unknown strategy parameter, before any ``init()``.

    Example:
        >>> import pandas as pd
        >>> from backtestkit import Backtest, Strategy
        >>> from backtestkit.datasets import load_daily
        >>> class Peeks(Strategy):
        ...     def init(self):
        ...         close = pd.Series(self.data.Close)
        ...         self.sma = self.I(lambda c: c.rolling(10).mean(), close, name="SMA")
        ...         self.tomorrow = self.I(lambda c: c.shift(-1), close, name="Tomorrow")
        >>> result = check_lookahead(Backtest(load_daily(), Peeks))
        >>> result.ok, list(result.table["Indicator"]), int(result.table["First bar"].iloc[0])
        (False, ['Tomorrow'], 1249)
    """
    engine = check_backtest(OWNER, bt)._engine
    n_cuts = _check_cuts(cuts)
    known = strategy_parameters(engine.strategy)
    for name in params:
        if name not in known:
            raise unknown_name_error("parameter", name, known, OWNER, also=["cuts"])
    n = len(engine.data)
    if n < 4:
        raise param_error(OWNER, "bt", "a Backtest on at least 4 bars", bt)
    lengths = sorted({int(round(x)) for x in np.linspace(n / 2, n - 1, n_cuts)})
    full = _indicators(engine, engine.data, params, None)
    found: dict[int, list[Any]] = {}  # line -> its row; the earliest differing bar wins
    for length in lengths:
        cut = _indicators(engine, engine.data.iloc[:length], params, length)
        if [name for name, _ in cut] != [name for name, _ in full]:
            raise ValueError(
                f"{engine.strategy.__name__}.init() declared different indicators on the first {length:,} "
                f"bars ({[name for name, _ in cut]}) than on the whole data ({[name for name, _ in full]}). "
                f"check_lookahead compares them by name and order, so init() must declare the same ones.")
        for line, ((name, whole), (_, part)) in enumerate(zip(full, cut, strict=True)):
            bar = _first_difference(whole[:length], part)
            if bar is None:
                continue
            row = found.get(line)
            if row is None or bar < row[1]:
                found[line] = [name, bar, engine.data.index[bar], length, _plain(whole[bar]),
                               _plain(part[bar]), 0 if row is None else row[6]]
            found[line][6] += 1
    table = pd.DataFrame([found[line] for line in sorted(found)], columns=COLUMNS)
    table["Cuts differing"] = table["Cuts differing"].astype(int)
    strategy = engine.strategy.__name__
    if params:
        strategy += "(" + ",".join(f"{k}={v!r}" for k, v in params.items()) + ")"
    return LookaheadResult(table, lengths, strategy, len(full))


def _check_cuts(cuts: Any) -> int:
    if not isinstance(cuts, numbers.Integral) or isinstance(cuts, bool):
        raise param_error(OWNER, "cuts", "an int >= 1", cuts, exc=TypeError)
    if cuts < 1:
        raise param_error(OWNER, "cuts", "an int >= 1", cuts)
    return int(cuts)


def _indicators(engine: Engine, frame: pd.DataFrame, params: dict[str, Any],
                length: int | None) -> list[tuple[str, np.ndarray]]:
    """Every indicator line ``init()`` declares on ``frame``: (name, values as a 1-D array)."""
    try:
        strategy = engine.on(frame).initialised(params)[2]
    except Exception as exc:
        if length is not None and hasattr(exc, "add_note"):
            exc.add_note(f"(raised by {engine.strategy.__name__}.init() on the data's first {length:,} bars, "
                         f"in check_lookahead)")
        raise
    lines = []
    for array in strategy._indicators:
        lines.extend(_lines(array))
    return lines


def _lines(array: _Array) -> list[tuple[str, np.ndarray]]:
    values = np.asarray(array)
    name = array.name
    if values.ndim == 1:
        return [(str(name), values)]
    names = name if isinstance(name, list) else [f"{name}[{k}]" for k in range(len(values))]
    return [(str(label), row) for label, row in zip(names, values, strict=True)]


def _first_difference(whole: np.ndarray, part: np.ndarray) -> int | None:
    """The first position where two equally long arrays differ (NaN equals NaN), or None."""
    if whole.dtype.kind in "fiub" and part.dtype.kind in "fiub":
        same = np.isclose(whole.astype(float), part.astype(float), rtol=RTOL, atol=0.0, equal_nan=True)
    else:
        same = np.array([x == y or (x != x and y != y) for x, y in zip(whole, part, strict=True)], dtype=bool)
    differ = np.flatnonzero(~same)
    return int(differ[0]) if differ.size else None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
