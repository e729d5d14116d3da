"""Holdout: search on the first part of the data, then run the best candidates on the part after it."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest
from backtestkit._errors import param_error
from backtestkit.validation._common import (
    KEY_STATS,
    Select,
    bars_from,
    check_backtest,
    check_options,
    check_select,
    period,
    run_quietly,
    score,
    scorer,
    search,
    selected,
)

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize import Study


class HoldoutResult:
    """What :func:`holdout` found: the top candidates of the search in and out of sample.

    Attributes:
        table: one row per candidate, best in sample first: its parameters, ``selected`` (the set
            ``select`` picked), then ``IS <key>`` and ``OOS <key>`` side by side for the objective and
            the key stats (return, Sharpe, drawdown, trades, win rate).
        rank_correlation: Spearman's rank correlation between the in-sample and the out-of-sample
            objective of the candidates (NaN with fewer than 3 candidates that score both).
        study: the search on the training bars (every trial).
        params: the selected parameters.
        test_stats: the selected parameters' run on the test bars (as ``Backtest.run`` returns it).
        final_stats: their run on the final holdout, or None without one.
        periods: the training, test (and final) bars, as text.
        objective: the objective's name.
    """

    def __init__(self, *, table: pd.DataFrame, rank_correlation: float, study: Study,
                 params: dict[str, Any], test_stats: pd.Series, final_stats: pd.Series | None,
                 periods: dict[str, str], objective: str) -> None:
        self.table, self.rank_correlation, self.study, self.params = table, rank_correlation, study, params
        self.test_stats, self.final_stats = test_stats, final_stats
        self.periods, self.objective = periods, objective

    def __repr__(self) -> str:
        return (f"<HoldoutResult: {len(self.table)} candidates, rank correlation "
                f"{self.rank_correlation:.3g}, selected {self.params}>")

    def report_section(self) -> Any:
        """The result as a section of a report (a Bokeh layout), for ``Study.write_report(sections=...)``."""
        from backtestkit.plotting._walkforward import holdout_section

        return holdout_section(table=self.table, objective=self.objective,
                               rank_correlation=self.rank_correlation, params=self.params,
                               periods=self.periods, final_stats=self.final_stats)

    def plot(self, *, filename: str | os.PathLike[str] | None = None, open_browser: bool = True) -> Any:
        """Draw in-sample against out-of-sample objective of every candidate (and the table) to an HTML
        file (``filename``, by default ``holdout.html``) or inline in a notebook; returns the layout."""
        from backtestkit.plotting._output import show_or_write

        layout = self.report_section()
        show_or_write(layout, filename, title="Holdout", strategy="holdout", open_browser=open_browser)
        return layout

    def write_report(self, path: str | os.PathLike[str]) -> Any:
        """Write the result as a page of its own; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(path, title="Holdout", sections=[self.report_section()])


