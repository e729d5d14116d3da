"""Walk-forward: per window, search the training bars, pick parameters, run them on the test bars that
follow; the test runs, stitched, are one out-of-sample run with the stats of ``Backtest.run``."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest
from backtestkit._errors import param_error
from backtestkit._stats import stats_series
from backtestkit.validation._common import (
    Select,
    check_backtest,
    check_options,
    check_select,
    run_quietly,
    score,
    scorer,
    search,
    selected,
)

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize import Study

#: A window's length: a bar count, or a pandas offset or Timedelta ('365D', '4W').
Length = int | str | pd.Timedelta | pd.DateOffset
_ANNUAL = "Return (Ann.) [%]"


class WalkForwardWindow(NamedTuple):
    """One walk-forward window, as positions: training bars ``train_start:train_stop``, test bars
    ``test_start:test_stop`` (``train_stop == test_start``: the search never sees a test bar)."""

    train_start: int
    train_stop: int
    test_start: int
    test_stop: int


class WalkForwardInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a walk-forward. ``result`` is the :class:`WalkForwardResult` of the windows that
    finished (None if none did); ``study`` the interrupted window's trials so far (or None); the message
    says how to go on."""

    __module__ = "backtestkit.validation"

    def __init__(self, message: str, result: WalkForwardResult | None, study: Study | None) -> None:
        super().__init__(message)
        self.result, self.study = result, study


