"""Where one optimiser run's time goes: init, the bar loop and views, next(), the broker, the stats.

The runs are those an optimisation makes (``Engine.numbers``, indicators shared as in a search). The
strategy's ``init``/``next`` and the broker's ``process_orders`` are timed by thin wrappers; what
the wrappers themselves cost (measured around empty methods) is taken out of their phase and out
of the loop. The loop phase is the rest of the simulation: setting up the run, moving the indicator
views and the bar counter, the ruin check. Stats is the rest of the run: trades and stats from arrays.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

PHASES = ("init", "loop & views", "next", "broker", "stats")


def _timed(method: Callable[..., Any], phase: str, spent: dict[str, float], calls: dict[str, int]) -> Any:
    def timed(self: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(self, *args)
        finally:
            spent[phase] += time.perf_counter() - start
            calls[phase] += 1

    return timed


def _overhead() -> tuple[float, float]:
    """Seconds a wrapper adds per call: inside its timed window, and in all."""
    spent, calls = {"x": 0.0}, {"x": 0}

    class Plain:
        def f(self) -> None:
            pass

    class Wrapped(Plain):
        f = _timed(Plain.f, "x", spent, calls)

    n, plain, wrapped = 20_000, Plain(), Wrapped()
    start = time.perf_counter()
    for _ in range(n):
        plain.f()
    bare = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        wrapped.f()
    return spent["x"] / n, max(0.0, (time.perf_counter() - start - bare) / n)


@contextmanager
def _timed_broker(spent: dict[str, float], calls: dict[str, int]) -> Any:
    import backtestkit._engine as engine_module

    broker = engine_module.Broker
    engine_module.Broker = type("Broker", (broker,), {
        "process_orders": _timed(broker.process_orders, "broker", spent, calls)})
    try:
        yield
    finally:
        engine_module.Broker = broker


def phase_seconds(engine: Any, combinations: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Mean seconds per run in each of :data:`PHASES`, over ``combinations`` run as a search runs them."""
    from backtestkit._cache import sharing

    spent = dict.fromkeys((*PHASES, "simulate", "run"), 0.0)
    calls = dict.fromkeys(spent, 0)
    strategy = engine.strategy
    timed = copy.copy(engine)
    timed.strategy = type(strategy.__name__, (strategy,), {
        "init": _timed(strategy.init, "init", spent, calls),
        "next": _timed(strategy.next, "next", spent, calls)})
    timed._run = lambda params: _timed(type(engine)._run, "simulate", spent, calls)(timed, params)
    with _timed_broker(spent, calls), sharing():
        for params in combinations:
            _timed(type(engine).numbers, "run", spent, calls)(timed, params)
    inside, whole = _overhead()
    runs = calls["run"]
    wrapped = calls["init"] + calls["next"] + calls["broker"]
    result = {phase: (spent[phase] - calls[phase] * inside) / runs for phase in ("init", "next", "broker")}
    simulate = spent["simulate"] - wrapped * whole - runs * inside
    result["loop & views"] = simulate / runs - result["init"] - result["next"] - result["broker"]
    result["stats"] = (spent["run"] - spent["simulate"] - runs * whole) / runs
    return {phase: result[phase] for phase in PHASES}


def phase_line(seconds: dict[str, float]) -> str:
    """``init 0.30 ms | loop & views 0.70 ms | ...`` and the total."""
    parts = [f"{phase} {seconds[phase] * 1e3:.2f} ms" for phase in PHASES]
    return " | ".join(parts) + f" | total {sum(seconds.values()) * 1e3:.2f} ms"