def holdout(bt: Backtest, *, train: float | int | str = 0.7, final: float | int | str | None = None,
            top: int = 10, select: Select = "best", **options: Any) -> HoldoutResult:
    """Search on the first part of the bars, then run the ``top`` candidates on the bars after it.

    ``train`` is the training part: a fraction of the bars (before the final holdout), a bar count, or
    the timestamp or date string of its last bar. ``final``, if given, is an untouched final holdout at
    the end of the data (a fraction of all bars, a bar count, or the timestamp of its first bar): only the
    selected parameters are run on it, and nothing is chosen by it. ``select`` picks the parameters:
    ``'best'`` (the study's best) or a callable ``select(study) -> dict``. ``options`` go to
    :meth:`Backtest.optimize` on the training bars (the parameter candidates, ``maximize``, ``method``,
    ``n_jobs``, ...). Each part is a :meth:`Backtest.window`: indicators are warm on its first bar, and
    trades open at its end are closed there.

    Returns a :class:`HoldoutResult`. Raises ValueError or TypeError, naming the argument, before any
    run.

    >>> from backtestkit import Backtest, Strategy
    >>> from backtestkit.datasets import load_daily
    >>> from backtestkit.lib import crossover
    >>> from backtestkit.test import SMA
    >>> class SmaCross(Strategy):
    ...     n1, n2 = 10, 30
    ...     def init(self):
    ...         self.a, self.b = self.I(SMA, self.data.Close, self.n1), self.I(SMA, self.data.Close, self.n2)
    ...     def next(self):
    ...         if crossover(self.a, self.b):
    ...             self.position.close(); self.buy()
    ...         elif crossover(self.b, self.a):
    ...             self.position.close(); self.sell()
    >>> result = holdout(Backtest(load_daily(), SmaCross), n1=[10, 20], n2=[40, 60], top=3, n_jobs=1,
    ...                  show_progress=False)
    >>> list(result.table.columns[:5])
    ['n1', 'n2', 'selected', 'IS SQN', 'OOS SQN']
    """
    owner = "holdout"
    bt, select = check_backtest(owner, bt), check_select(owner, select)
    if isinstance(top, (bool, np.bool_)) or not isinstance(top, (int, np.integer)):
        raise param_error(owner, "top", "an int >= 1", top, exc=TypeError)
    if top < 1:
        raise param_error(owner, "top", "an int >= 1", top)
    check_options(owner, options)
    index = bt._data.index
    n = len(index)
    stop = n if final is None else bars_from(owner, "final", final, index, fraction_of=n, from_end=True)
    n_train = bars_from(owner, "train", train, index, fraction_of=stop)
    if not 2 <= n_train <= stop - 2:
        raise ValueError(f"holdout needs at least 2 bars to train on and 2 to test on: train={train!r} and "
                         f"final={final!r} leave {n_train} and {stop - n_train} of {n} bars.")
    name, objective, maximizing = scorer(options)
    study = search(bt.window(0, n_train), options)
    params = selected(study, select, owner)
    test_bt = bt.window(n_train, stop)
    table, test_stats = _table(study, params, test_bt, objective, top, name)
    final_stats = run_quietly(bt.window(stop), params) if stop < n else None
    periods = {"train": period(index, 0, n_train), "test": period(index, n_train, stop)}
    if stop < n:
        periods["final"] = period(index, stop, n)
    return HoldoutResult(table=table, rank_correlation=rank_correlation(table[f"IS {name}"],
                                                                        table[f"OOS {name}"]),
                         study=study, params=params, test_stats=test_stats, final_stats=final_stats,
                         periods=periods, objective=name)


def _table(study: Study, params: dict[str, Any], test_bt: Backtest, objective: Any, top: int,
           name: str) -> tuple[pd.DataFrame, pd.Series]:
    """The candidates' rows (the selected set added if not among them), and the selected set's test run."""
    best = study.top(top)
    candidates = [{p: row[p] for p in study.param_names} for _, row in best.iterrows()]
    in_sample = [{name: row["value"], **{k: row.get(k, math.nan) for k in KEY_STATS}}
                 for _, row in best.iterrows()]
    if params not in candidates:
        candidates.append(params)
        in_sample.append(_in_sample(study, params, name))
    rows, chosen = [], None
    for candidate, is_values in zip(candidates, in_sample, strict=True):
        stats = run_quietly(test_bt, candidate)
        if candidate == params:
            chosen = stats
        row = {**candidate, "selected": candidate == params}
        oos = {name: score(stats, objective), **{k: stats.get(k, math.nan) for k in KEY_STATS}}
        for key in dict.fromkeys((name, *KEY_STATS)):
            row[f"IS {key}"], row[f"OOS {key}"] = is_values[key], oos[key]
        rows.append(row)
    return pd.DataFrame(rows), chosen  # type: ignore[return-value]


def _in_sample(study: Study, params: dict[str, Any], name: str) -> dict[str, Any]:
    """The in-sample values of a selected set that is not among the top rows (NaN if it was not run)."""
    frame = study.trials_dataframe()
    match = np.ones(len(frame), dtype=bool)
    for p in study.param_names:
        match &= (frame[p] == params.get(p)).to_numpy()
    if not match.any():
        return dict.fromkeys((name, *KEY_STATS), math.nan)
    row = frame[match].iloc[-1]
    return {name: row["value"], **{k: row.get(k, math.nan) for k in KEY_STATS}}


def rank_correlation(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation of the pairs where both are numbers; NaN with fewer than 3 pairs or
    a constant side.

    >>> rank_correlation(pd.Series([1.0, 2, 3, 4]), pd.Series([10.0, 30, 20, 40]))
    0.8
    """
    both = pd.concat([x.astype(float), y.astype(float)], axis=1).dropna()
    if len(both) < 3:
        return math.nan
    ranks = both.rank().to_numpy()
    if np.ptp(ranks[:, 0]) == 0 or np.ptp(ranks[:, 1]) == 0:
        return math.nan
    return float(np.corrcoef(ranks[:, 0], ranks[:, 1])[0, 1])
