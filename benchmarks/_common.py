"""Shared helpers for the side-by-side benchmarks: backtestkit against backtesting.py (the oracle).

Everything a benchmark needs besides its own workloads: loading both libraries quietly, the synthetic
data, the strategies, a timing loop that alternates the libraries, peak-memory probes in child
processes, and plain-text tables. backtesting.py is only imported and run, never read.

Import this module before anything that imports tqdm: ``load_library`` silences the oracle's progress
bars through ``TQDM_DISABLE``, which tqdm reads once, when it is first imported.
"""

from __future__ import annotations

import gc
import importlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import param_error  # imports no tqdm, so the silencing below still works

ORACLE, OURS = "backtesting", "backtestkit"
LABELS = {ORACLE: "oracle", OURS: "ours"}
RTOL = 1e-9  # final equities must agree to this relative tolerance (float summation order differs)


@dataclass(frozen=True)
class Library:
    """One library under test: its package (``Backtest``, ``Strategy``) and its ``lib`` module."""

    name: str
    package: ModuleType
    lib: ModuleType

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def version(self) -> str:
        return str(self.package.__version__)


def load_library(name: str) -> Library:
    """Import ``backtesting`` or ``backtestkit`` with progress bars and warnings silenced.

    tqdm reads ``TQDM_DISABLE`` when it is first imported, so the variable is set here, before the
    import; if tqdm was imported earlier the bars stay on and a warning says so. Warnings are ignored
    process-wide: both libraries warn about trades left open at the end, and the oracle also emits
    pandas deprecation noise, none of which belongs in a timing.
    """
    if name not in LABELS:
        raise param_error("load_library", "name", f"one of {sorted(LABELS)}", name)
    if os.environ.get("TQDM_DISABLE") != "1" and "tqdm" in sys.modules:
        warnings.warn("tqdm was imported before load_library(); progress bars stay on", stacklevel=2)
    os.environ["TQDM_DISABLE"] = "1"  # inherited by child processes too
    warnings.simplefilter("ignore")
    package = importlib.import_module(name)
    return Library(name, package, importlib.import_module(f"{name}.lib"))


