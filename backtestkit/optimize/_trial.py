"""Trials and the Study that keeps them: every evaluated combination, its state, value and stats.

A :class:`Study` stores its trials column by column (a 100k-trial study is a few arrays, not 100k
objects): the keys (see :mod:`~backtestkit.optimize._keys`), states, values, durations and stats
rows. A search's study keeps no parameters: they are its keys decoded, when read. :class:`Trial`
objects are made when asked for. Trials are immutable once recorded. The best trial is chosen by
:func:`best_position`, the one rule every search and report uses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import did_you_mean, param_error, unknown_name_error
from backtestkit._params import param_string
from backtestkit.optimize._columns import Column
from backtestkit.optimize._keys import Key, Keys
from backtestkit.optimize._pareto import pareto_front, signed

#: A trial's state. ``ok``: it ran and its value is the objective's (a NaN there is the objective's
#: own); ``no_trades``: it ran and made no trade, so its value is NaN and it ranks last, as in
#: backtesting.py; ``infeasible``: it ran but its stats break a result constraint; ``failed``: the
#: strategy or the objective raised (the error text is kept) and a resumed study runs it again.
STATES = ("ok", "no_trades", "infeasible", "failed")


@dataclass(frozen=True)
class Trial:
    """One evaluated parameter combination.

    Attributes:
        number: its place in the study, in the order trials finished (0 first).
        params: parameter name -> value.
        state: one of :data:`STATES`.
        value: the objective's value, in its own direction (NaN unless ``state == 'ok'``).
        metrics: the stats keys the study keeps (``metric_names``: by default every numeric one) of
            the run (empty for a plain function objective).
        duration: seconds the run took in its worker.
        error: the exception's text, for a failed trial; the broken constraint, for an infeasible one.
    """

    number: int
    params: dict[str, Any]
    state: str
    value: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None

    @property
    def param_string(self) -> str:
        """The parameters as one pasteable line, ``'n1=10,n2=30'`` (see ``backtestkit.param_string``);
        ``bt.run(**backtestkit.parse_params(text))`` runs them again."""
        return param_string(self.params)


@dataclass(frozen=True)
class Outcome:
    """What a worker returns for one combination: the trial without its number and parameters."""

    state: str
    value: float
    metrics: np.ndarray | None
    duration: float
    error: str | None = None


def best_position(values: np.ndarray, keys: Sequence[Key], *, maximize: bool = True) -> int | None:
    """The position of the best value: the highest (lowest if not ``maximize``), NaN ranking last and
    ties going to the smallest key; None when every value is NaN (or there is none).

    >>> best_position(np.array([1.0, 3.0, np.nan, 3.0]), [(3,), (2,), (0,), (1,)])
    3
    >>> best_position(np.array([np.nan]), [(0,)]) is None
    True
    """
    scores = np.asarray(values, dtype=float) * (1 if maximize else -1)
    finite = ~np.isnan(scores)
    if not finite.any():
        return None
    top = np.flatnonzero(finite & (scores == np.nanmax(scores)))
    return int(min(top, key=lambda i: keys[i]))


#: The size the rows of stats of a study's trials are gathered into: a chunk per batch of a hundred
#: trials would cost an array's header per batch.
_CHUNK_BYTES = 1 << 16
_BLOCK = 1024  # trials whose parameters are decoded at a time, to read a column of them
_STATE_CODES = {state: code for code, state in enumerate(STATES)}


class _StateColumn:
    """Each trial's state, kept as a byte (its place in :data:`STATES`), read as its name."""

    def __init__(self) -> None:
        self._codes = Column("b")

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, number: int) -> str:
        return STATES[self._codes[number]]

    def extend(self, states: Sequence[str]) -> None:
        try:
            self._codes.extend([_STATE_CODES[state] for state in states])
        except KeyError as exc:
            raise ValueError(f"Study: a trial's state must be one of {list(STATES)}. Got {exc.args[0]!r}.") \
                from None

    def categorical(self) -> pd.Categorical:
        return pd.Categorical.from_codes(self._codes.to_numpy(), categories=STATES)


