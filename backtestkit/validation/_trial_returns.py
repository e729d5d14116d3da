"""The per-bar returns of a study's trials, run again: what :func:`~backtestkit.validation.pbo` reads.

A study keeps each trial's stats, not its equity (that would cost 8 bytes x bars x trials for every
search); the returns are made again here only when asked for, through the optimiser's runner.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._engine import Engine
from backtestkit._errors import param_error
from backtestkit.optimize import Outcome, Study
from backtestkit.validation._common import check_backtest


class ReturnsInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`trial_returns`. ``returns`` holds the columns of the trials that finished
    (a DataFrame, as the call would have returned with fewer trials)."""

    __module__ = "backtestkit.validation"

    def __init__(self, message: str, returns: pd.DataFrame) -> None:
        super().__init__(message)
        self.returns = returns


class _BarReturns:
    """A worker's objective: one run's equity turned into bar-to-bar returns (0 on the first bar)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, params: dict[str, Any]) -> Outcome:
        with warnings.catch_warnings():  # per-run noise (trades left open), as inside a search
            warnings.simplefilter("ignore", UserWarning)
            equity = self.engine.simulate(params)[2]
        returns = np.zeros(len(equity))
        np.divide(equity[1:], equity[:-1], out=returns[1:])
        returns[1:] -= 1.0
        return Outcome("ok", math.nan, returns, 0.0)


def trial_returns(bt: Any, study: Study, max_trials: int = 1000, random_state: Any = None, *,
                  n_jobs: int | None = None, show_progress: bool | None = None) -> pd.DataFrame:
    """Run a study's trials again and return each one's per-bar returns, for :func:`pbo`.

    The matrix costs 8 bytes x bars x trials of memory (2,500 bars x 1,000 trials: 20 MB; 50,000
    bars x 1,000 trials: 400 MB), which is why a study does not keep it and ``max_trials`` caps it.

    Args:
        bt: the Backtest the study searched (same data and strategy).
        study: the :class:`~backtestkit.optimize.Study`; failed trials are left out.
        max_trials: when the study has more trials, a random sample of this many (>= 2) is run.
        random_state: seed of that sample (an int, a numpy Generator or None).
        n_jobs: parallel workers (None: all cores; 1: this process), through the optimiser's joblib
            runner, so ``joblib.parallel_config`` is honoured.
        show_progress: a progress bar (None: when interactive).

    Returns:
        A DataFrame indexed like the data, one column per trial named by its number
        (``study.trials[number].params`` are its parameters): equity[t] / equity[t - 1] - 1, 0 on the
        first bar.

    Raises:
        TypeError, ValueError: bad arguments.
        ReturnsInterrupted: on Ctrl-C; its ``returns`` holds the trials that finished.
    """
    from backtestkit.optimize._runner import Runner, is_interactive
    from backtestkit.optimize._search import _check_runner_options

    owner = "trial_returns"
    check_backtest(owner, bt)
    if not isinstance(study, Study):
        raise param_error(owner, "study", "a Study (optimize(..., return_study=True))", study, exc=TypeError)
    if not isinstance(max_trials, numbers.Integral) or isinstance(max_trials, bool):
        raise param_error(owner, "max_trials", "a whole number >= 2", max_trials, exc=TypeError)
    if max_trials < 2:
        raise param_error(owner, "max_trials", "a whole number >= 2", max_trials)
    _check_runner_options(owner, n_jobs, show_progress)
    numbers_ = _sample(study, int(max_trials), random_state, owner)
    engine = bt._engine
    matrix = np.full((len(engine.data), len(numbers_)), np.nan)
    done: list[int] = []
    show = is_interactive() if show_progress is None else show_progress
    items = [(i, study._params_of(number)) for i, number in enumerate(numbers_)]
    runner = Runner(_BarReturns(engine), n_jobs=-1 if n_jobs is None else n_jobs, show_progress=show,
                    owner=owner, total=len(items))
    try:
        with runner:
            for keys, _, outcomes, failure in runner.map_batches(items, len(items), 4):
                for key, outcome in zip(keys, outcomes, strict=False):
                    if outcome.state == "ok":
                        matrix[:, key] = outcome.metrics
                        done.append(key)
                if failure is not None and isinstance(failure.exc, KeyboardInterrupt):
                    raise KeyboardInterrupt
                if failure is not None:
                    raise runner.error(failure)
    except KeyboardInterrupt:
        kept = sorted(done)
        frame = _frame(matrix[:, kept], engine.data.index, [numbers_[i] for i in kept])
        raise ReturnsInterrupted(
            f"trial_returns was interrupted after {len(kept):,} of {len(numbers_):,} trials. Their returns "
            "are in this exception's .returns (except ReturnsInterrupted as e: e.returns), which pbo() "
            "takes as they are; run the same call again for all of them.", frame) from None
    return _frame(matrix, engine.data.index, numbers_)


def _frame(matrix: np.ndarray, index: pd.Index, numbers_: list[int]) -> pd.DataFrame:
    return pd.DataFrame(matrix, index=index, columns=pd.Index(numbers_, name="trial"))


def _sample(study: Study, max_trials: int, random_state: Any, owner: str) -> list[int]:
    """The trials to run: each combination's latest finished trial, a seeded sample when too many."""
    numbers_ = [n for n in study._latest().tolist() if study._states[n] != "failed"]
    if len(numbers_) < 2:
        raise ValueError(f"{owner} needs a study with at least 2 finished trials; this one has "
                         f"{len(numbers_)}.")
    if len(numbers_) <= max_trials:
        return numbers_
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise param_error(owner, "random_state", "an int, a numpy Generator or None", random_state,
                          exc=TypeError) from None
    return sorted(int(n) for n in rng.choice(numbers_, size=max_trials, replace=False))