def synthetic_ohlcv(n_bars: int, *, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """A seeded geometric random walk as 1-minute OHLCV bars, the same for a given ``(n_bars, seed)``.

    Each bar opens at the previous close times a tiny gap, closes after a normal log return
    (0.05% a minute), and reaches a High above ``max(Open, Close)`` and a Low below ``min(Open,
    Close)`` by half-normal wicks; Volume is log-normal. The index is a 1-minute DatetimeIndex.

    >>> bars = synthetic_ohlcv(1_000, seed=1)
    >>> bool((bars.High >= bars[['Open', 'Close']].max(axis=1)).all()), bars.index.freqstr
    (True, 'min')
    """
    rng = np.random.default_rng(seed)
    log_close = np.log(100.0) + np.cumsum(rng.normal(0.0, 5e-4, n_bars))
    log_open = np.concatenate(([np.log(100.0)], log_close[:-1])) + rng.normal(0.0, 5e-5, n_bars)
    top, bottom = np.maximum(log_open, log_close), np.minimum(log_open, log_close)
    columns = {
        "Open": np.exp(log_open),
        "High": np.exp(top + np.abs(rng.normal(0.0, 3e-4, n_bars))),
        "Low": np.exp(bottom - np.abs(rng.normal(0.0, 3e-4, n_bars))),
        "Close": np.exp(log_close),
        "Volume": np.round(rng.lognormal(7.0, 0.5, n_bars)),
    }
    return pd.DataFrame(columns, index=pd.date_range(start, periods=n_bars, freq="min"))


def sma(values: Sequence[float], n: int) -> pd.Series:
    """Simple moving average of the last ``n`` values (NaN for the first ``n - 1``), as in the docs."""
    return pd.Series(values).rolling(n).mean()


def empty_strategy(library: Library) -> type:
    """A Strategy whose ``init`` and ``next`` do nothing: the engine's own per-bar cost."""

    class Empty(library.package.Strategy):
        def init(self) -> None:
            pass

        def next(self) -> None:
            pass

    return Empty


def sma_cross_strategy(library: Library) -> type:
    """The classic SmaCross: SMA ``n1``/``n2`` of Close, reverse on crossovers with ``lib.crossover``."""
    crossover = library.lib.crossover

    class SmaCross(library.package.Strategy):
        n1 = 10
        n2 = 20

        def init(self) -> None:
            self.sma1 = self.I(sma, self.data.Close, self.n1)
            self.sma2 = self.I(sma, self.data.Close, self.n2)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell()

    return SmaCross


def outcome(stats: pd.Series) -> tuple[int, float]:
    """What must agree between the libraries for a timing to be fair: (# trades, final equity)."""
    return int(stats["# Trades"]), float(stats["Equity Final [$]"])


def same_outcome(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """Same number of trades and final equities equal to a relative ``RTOL``."""
    return a[0] == b[0] and bool(np.isclose(a[1], b[1], rtol=RTOL, atol=0.0))


@dataclass(frozen=True)
class Timing:
    """Wall-clock samples of one measurement, in seconds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)


def time_alternating(calls: Mapping[str, Callable[[], Any]], repeat: int) -> dict[str, Timing]:
    """Time each call ``repeat`` times, interleaved (a, b, b, a, a, b, ...) so drift hits all alike.

    Warm up before calling this. Garbage is collected before each run, and each result is kept alive
    until the clock stops, so freeing it is not timed.

    >>> timings = time_alternating({'a': lambda: None, 'b': lambda: 1}, repeat=3)
    >>> [len(t.samples) for t in timings.values()]
    [3, 3]
    """
    names = list(calls)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else reversed(names):
            gc.collect()
            start = time.perf_counter()
            result = calls[name]()
            samples[name].append(time.perf_counter() - start)
            del result
    return {name: Timing(tuple(values)) for name, values in samples.items()}


class _Floor:
    def next(self) -> None:
        pass


def floor_loop(n_bars: int) -> None:
    """The floor of any bar loop: a bare Python loop calling an empty method ``n_bars`` times."""
    next_ = _Floor().next
    for _ in range(n_bars):
        next_()


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB.

    ``VmHWM`` where Linux's /proc has it (:func:`process_peak_mib`); else ``ru_maxrss`` (KiB on Linux,
    bytes on macOS), which in a child started by ``subprocess`` starts at the parent's size.
    """
    vm_hwm = process_peak_mib()
    if vm_hwm is not None:
        return vm_hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def child_peak_mib(argv: Sequence[str]) -> float:
    """Run ``python *argv`` in a fresh process; it must print its peak RSS in MiB as its last line."""
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {argv} failed with exit code {done.returncode}:\n{done.stderr}")
    return float(done.stdout.split()[-1])


def environment_line(libraries: Sequence[Library]) -> str:
    """Python, numpy, pandas and library versions, CPUs usable by this process and the load average."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"pandas {pd.__version__}"]
    parts += [f"{library.name} {library.version}" for library in libraries]
    parts.append(f"{cpus} CPUs")
    if hasattr(os, "getloadavg"):
        parts.append("load avg " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return " | ".join(parts)


def format_seconds(seconds: float) -> str:
    """A duration in s, ms or µs, with about three significant digits.

    >>> format_seconds(8.2149), format_seconds(0.01234), format_seconds(4.2e-05)
    ('8.21 s', '12.3 ms', '42.0 µs')
    """
    if seconds >= 1.0:
        value, unit = seconds, "s"
    elif seconds >= 1e-3:
        value, unit = seconds * 1e3, "ms"
    else:
        value, unit = seconds * 1e6, "µs"
    decimals = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:.{decimals}f} {unit}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned.

    >>> print(format_table(['name', 'x'], [['a', '1.0'], ['bb', '22.5']]))
    name     x
    ----  ----
    a      1.0
    bb    22.5
    """
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[j]) for row in cells) for j in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first, *rest = zip(row, widths, strict=True)
        return "  ".join([first[0].ljust(first[1]), *(cell.rjust(width) for cell, width in rest)])

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def process_peak_mib(pid: int | str = "self") -> float | None:
    """Peak RSS of a process's current program image in MiB: ``VmHWM`` of ``/proc/<pid>/status``.

    Unlike ``ru_maxrss`` it is not inherited: a child started by ``subprocess`` reports in
    ``ru_maxrss`` at least its parent's RSS at the fork, whatever it uses itself after ``exec``.
    None without Linux's /proc (or once the process is gone).
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            lines = [line for line in status if line.startswith("VmHWM:")]
    except OSError:
        return None
    return int(lines[0].split()[1]) / 2**10 if lines else None


def _proc_stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after ``pid (comm)``: state, ppid, ... (None if unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):  # not a process, or gone meanwhile
        return None


def child_pids() -> list[int]:
    """Process ids of this process's live children, from Linux's /proc (none elsewhere)."""
    entries = os.listdir("/proc") if os.path.isdir("/proc") else []
    return [int(pid) for pid in entries
            if pid.isdigit() and (fields := _proc_stat(pid)) and int(fields[1]) == os.getpid()]


def cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process and its children, waited for or alive.

    Children still alive (joblib keeps its worker processes between calls) are read from Linux's
    /proc; elsewhere only the children waited for count. On a busy machine, CPU time measures the
    work done where wall time also measures the wait for a free core.
    """
    own, done = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in child_pids():
        fields = _proc_stat(pid)
        if fields:
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime and stime, in clock ticks
    return total


def child_report(argv: Sequence[str]) -> dict[str, float]:
    """Run ``python *argv`` in a fresh process that prints ``name value`` lines; the values by name
    (a name printed twice keeps its last value)."""
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {argv} failed with exit code {done.returncode}:\n{done.stderr}")
    return {name: float(value) for name, value in (line.split() for line in done.stdout.splitlines())}