class WalkForwardResult:
    """What :func:`walk_forward` found.

    Attributes:
        stats: the stitched out-of-sample run's stats, with the keys of ``Backtest.run`` (its
            ``_equity_curve`` and ``_trades`` cover every test window, bars counted from the first;
            ``_strategy`` is the last window's).
        windows: one row per window: its training and test dates, the chosen parameters, the in- and
            out-of-sample objective and annualised return, and the out-of-sample trades.
        efficiency: walk-forward efficiency, the stitched run's annualised return over the mean of the
            windows' in-sample annualised returns (NaN if that is 0 or NaN).
        studies: each window's search.
        params: each window's chosen parameters.
        objective: the objective's name.
    """

    def __init__(self, *, stats: pd.Series, windows: pd.DataFrame, studies: list[Study],
                 params: list[dict[str, Any]], objective: str, param_names: list[str],
                 ohlc: pd.DataFrame) -> None:
        self.stats, self.windows, self.studies, self.params = stats, windows, studies, params
        self.objective, self.param_names, self._ohlc = objective, param_names, ohlc
        in_sample = windows[f"IS {_ANNUAL}"].to_numpy(float).mean() if len(windows) else math.nan
        self.efficiency = float(stats[_ANNUAL] / in_sample) if in_sample else math.nan

    def __repr__(self) -> str:
        return (f"<WalkForwardResult: {len(self.windows)} windows, out-of-sample return "
                f"{self.stats['Return [%]']:.4g}%, efficiency {self.efficiency:.3g}>")

    @property
    def equity(self) -> pd.Series:
        """The stitched out-of-sample equity curve."""
        return self.stats["_equity_curve"]["Equity"]

    def chart(self, **kwargs: Any) -> Any:
        """The stitched run as ``Backtest.plot`` draws a run (a Bokeh layout; ``kwargs`` are its options)."""
        from backtestkit.plotting._chart import backtest_layout

        return backtest_layout(ohlc=self._ohlc, stats=self.stats, indicators=[], **kwargs)

    def plot(self, *, filename: str | os.PathLike[str] | None = None, open_browser: bool = True,
             **kwargs: Any) -> Any:
        """Draw the stitched out-of-sample run as ``Backtest.plot`` does (its chart options in
        ``kwargs``), to ``filename`` (by default ``walk_forward.html``) or inline in a notebook;
        returns the layout."""
        from backtestkit.plotting._output import show_or_write

        layout = self.chart(**kwargs)
        show_or_write(layout, filename, title="Walk-forward", strategy="walk_forward",
                      open_browser=open_browser)
        return layout

    def plot_drift(self, *, filename: str | os.PathLike[str] | None = None, open_browser: bool = True) -> Any:
        """Draw each parameter's chosen value window by window; returns the layout."""
        from backtestkit.plotting._output import show_or_write
        from backtestkit.plotting._walkforward import parameter_drift

        layout = parameter_drift(self.windows, self.param_names)
        show_or_write(layout, filename, title="Parameter drift", strategy="walk_forward_drift",
                      open_browser=open_browser)
        return layout

    def report_section(self) -> Any:
        """The result as a section of a report (a Bokeh layout), for ``Study.write_report(sections=...)``."""
        from backtestkit.plotting._walkforward import walk_forward_section

        return walk_forward_section(windows=self.windows, param_names=self.param_names,
                                    objective=self.objective, efficiency=self.efficiency, stats=self.stats,
                                    chart=self.chart())

    def write_report(self, path: str | os.PathLike[str]) -> Any:
        """Write the result as a page of its own; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(path, title="Walk-forward", sections=[self.report_section()])


def walk_forward(bt: Backtest, *, train: Length, test: Length, anchored: bool = False,
                 select: Select = "best", **options: Any) -> WalkForwardResult:
    """Walk-forward optimisation: search each training window, run the pick on the test window after it.

    ``train`` and ``test`` are lengths in bars or pandas offsets (``'365D'``, ``'13W'``; with a
    DatetimeIndex). The first test window starts after ``train``; each next one where the previous
    ended, so the test windows tile the rest of the data without overlap (the last may be shorter).
    Each training window ends where its test window starts (``anchored=True``: it starts at the first
    bar, else it is ``train`` long). ``options`` go to :meth:`Backtest.optimize` on each training window
    (the candidates, ``maximize``, ``method``, ``n_jobs``, ``study``, ...); ``select`` picks the parameters:
    ``'best'`` or a callable ``select(study) -> dict``. The test runs are chained: each starts with the
    equity the previous ended with, and is a :meth:`Backtest.window` (indicators warm, trades closed at
    its end).

    With ``study='wf.db'`` each window's search is kept as ``'<study_name>[window k]'``: the same call
    run again after an interruption answers the finished searches from the file. Ctrl-C raises
    :class:`WalkForwardInterrupted`, with the finished windows' result.

    Returns a :class:`WalkForwardResult`. Raises ValueError or TypeError, naming the argument, before
    any run.

    >>> from backtestkit import Backtest, Strategy
    >>> from backtestkit.datasets import load_daily
    >>> from backtestkit.test import SMA
    >>> class Trend(Strategy):
    ...     n = 20
    ...     def init(self):
    ...         self.sma = self.I(SMA, self.data.Close, self.n)
    ...     def next(self):
    ...         if self.data.Close[-1] > self.sma[-1] and not self.position:
    ...             self.buy()
    ...         elif self.data.Close[-1] < self.sma[-1] and self.position:
    ...             self.position.close()
    >>> result = walk_forward(Backtest(load_daily(), Trend), train=500, test=250, n=[10, 50],
    ...                       maximize='Return [%]', n_jobs=1, show_progress=False)
    >>> len(result.windows), result.stats['Start'] == load_daily().index[500]
    (8, True)
    """
    owner = "walk_forward"
    bt, select = check_backtest(owner, bt), check_select(owner, select)
    if not isinstance(anchored, (bool, np.bool_)):
        raise param_error(owner, "anchored", "True or False", anchored, exc=TypeError)
    check_options(owner, options)
    windows = _windows(bt._data.index, train, test, anchored=bool(anchored), owner=owner)
    name, objective, _ = scorer(options)
    show = options.get("show_progress")
    if show is None:
        from backtestkit.optimize._runner import is_interactive

        show = is_interactive()
    return _walk(bt, windows, select, options, name, objective, bool(show))


def _walk(bt: Backtest, windows: list[WalkForwardWindow], select: Select, options: Mapping[str, Any],
          name: str, objective: Any, show: bool) -> WalkForwardResult:
    from tqdm.std import tqdm

    owner, cash = "walk_forward", bt._engine.cash
    storage = options.get("study")
    base = options.get("study_name") or bt._strategy.__name__
    done: list[tuple[WalkForwardWindow, Study, dict[str, Any], pd.Series, pd.Series]] = []
    bar = tqdm(total=len(windows), desc=owner, unit="window", file=sys.stderr, disable=not show, leave=False)
    study = None
    try:
        for k, window in enumerate(windows, 1):
            study = None
            search_options = {**options, "study_name": f"{base}[window {k}]"} if storage else options
            study = search(bt.window(window.train_start, window.train_stop), search_options)
            params = selected(study, select, owner)
            in_sample = run_quietly(bt.window(window.train_start, window.train_stop), params)
            cash = cash if not done else done[-1][4]["Equity Final [$]"]
            done.append((window, study, params, in_sample, _test_run(bt, window, params, cash)))
            bar.update()
    except KeyboardInterrupt:
        partial = _result(bt, done, name, objective) if done else None
        raise WalkForwardInterrupted(_interrupted(len(done), len(windows), storage), partial,
                                     getattr(sys.exc_info()[1], "study", study)) from None
    finally:
        bar.close()
    return _result(bt, done, name, objective)


def _test_run(bt: Backtest, window: WalkForwardWindow, params: dict[str, Any], cash: float) -> pd.Series:
    """The chosen parameters on the test bars, starting with ``cash`` (the previous window's end; at 0,
    after a ruin, nothing can be bought and the equity stays 0)."""
    test = bt.window(window.test_start, window.test_stop)
    test._engine.cash = max(float(cash), 0.0)
    return run_quietly(test, params)


def _interrupted(n_done: int, n_windows: int, storage: Any) -> str:
    how = ("run the same call again: the finished searches are answered from that file" if storage else
           "pass study='walk_forward.db' to keep each window's search on disk, and run the call again to "
           "resume from there")
    return (f"walk_forward was interrupted after {n_done} of {n_windows} windows. Their result is in this "
            f"exception's .result (except WalkForwardInterrupted as e: e.result), the interrupted search's "
            f"trials in .study. To go on, {how}.")


def _result(bt: Backtest, done: list, name: str, objective: Any) -> WalkForwardResult:
    """Stitch the test runs into one run and tabulate the windows."""
    first, last = done[0][0].test_start, done[-1][0].test_stop
    equity = np.concatenate([test["_equity_curve"]["Equity"].to_numpy(float) for *_, test in done])
    trades = []
    for window, *_, test in done:
        frame = test["_trades"].copy()
        frame["EntryBar"] += window.test_start - first
        frame["ExitBar"] += window.test_start - first
        trades.append(frame)
    traded = [frame for frame in trades if len(frame)]  # (pandas warns of empty frames in a concat)
    trades_frame = pd.concat(traded, ignore_index=True) if traded else trades[0]
    bars = bt._data.iloc[first:last]
    stats = stats_series(trades_frame, equity, bars, done[-1][4]["_strategy"], 0.0, True, warmup=0)
    index = bt._data.index
    rows = []
    for window, _, params, in_sample, test in done:
        rows.append({
            "train start": index[window.train_start], "train end": index[window.train_stop - 1],
            "test start": index[window.test_start], "test end": index[window.test_stop - 1],
            **params,
            f"IS {name}": score(in_sample, objective), f"OOS {name}": score(test, objective),
            f"IS {_ANNUAL}": in_sample[_ANNUAL], f"OOS {_ANNUAL}": test[_ANNUAL],
            "OOS # Trades": test["# Trades"],
        })
    param_names = list(done[0][1].param_names)
    return WalkForwardResult(stats=stats, windows=pd.DataFrame(rows), studies=[d[1] for d in done],
                             params=[d[2] for d in done], objective=name, param_names=param_names,
                             ohlc=bt._plot_ohlc().iloc[first:last])


def walk_forward_windows(index: pd.Index, train: Length, test: Length, *,
                         anchored: bool = False) -> list[WalkForwardWindow]:
    """The windows :func:`walk_forward` runs on bars with this ``index``, as positions.

    >>> for window in walk_forward_windows(pd.RangeIndex(10), 4, 3):
    ...     print(tuple(window))
    (0, 4, 4, 7)
    (3, 7, 7, 10)
    """
    return _windows(index, train, test, anchored=anchored, owner="walk_forward_windows")


def _windows(index: pd.Index, train: Length, test: Length, *, anchored: bool,
             owner: str) -> list[WalkForwardWindow]:
    n = len(index)
    train_bars, train_offset = _length(owner, "train", train, index, minimum=2)
    test_bars, test_offset = _length(owner, "test", test, index, minimum=1)
    first = train_bars if train_offset is None else int(index.searchsorted(index[0] + train_offset))
    if test_offset is None:
        starts = list(range(first, n, test_bars))
    else:
        times, starts = index[first] if first < n else None, []
        while times is not None and (position := int(index.searchsorted(times))) < n:
            if not starts or position > starts[-1]:
                starts.append(position)
            times = times + test_offset
    if not starts:
        raise ValueError(f"{owner} has no test window: train={train!r} leaves no bar of the {n} to test on.")
    windows = []
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        if anchored:
            train_start = 0
        elif train_offset is None:
            train_start = start - train_bars
        else:
            train_start = int(index.searchsorted(index[start] - train_offset))
        if start - train_start < 2:
            raise ValueError(f"{owner}'s training window before bar {start} ({index[start]}) holds "
                             f"{start - train_start} bar(s); it needs at least 2. "
                             f"Use a longer train={train!r}.")
        windows.append(WalkForwardWindow(train_start, start, start, stop))
    return windows


def _length(owner: str, name: str, value: Any, index: pd.Index, *, minimum: int) -> tuple[int, Any]:
    """A length as ``(bars, None)`` or ``(0, offset)``."""
    expected = f"a bar count >= {minimum} or a pandas offset such as '365D'"
    if isinstance(value, (bool, np.bool_)):
        raise param_error(owner, name, expected, value, exc=TypeError)
    if isinstance(value, (int, np.integer)):
        if value < minimum:
            raise param_error(owner, name, expected, value)
        return int(value), None
    if isinstance(value, (str, pd.Timedelta, pd.DateOffset)):
        try:
            offset = pd.tseries.frequencies.to_offset(value)
        except (ValueError, TypeError):
            raise param_error(owner, name, expected, value) from None
        if not isinstance(index, pd.DatetimeIndex):
            raise param_error(owner, name, "a bar count (the data has no DatetimeIndex for an offset)", value,
                              exc=TypeError)
        if index[0] + offset <= index[0]:
            raise param_error(owner, name, "a positive length", value)
        return 0, offset
    raise param_error(owner, name, expected, value, exc=TypeError)
