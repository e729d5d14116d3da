"""The parallel runner: evaluates combinations in batches, with joblib, under a progress bar.

joblib is the only parallel layer and no backend is hard-coded, so
``with joblib.parallel_config(backend='dask'):`` runs the work on a dask.distributed cluster.
The objective travels once per batch of combinations, not once per combination.
"""

from __future__ import annotations

import math
import numbers
import pickle
import sys
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from backtestkit.optimize._space import combination_error

Key = TypeVar("Key")
Objective = Callable[[dict[str, Any]], float]

#: A batch holds at most this many combinations, so the progress bar stays live on long runs.
MAX_BATCH = 100


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, shown as the cause of that exception."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


class _Failure:
    """What a worker sends back when the objective raised: the combination, the error, its traceback."""

    def __init__(self, params: dict[str, Any], exc: Exception, trace: str) -> None:
        self.params, self.exc, self.trace = params, exc, trace

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            pickle.dumps(self.exc)
            exc: Exception = self.exc
        except Exception:  # an exception that cannot travel back is replaced by its text
            exc = RuntimeError(f"{type(self.exc).__name__}: {self.exc}")
        return (_Failure, (self.params, exc, self.trace))


def _as_float(value: Any) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"The objective must return a number. Got {value!r} of type {type(value).__name__}.")


def evaluate_batch(objective: Objective, batch: list[dict[str, Any]]) -> list[float] | _Failure:
    """Run the objective on each combination of a batch (this is what a worker executes)."""
    values = []
    for params in batch:
        try:
            values.append(_as_float(objective(params)))
        except Exception as exc:
            return _Failure(params, exc, traceback.format_exc())
    return values


def is_interactive() -> bool:
    """Whether a progress bar is wanted by default: stderr is a terminal or we run in a Jupyter kernel."""
    if getattr(sys.stderr, "isatty", lambda: False)():
        return True
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    return type(get_ipython()).__name__ == "ZMQInteractiveShell" if get_ipython else False


class Runner:
    """Evaluates combinations with one objective, in batches, in parallel, under one progress bar.

    Use as a context manager; ``map`` may be called several times (once per round of a search).
    With ``n_jobs=1`` everything runs in this process, without joblib.
    """

    def __init__(
        self, objective: Objective, *, n_jobs: int, show_progress: bool, owner: str, total: int
    ) -> None:
        from tqdm.std import tqdm

        self._objective, self._owner = objective, owner
        self._bar = tqdm(
            total=total, desc=owner, unit="run", file=sys.stderr, disable=not show_progress, leave=False
        )
        self._parallel: Any = None
        if n_jobs != 1:
            import joblib

            self.n_workers = joblib.effective_n_jobs(n_jobs)
            self._parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
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

    def map(
        self, items: Iterable[tuple[Key, dict[str, Any]]], n_items: int, batches_per_worker: int
    ) -> list[tuple[Key, float]]:
        """Evaluate ``(key, params)`` items (consumed lazily) and return ``(key, value)`` in their order.

        ``n_items`` (an upper bound on how many items come) sets the batch size, aiming at
        ``batches_per_worker`` batches per worker and at most ``MAX_BATCH`` combinations a batch.

        Raises:
            The objective's exception type (or RuntimeError), naming the combination that failed.
        """
        results: list[tuple[Key, float]] = []
        for keys, values in self.map_batches(items, n_items, batches_per_worker):
            results.extend(zip(keys, values, strict=True))
        return results

    def map_batches(
        self, items: Iterable[tuple[Key, dict[str, Any]]], n_items: int, batches_per_worker: int
    ) -> Iterator[tuple[list[Key], list[float]]]:
        """Like :meth:`map`, but batch by batch as results arrive: ``(keys, values)`` pairs, so a
        large grid can store its results compactly instead of as a tuple per combination."""
        size = max(1, min(MAX_BATCH, math.ceil(n_items / (batches_per_worker * self.n_workers))))
        keys: deque[list[Key]] = deque()
        outcomes = self._dispatch(_batches(items, size, keys))
        try:
            for outcome in outcomes:
                if isinstance(outcome, _Failure):
                    self._raise(outcome)
                yield keys.popleft(), outcome
                self._bar.update(len(outcome))
        finally:
            with warnings.catch_warnings():  # joblib warns of work cut short: here that is the point
                warnings.filterwarnings("ignore", "(?s).*tasks have been successfully executed", UserWarning)
                getattr(outcomes, "close", lambda: None)()  # stops joblib's dispatching on error or Ctrl-C

    def _dispatch(self, batches: Iterator[list[dict[str, Any]]]) -> Iterator[list[float] | _Failure]:
        if self._parallel is None:
            return (evaluate_batch(self._objective, batch) for batch in batches)
        from joblib import delayed

        return self._parallel(delayed(evaluate_batch)(self._objective, batch) for batch in batches)

    def _raise(self, failure: _Failure) -> None:
        exc = failure.exc
        if exc.__traceback__ is None:  # it came from another process: show where it happened there
            exc.__cause__ = RemoteTraceback(failure.trace)
        raise combination_error(exc, failure.params, f"The objective of {self._owner}") from exc


def _batches(
    items: Iterable[tuple[Key, dict[str, Any]]], size: int, keys: deque[list[Key]]
) -> Iterator[list[dict[str, Any]]]:
    """Chunks of ``size`` combinations; each chunk's keys are queued in dispatch order."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        keys.append([key for key, _ in chunk])
        yield [params for _, params in chunk]
