"""The parallel runner: evaluates combinations in batches, with joblib, under a progress bar.

joblib is the only parallel layer and no backend is hard-coded, so
``with joblib.parallel_config(backend='dask'):`` runs the work on a dask.distributed cluster.
The objective travels once per batch of combinations, not once per combination.
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from backtestkit.optimize._space import combination_error, describe_combination
from backtestkit.optimize._trial import Outcome

Key = TypeVar("Key")
#: Batches sent to the workers and not yet back: their keys and parameters, in dispatch order.
Sent = deque[tuple[list[Any], list[dict[str, Any]]]]
Objective = Callable[[dict[str, Any]], Any]

#: A batch holds at most this many combinations, so the progress bar stays live on long runs.
MAX_BATCH = 100
#: Seconds before the progress bar shows: the first batch waits for the workers to start, and a bar
#: stuck at 0% with a wild ETA says nothing.
BAR_DELAY = 1.0


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, shown as the cause of that exception."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class _Failure:
    """A worker's report that the objective raised: the combination, the error, its traceback."""

    def __init__(self, params: dict[str, Any], exc: BaseException, trace: str) -> None:
        self.params, self.exc, self.trace = params, exc, trace

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            pickle.dumps(self.exc)
            exc: BaseException = self.exc
        except Exception:  # an exception that cannot travel back is replaced by its text
            exc = RuntimeError(f"{type(self.exc).__name__}: {self.exc}")
        return (_Failure, (self.params, exc, self.trace))


class WorkerLostError(RuntimeError):
    """A worker process died (killed, or out of memory) while it ran a batch of combinations."""

    __module__ = "backtestkit.optimize"  # as tracebacks show it: where users import it from


def _outcome(value: Any, duration: float) -> Outcome:
    """What the objective returned, as an outcome: an Outcome as it is, a real number as state 'ok'."""
    if isinstance(value, Outcome):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return Outcome("ok", float(value), None, duration)
    raise TypeError(f"The objective must return a number (or NaN). "
                    f"Got {value!r} of type {type(value).__name__} instead.")


def evaluate_batch(objective: Objective, batch: list[dict[str, Any]],
                   driver_pid: int | None = None) -> tuple[list[Outcome], _Failure | None]:
    """Run the objective on each combination of a batch (this is what a worker executes).

    Stops at the first combination that raises: its outcome is 'failed', and the failure goes back.
    Ctrl-C in this process stops it too, and the outcomes finished before it go back.
    """
    if driver_pid is not None:
        _exit_with(driver_pid)
    outcomes: list[Outcome] = []
    for params in batch:
        started = time.perf_counter()
        try:
            outcomes.append(_outcome(objective(params), time.perf_counter() - started))
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            outcomes.append(Outcome("failed", math.nan, None, time.perf_counter() - started, text))
            return outcomes, _Failure(params, exc, traceback.format_exc())
        except KeyboardInterrupt as interrupt:
            return outcomes, _Failure(params, interrupt, "")
    return outcomes, None


_watching: list[int] = []


def _exit_with(driver_pid: int) -> None:
    """In a worker process the driver started, exit as soon as the driver is gone (killed, crashed),
    instead of living on until the pool's idle timeout."""
    if _watching or os.getpid() == driver_pid or os.getppid() != driver_pid:
        return  # already watching, in the driver itself, or not its child (e.g. a dask worker)
    _watching.append(driver_pid)

    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="backtestkit-parent-watch", daemon=True).start()


def is_interactive() -> bool:
    """Whether a progress bar is wanted by default: stderr is a terminal or we run in a Jupyter kernel."""
    if getattr(sys.stderr, "isatty", lambda: False)():
        return True
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    return type(get_ipython()).__name__ == "ZMQInteractiveShell" if get_ipython else False


