"""The one evaluation loop: a method proposes, the driver answers from the study or runs, records and
saves, and on Ctrl-C or an error leaves every finished trial kept and says how to go on."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from backtestkit.optimize._method import Context, SearchMethod
from backtestkit.optimize._runner import Runner
from backtestkit.optimize._space import ParamSpace, describe_combination
from backtestkit.optimize._stop import SearchStopped, StopRules
from backtestkit.optimize._store import Store
from backtestkit.optimize._trial import Key, Study, Trial


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a search. ``study`` holds every trial that finished; the message says where they
    are saved and how to resume."""

    __module__ = "backtestkit.optimize"  # as tracebacks show it: where users import it from

    def __init__(self, message: str, study: Study) -> None:
        super().__init__(message)
        self.study = study


class Driver:
    """Evaluates what a method proposes: stored trials answer at once, the rest run in batches."""

    def __init__(self, study: Study, runner: Runner, store: Store | None, study_id: int | None,
                 batches_per_worker: int, stop: StopRules | None = None) -> None:
        self.study, self.runner, self.store, self.study_id = study, runner, store, study_id
        self.batches_per_worker = batches_per_worker
        self.stop = stop if stop else None
        self.n_run = 0  # trials run (not answered from the study) in this call

    def expect(self, total: int) -> None:
        self.runner.expect(total)

    def evaluate(self, keys: Iterable[Key], n: int, *, results: bool = True) -> list[Trial]:
        numbers: dict[int, int] = {}  # position among the keys -> trial number, when results are asked for

        def fresh() -> Iterator[tuple[tuple[int, Key], dict[str, Any]]]:
            for position, key in enumerate(keys):
                number = self.study._finished_number(key)
                if number is None:
                    yield (position, key), self.study._decode(key)
                else:
                    if results:
                        numbers[position] = number
                    self.runner.advance(1)

        for sent, params, outcomes, failure in self.runner.map_batches(fresh(), n, self.batches_per_worker):
            done = sent[: len(outcomes)]  # a batch stops at its failure
            keys_done = [key for _, key in done]
            new = self.study._record(keys_done, outcomes, params[: len(outcomes)])
            if self.store is not None and self.study_id is not None:
                self.store.append(self.study_id, new, keys_done, params[: len(outcomes)], outcomes)
            self.n_run += len(outcomes)
            if results:
                numbers.update(zip((position for position, _ in done), new, strict=True))
            if failure is not None and isinstance(failure.exc, KeyboardInterrupt):
                raise KeyboardInterrupt
            if failure is not None:
                raise self.runner.error(failure)
            if self.stop is not None:
                reason = self.stop.after([self.study._values[number] for number in new])
                if reason is not None:
                    raise SearchStopped(reason)
        return [self.study._trial(numbers[i]) for i in sorted(numbers)] if results else []


def drive(method: SearchMethod, space: ParamSpace, study: Study, runner: Runner, context: Context, *,
          store: Store | None, study_id: int | None, batches_per_worker: int, show_summary: bool,
          stop: StopRules | None = None) -> None:
    """Run ``method`` to the end on ``study`` (its stored trials answer at once), or until a ``stop``
    rule fires after a batch (state 'stopped', the reason in ``study.info['stopped']``); records what
    the search learnt in ``study.info``. Every finished trial is in the study (and saved) whatever
    happens."""
    driver = Driver(study, runner, store, study_id, batches_per_worker, stop)
    started = time.perf_counter()
    state = "failed"
    study.info.pop("stopped", None)  # a resumed study that stopped before goes on
    if stop:
        stop.start(study.best_value)
    try:
        with runner:
            facts = method.search(space, driver, context)
        study.optimize_result = facts.pop("optimize_result", None)
        study.info.update(facts)
        state = "complete"
    except SearchStopped as stopped:
        study.info["stopped"] = stopped.reason
        state = "stopped"
    except KeyboardInterrupt:
        state = "interrupted"
        raise SearchInterrupted(_interrupted(study, context.owner), study) from None
    except Exception as exc:
        if hasattr(exc, "add_note") and study.n_evaluated:
            exc.add_note(_kept(study))
        raise
    finally:
        elapsed = time.perf_counter() - started
        study.info["elapsed"] = study.info.get("elapsed", 0.0) + elapsed
        study.info["state"] = state
        if store is not None:
            store.update(study_id, state=state, info=study.info)  # type: ignore[arg-type]
    if show_summary:
        print(summary(study, context.owner, driver.n_run, elapsed, runner.n_workers), file=sys.stderr)


def summary(study: Study, owner: str, n_run: int, elapsed: float, n_workers: int) -> str:
    """One line that stays after the progress bar is gone: what ran, how long, and the best.

    >>> study = Study(param_names=['n'], objective='SQN')
    >>> from backtestkit.optimize._trial import Outcome
    >>> _ = study._record([(0,)], [Outcome('ok', 1.5, None, 0.01)], [{'n': 10}])
    >>> summary(study, 'Backtest.optimize', 1, 0.5, 2)
    'Backtest.optimize: 1 run in 0.50 s (500 ms a run, 2 workers); best SQN 1.5 at n=10'
    """
    runs = f"{n_run:,} run{'s' * (n_run != 1)}"
    if len(study) > n_run:
        runs += f" and {len(study) - n_run:,} answered from the study"
    workers = f"{n_workers} worker{'s' * (n_workers != 1)}"
    rate = f" ({elapsed / n_run * 1000:,.3g} ms a run, {workers})" if n_run else ""
    best = study.best_trial
    shown = "no result" if best is None else f"best {study.objective} {best.value:.6g} at " \
        f"{describe_combination(best.params)}"
    stopped = f"; stopped early ({study.info['stopped']})" if study.info.get("stopped") else ""
    return f"{owner}: {runs} in {elapsed:.2f} s{rate}; {shown}{stopped}"


def _kept(study: Study) -> str:
    """Where the finished trials are, and the one line that resumes."""
    n = study.n_evaluated
    finished = f"The {n:,} trial{'s' * (n != 1)} that finished"
    if study.storage is None:
        return (f"{finished} are lost with this error; pass study='runs.db' to optimize() to keep every "
                "trial on disk and resume after a failure.")
    return (f"{finished} are saved in {study.storage!r} (study {study.name!r}); run the same call again "
            "to resume from there.")


def _interrupted(study: Study, owner: str) -> str:
    if study.storage is None:
        return (f"{owner} was interrupted after {study.n_evaluated:,} trials. They are in this exception's "
                ".study "
                "(except SearchInterrupted as e: e.study); pass study='runs.db' to keep them on disk and "
                "resume by running the same call again.")
    return f"{owner} was interrupted. {_kept(study)}"