def _typed(values: list[Any]) -> Sequence[Any]:
    """``values`` as a numpy array when they are all Python ints or all floats, else the list."""
    kinds = set(map(type, values))
    if kinds in ({int}, {float}):
        typed = np.array(values)
        if typed.dtype == (np.int64 if kinds == {int} else np.float64):  # not ints beyond int64
            return typed
    return values


def _joined(columns: list[list[Sequence[Any]]], j: int) -> Sequence[Any]:
    """Column ``j``'s blocks of :func:`_typed` values as one: an array when they are arrays of one dtype,
    else a list. The blocks are let go of at once (a column of a big study is several MB)."""
    blocks, columns[j] = columns[j], []
    if all(isinstance(block, np.ndarray) for block in blocks) and len({b.dtype for b in blocks}) <= 1:
        return np.concatenate(blocks) if blocks else []
    return [value for block in blocks
            for value in (block.tolist() if isinstance(block, np.ndarray) else block)]


class Study:
    """Every trial of one parameter search, with the search's description.

    Get one from ``Backtest.optimize(..., return_study=True)`` or :func:`load_study`. Its trials are a
    DataFrame with :meth:`trials_dataframe`; :meth:`top` ranks them, :attr:`best_trial` is the best,
    :meth:`heatmap` gives the objective (or any stats column) per combination, as
    ``optimize(return_heatmap=True)`` does.

    Attributes:
        name: the study's name in its store ('' when not stored).
        objective: the objective's name (a stats key, a function's name, or 'objective').
        maximize: whether higher values are better.
        param_names: the parameters searched, in the order given.
        metric_names: the stats keys each trial keeps.
        info: what the search was (strategy, data, settings, space, method, seed, version, times;
            ``objectives`` for a search of several).
        storage: the SQLite file the study is saved in, or None.

    A search of several objectives (``optimize(maximize=[...], minimize=[...])``) records them in
    :attr:`objectives`; each trial's ``value`` is the first one's and the others are its stats
    columns. :meth:`pareto_front` gives the non-dominated trials and :attr:`best_trial` is the
    front's best in the first objective.
    """

    def __init__(self, *, param_names: Sequence[str], objective: str = "objective", maximize: bool = True,
                 metric_names: Sequence[str] = (), name: str = "", info: Mapping[str, Any] | None = None,
                 decode: Any = None, decode_columns: Any = None, storage: str | None = None) -> None:
        self.name, self.objective, self.maximize = name, objective, maximize
        self.param_names, self.metric_names = list(param_names), list(metric_names)
        self.info: dict[str, Any] = dict(info or {})
        self.storage = storage
        self._decode = decode  # key -> params: a search's trials' params are their keys decoded
        self._decode_columns = decode_columns  # the same a column of key elements at a time, if given
        self._keys = Keys(len(self.param_names))  # each trial's key, and each key's latest trial
        # without a decode (a study loaded to read), the params as given: a column each
        self._params: dict[str, list[Any]] = {} if decode else {name: [] for name in self.param_names}
        self._states = _StateColumn()
        self._values = Column("d")
        self._durations = Column("d")
        self._metrics: list[np.ndarray] = []  # chunks of rows (of _CHUNK_BYTES or so), joined when read
        self._errors: dict[int, str] = {}
        #: scikit-optimize's ``OptimizeResult`` when the search was asked for it, else None (not saved).
        self.optimize_result: Any = None

    # --- recording ----------------------------------------------------------------------------------

    def _record(self, keys: Sequence[Key], outcomes: Sequence[Outcome],
                params: Sequence[dict[str, Any]] | None = None) -> range:
        """Add trials (in order); returns their numbers."""
        rows = np.full((len(outcomes), len(self.metric_names)), np.nan)
        for i, outcome in enumerate(outcomes):
            if outcome.metrics is not None and self.metric_names:
                rows[i] = outcome.metrics
        return self._extend(
            keys, params if params is not None else [self._decode(key) for key in keys],
            [o.state for o in outcomes], [o.value for o in outcomes], rows, [o.duration for o in outcomes],
            {i: o.error for i, o in enumerate(outcomes) if o.error is not None})

    def _extend(self, keys: Sequence[Key], params: Sequence[dict[str, Any]], states: Sequence[str],
                values: Sequence[float], metrics: np.ndarray, durations: Sequence[float],
                errors: Mapping[int, str]) -> range:
        """Add trials column by column (``errors`` by position among them); returns their numbers."""
        start = len(self._keys)
        names = set(self.param_names)
        wrong = next((p for p in params if p.keys() != names), None)  # a column per name keeps them all
        if wrong is not None:
            raise ValueError(f"Study: each trial's parameters must be {self.param_names}. Got {wrong!r}.")
        self._keys.extend(keys)
        for name, column in self._params.items():
            column.extend([p[name] for p in params])
        self._states.extend(states)
        self._values.extend(values)
        self._durations.extend(durations)
        if self.metric_names and len(keys):
            if self._metrics and self._metrics[-1].nbytes < _CHUNK_BYTES:  # batches of a few rows: one chunk
                self._metrics[-1] = np.concatenate((self._metrics[-1], metrics))
            else:
                self._metrics.append(metrics)
        self._errors.update({start + i: error for i, error in errors.items()})
        return range(start, len(self._keys))

    def _finished_number(self, key: Key) -> int | None:
        """The number of this combination's finished (not failed) trial, if the study has one."""
        number = self._keys.find(key)
        return None if number is None or self._states[number] == "failed" else number

    # --- reading ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        best = self.best_trial
        shown = "no trials" if best is None else f"best {self.objective} {best.value:.6g} at " \
            f"{best.params}"
        name = f" {self.name!r}" if self.name else ""
        return f"<Study{name}: {len(self)} trials, {shown}>"

    def _trial(self, number: int) -> Trial:
        metrics = self._metric_row(number) if self.metric_names else ()
        return Trial(number, self._params_of(number), self._states[number], self._values[number],
                     dict(zip(self.metric_names, np.asarray(metrics).tolist(), strict=False)),
                     self._durations[number], self._errors.get(number))

    def _params_of(self, number: int) -> dict[str, Any]:
        """Trial ``number``'s parameters (a new dict)."""
        if self._decode:
            return self._decode(self._keys[number])
        return {name: column[number] for name, column in self._params.items()}

    def _param_columns(self, numbers: Sequence[int] | np.ndarray | None = None) -> list[Sequence[Any]]:
        """Each parameter's values in trials ``numbers`` (every trial when None): a numpy array when
        they are all Python ints or all floats (the dtype pandas infers from them, in a fraction of the
        memory), else a list. Decoded a block of trials at a time, so that the lists stay short."""
        numbers = np.arange(len(self)) if numbers is None else np.asarray(numbers, dtype=np.intp)
        blocks: list[list[Sequence[Any]]] = [[] for _ in self.param_names]
        keys = self._keys.columns_at(numbers, _BLOCK)
        for start in range(0, len(numbers), _BLOCK):
            if self._decode_columns:
                found = self._decode_columns(next(keys))
            elif self._decode:
                decoded = [self._decode(key) for key in zip(*next(keys), strict=True)]
                found = [[params[name] for params in decoded] for name in self.param_names]
            else:
                part = numbers[start:start + _BLOCK].tolist()
                found = [[column[number] for number in part] for column in self._params.values()]
            for block, values in zip(blocks, found, strict=True):
                block.append(_typed(values))
        return [_joined(blocks, j) for j in range(len(blocks))]

    def _metric_row(self, number: int) -> np.ndarray:
        """Trial ``number``'s stats, read from its chunk: joining the chunks would copy them all, which
        at the end of a big search is the largest thing it allocates."""
        for chunk in self._metrics:
            if number < len(chunk):
                return chunk[number]
            number -= len(chunk)
        raise IndexError(number)

    def _metric_rows(self) -> np.ndarray:
        if len(self._metrics) != 1:
            joined = np.concatenate(self._metrics) if self._metrics else np.empty((0, len(self.metric_names)))
            self._metrics = [joined]
        return self._metrics[0]

    @property
    def trials(self) -> list[Trial]:
        """Every trial, in the order they finished."""
        if self.metric_names:
            self._metric_rows()  # one chunk: each trial's row is then found at once
        return [self._trial(number) for number in range(len(self))]

    @property
    def n_admissible(self) -> int | None:
        """How many combinations of the grid pass the constraint, when the search knows, else None."""
        return self.info.get("n_admissible")

    @property
    def n_evaluated(self) -> int:
        """How many distinct combinations have a finished (not failed) trial."""
        states = self._states
        return sum(1 for number in self._latest().tolist() if states[number] != "failed")

    def _latest(self) -> np.ndarray:
        """The latest trial of each combination, in key order (the heatmap's order): an int array."""
        return self._keys.latest()

    @property
    def best_trial(self) -> Trial | None:
        """The trial with the best value (NaN ranks last, ties go to the first combination in heatmap
        order); the first combination if every value is NaN; None for an empty study. With several
        objectives, the best of the Pareto front in the first objective (ties: the next objectives)."""
        numbers = self._latest()
        if not len(numbers):
            return None
        if len(self.objectives) > 1:
            front = self._front()
            if front:
                return self._trial(front[0])
        # the numbers are in key order, so their positions order as their keys do
        position = best_position(self._values.to_numpy()[numbers], range(len(numbers)),
                                 maximize=self.maximize)
        return self._trial(int(numbers[0 if position is None else position]))

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters."""
        best = self.best_trial
        if best is None:
            raise ValueError(f"The study {self.name or ''} has no trials yet.".replace("  ", " "))
        return best.params

    @property
    def best_value(self) -> float:
        """The best trial's value (NaN if every value is NaN)."""
        best = self.best_trial
        return math.nan if best is None else best.value

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """The objectives, in order, each with its direction: ``[('Return [%]', 'max'),
        ('Volatility (Ann.) [%]', 'min')]``. One for a single-objective search; with several, each
        is a column of :meth:`trials_dataframe` (the first is also ``value``)."""
        found = self.info.get("objectives")
        if not found:
            return [(self.objective, "max" if self.maximize else "min")]
        return [(str(name), str(direction)) for name, direction in found]

    def _objective_values(self, numbers: Sequence[int]) -> np.ndarray:
        """The objectives of these trials, a column each, in their own units (NaN where unknown)."""
        columns = [self._values.to_numpy()[list(numbers)]]
        rows = self._metric_rows() if self.metric_names else None
        for name, _ in self.objectives[1:]:
            if rows is not None and name in self.metric_names:
                columns.append(rows[list(numbers), self.metric_names.index(name)])
            else:
                columns.append(np.full(len(numbers), np.nan))
        return np.column_stack(columns) if numbers else np.empty((0, len(columns)))

    def _front(self) -> list[int]:
        """Numbers of the Pareto front's trials (latest of each combination, ran and scored), best first."""
        numbers = [n for n in self._latest().tolist() if self._states[n] == "ok"]  # in key order
        scores = signed(self._objective_values(numbers), [d for _, d in self.objectives])
        return [numbers[i] for i in pareto_front(scores, range(len(numbers)))]

    def pareto_front(self) -> pd.DataFrame:
        """The non-dominated trials, best first, as rows of :meth:`trials_dataframe`.

        A trial dominates another when it is at least as good in every objective of
        :attr:`objectives` and better in one; the front is the trials no other dominates (equal
        trials are all on it). Only the latest trial of each combination that ran and scored in every
        objective counts (NaN, no trades, infeasible and failed trials never are on the front). Best
        first: by the first objective, then the next ones, then heatmap order. With one objective,
        the front is the trials of the best value.

        >>> from backtestkit.optimize._trial import Outcome
        >>> study = Study(param_names=['x'], metric_names=['risk'],
        ...               info={'objectives': [['gain', 'max'], ['risk', 'min']]})
        >>> runs = [(1.0, 1.0), (2.0, 3.0), (1.5, 3.0)]  # (gain, risk) of x = 0, 1, 2
        >>> _ = study._record([(0,), (1,), (2,)], [Outcome('ok', g, np.array([r]), 0.0) for g, r in runs],
        ...                   [{'x': 0}, {'x': 1}, {'x': 2}])
        >>> study.pareto_front()[['x', 'value', 'risk']]
           x  value  risk
        0  1    2.0   3.0
        1  0    1.0   1.0
        """
        front = self._front()
        return self.trials_dataframe().iloc[front].reset_index(drop=True)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: ``number``, the parameters, ``value``, ``state``, every stats key,
        ``duration`` (seconds) and ``error``."""
        frame = pd.DataFrame({"number": np.arange(len(self))})
        for name, column in zip(self.param_names, self._param_columns(), strict=True):
            frame[name] = column
        frame["value"] = self._values.to_numpy()
        frame["state"] = self._states.categorical()
        if self.metric_names:
            metrics = pd.DataFrame(self._metric_rows(), columns=self.metric_names)
            frame = pd.concat([frame, metrics], axis=1)
        frame["duration"] = self._durations.to_numpy()
        frame["error"] = [self._errors.get(n) for n in range(len(self))]
        return frame

    def top(self, n: int = 10, by: str | None = None) -> pd.DataFrame:
        """The ``n`` best trials, best first: by the objective, or by the column ``by`` (in the
        objective's direction). NaN ranks last; failed trials are left out."""
        column = "value" if by is None else self._column(by, "top")
        frame = self.trials_dataframe()
        frame = frame[frame["state"] != "failed"]
        frame = frame.iloc[self._latest_rows(frame)]
        ordered = frame.sort_values(column, ascending=not self.maximize, na_position="last", kind="stable")
        return ordered.head(n).reset_index(drop=True)

    def _latest_rows(self, frame: pd.DataFrame) -> list[int]:
        """Positions in ``frame`` of each combination's latest trial, in key order (for stable ties)."""
        wanted = {number: i for i, number in enumerate(frame["number"])}
        return [wanted[number] for number in self._latest().tolist() if number in wanted]

    def heatmap(self, column: str | None = None) -> pd.Series:
        """The objective (or the stats column ``column``) of every evaluated combination: a Series with
        a MultiIndex of the parameters, sorted, as ``optimize(return_heatmap=True)`` returns it."""
        name = self.objective if column is None else self._column(column, "heatmap")
        numbers = self._latest()
        if column is None or column == "value":
            values = self._values.to_numpy()[numbers]
        else:
            values = self.trials_dataframe()[column].to_numpy(dtype=float)[numbers]
        index = pd.MultiIndex.from_arrays(self._param_columns(numbers), names=self.param_names)
        return pd.Series(values, index=index, name=name)

    def _column(self, name: str, owner: str) -> str:
        known = ["value", *self.metric_names, "duration"]
        if not isinstance(name, str):
            raise param_error(f"Study.{owner}", "column", "a stats key or 'value'", name, exc=TypeError)
        if name not in known:
            error = unknown_name_error("column", name, known, f"Study.{owner}")
            if self.metric_names and not did_you_mean(name, known):  # a stats key the search did not keep?
                error.args = (f"{error} The study has the stats keys its search kept: every numeric one, "
                              f"unless optimize(metrics=...) named fewer.",)
            raise error
        return name

    def plot_heatmaps(self, column: str | None = None, **kwargs: Any) -> Any:
        """``backtestkit.lib.plot_heatmaps`` of :meth:`heatmap` (``agg``, ``ncols``, ``filename``, ...)."""
        from backtestkit.plotting import plot_heatmaps

        return plot_heatmaps(self.heatmap(column), **kwargs)

    def write_report(self, filename: Any, *, best_run: pd.Series | None = None, chart: Any = None,
                     sections: Any = ()) -> Any:
        """Write the study's HTML report (settings, heatmaps, the top trials) from its trials, running
        nothing. ``best_run`` (the best trial's stats, as ``Backtest.run`` returns them) and ``chart``
        (a Bokeh layout) add the best run's trades and chart; ``sections`` (Bokeh layouts, such as a
        validation result's ``report_section()``) follow them. Returns the path written."""
        from backtestkit.optimize._report import write_study_report

        return write_study_report(self, filename, best_run=best_run, chart=chart, sections=sections)

    def to_csv(self, path: Any, **kwargs: Any) -> None:
        """Write :meth:`trials_dataframe` to a CSV file (``DataFrame.to_csv``'s options apply)."""
        self.trials_dataframe().to_csv(path, index=False, **kwargs)

    def to_parquet(self, path: Any, **kwargs: Any) -> None:
        """Write :meth:`trials_dataframe` to a Parquet file (needs pyarrow or fastparquet)."""
        frame = self.trials_dataframe()
        frame.columns = frame.columns.astype(str)
        frame.to_parquet(path, index=False, **kwargs)