class Runner:
    """Evaluates combinations with one objective, in batches, in parallel, under one progress bar.

    Use as a context manager; ``map_batches`` may be called several times (once per round of a search).
    With ``n_jobs=1`` everything runs in this process, without joblib.
    """

    def __init__(
        self, objective: Objective, *, n_jobs: int, show_progress: bool, owner: str, total: int | None = None
    ) -> None:
        from tqdm.std import tqdm

        self._objective, self._owner = objective, owner
        self._bar = tqdm(
            total=total, desc=owner, unit="run", file=sys.stderr, disable=not show_progress, leave=False,
            delay=BAR_DELAY,
        )
        self._parallel: Any = None
        if n_jobs != 1:
            import joblib

            self.n_workers = joblib.effective_n_jobs(n_jobs)
            # No memory-mapping of large arrays: a batch's data is pickled whole, once per batch, which
            # measured faster (wall time) than dumping it to a memmapped file, on 43k and 200k bars.
            self._parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1,
                                             max_nbytes=None)
        else:
            self.n_workers = 1

    def __enter__(self) -> Runner:
        if self._parallel is not None:
            self._parallel.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._bar.close()
        if self._parallel is not None:
            self._parallel.__exit__(*exc_info)

    def map_batches(
        self, items: Iterable[tuple[Key, dict[str, Any]]], n_items: int, batches_per_worker: int
    ) -> Iterator[tuple[list[Key], list[dict[str, Any]], list[Outcome], _Failure | None]]:
        """Evaluate ``(key, params)`` items (consumed lazily), batch by batch as results arrive:
        ``(keys, params, outcomes, failure)``; a batch stops at its first failure.

        ``n_items`` (an upper bound on how many items come) sets the batch size, aiming at
        ``batches_per_worker`` batches per worker and at most ``MAX_BATCH`` combinations a batch.

        Raises:
            WorkerLostError: a worker process died; the message names the combinations in flight.
        """
        size = max(1, min(MAX_BATCH, math.ceil(n_items / (batches_per_worker * self.n_workers))))
        sent: Sent = deque()
        outcomes = self._dispatch(_batches(items, size, sent))
        guarded = _guard(outcomes, sent)
        try:
            for batch_outcomes, failure in guarded:
                keys, params = sent.popleft()
                yield keys, params, batch_outcomes, failure
                self._bar.update(len(batch_outcomes))
        finally:
            with warnings.catch_warnings():  # joblib warns of work cut short: here that is the point
                # "N tasks have been successfully executed but not used" and/or "N tasks which were still
                # being processed by the workers have been cancelled" (alone when none had finished)
                warnings.filterwarnings("ignore", "(?s).*tasks (have been successfully executed|which were "
                                        "still being processed)", UserWarning)
                guarded.close()
                getattr(outcomes, "close", lambda: None)()  # stops joblib's dispatching on error or Ctrl-C

    def expect(self, total: int) -> None:
        """Set how many combinations the progress bar counts to."""
        self._bar.total = total
        self._bar.refresh()

    def advance(self, n: int) -> None:
        """Count ``n`` combinations answered without running them (a resumed study's trials)."""
        self._bar.update(n)

    def _dispatch(self, batches: Iterator[list[dict[str, Any]]]) -> Iterator[Any]:
        if self._parallel is None:
            return (evaluate_batch(self._objective, batch) for batch in batches)
        from joblib import delayed

        pid = os.getpid()
        return self._parallel(delayed(evaluate_batch)(self._objective, batch, pid) for batch in batches)

    def error(self, failure: _Failure) -> Exception:
        """The exception to raise for a failed combination, naming it (and the worker's traceback)."""
        exc = failure.exc
        if exc.__traceback__ is None:  # it came from another process: show where it happened there
            exc.__cause__ = RemoteTraceback(failure.trace)
        new = combination_error(exc, failure.params, f"The objective of {self._owner}")
        new.__cause__ = exc
        return new


def _guard(outcomes: Iterator[Any], sent: Sent) -> Iterator[Any]:
    """The outcomes, with a dead worker reported as a :class:`WorkerLostError` naming what was in flight."""
    try:
        yield from outcomes
    except Exception as exc:
        if type(exc).__name__ != "TerminatedWorkerError":
            raise
        lost = [describe_combination(p) for _, params in sent for p in params]
        shown = "; ".join(lost[:10]) + (f"; ... ({len(lost)} in all)" if len(lost) > 10 else "")
        raise WorkerLostError(
            f"A worker process died (killed, or out of memory) while running one of these combinations: "
            f"{shown}. Every trial that finished before is kept.") from exc


def _batches(
    items: Iterable[tuple[Key, dict[str, Any]]], size: int, sent: Sent
) -> Iterator[list[dict[str, Any]]]:
    """Chunks of ``size`` combinations; each chunk's keys and parameters are queued in dispatch order."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        params = [p for _, p in chunk]
        sent.append(([key for key, _ in chunk], params))
        yield params
