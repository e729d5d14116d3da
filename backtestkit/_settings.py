"""Process-wide settings a user sets once: where charts go (``set_bokeh_output``), whether optimisations
share indicators between runs (``set_indicator_cache``), whether signal strategies run compiled
(``set_compiled_signals``). Imports nothing heavy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from backtestkit._errors import param_error

#: Where charts without a ``filename`` go: None detects a Jupyter notebook, True shows them inline,
#: False writes HTML files. Set by :func:`set_bokeh_output`.
notebook_output: bool | None = None
#: Whether the runs of an optimisation share equal indicator computations. Set by :func:`set_indicator_cache`.
indicator_cache: bool = True
#: Whether runs of a qualifying SignalStrategy use the compiled kernel. Set by :func:`set_compiled_signals`.
compiled_signals: bool = True


def set_bokeh_output(notebook: bool | None = False) -> None:
    """Send charts drawn without a ``filename`` to HTML files (``notebook=False``) or inline (``True``).

    By default a chart shows inline when it is drawn in a Jupyter notebook and is written to an HTML
    file otherwise; this overrides that detection for the rest of the session, as
    ``backtesting.set_bokeh_output`` does. Pages are self-contained either way: nothing is loaded
    from the network.

    Parameters:
        notebook: True to show charts inline in the notebook, False to write them to files, None to
            go back to detecting a notebook.

    Raises:
        TypeError: If ``notebook`` is not True, False or None.

    Example:
        >>> import backtestkit
        >>> backtestkit.set_bokeh_output(notebook=False)  # Backtest.plot() now writes <Strategy>.html
        >>> backtestkit.set_bokeh_output(notebook=None)  # back to the default
    """
    global notebook_output
    if notebook is not None and not isinstance(notebook, bool):
        raise param_error("set_bokeh_output", "notebook", "True, False or None", notebook, exc=TypeError)
    notebook_output = notebook


def set_indicator_cache(enabled: bool = True) -> None:
    """Let the runs of an optimisation share indicators (the default), or compute each run's afresh.

    During ``Backtest.optimize``, ``self.I(SMA, self.data.Close, 10)`` is computed once per worker
    process and handed (as a fresh copy) to every run that asks for the same function with equal
    arguments. Only calls whose result depends on nothing else are shared: functions that write
    globals or attributes, draw random numbers, read the clock or mutable globals, or take arguments
    that cannot be compared by content are always computed anew (see doc/optimisation.md). Turn
    sharing off if an indicator function has effects this cannot see, such as calling into code that
    keeps state. The setting is read when an optimisation starts and travels to its workers;
    ``Backtest.run`` never shares.

    Parameters:
        enabled: False to compute every run's indicators afresh.

    Raises:
        TypeError: If ``enabled`` is not True or False.

    Example:
        >>> import backtestkit
        >>> backtestkit.set_indicator_cache(False)  # optimisations from here on recompute indicators
        >>> backtestkit.set_indicator_cache(True)  # back to the default
    """
    global indicator_cache
    if not isinstance(enabled, bool):
        raise param_error("set_indicator_cache", "enabled", "True or False", enabled, exc=TypeError)
    indicator_cache = enabled


def set_compiled_signals(enabled: bool = True) -> None:
    """Run qualifying ``SignalStrategy`` subclasses in the compiled kernel (the default), or bar by bar.

    A strategy that only sets signals in ``init()`` (see doc/optimisation.md, "The compiled signals
    path", for what qualifies) has all its orders known before the first bar, so ``Backtest.run`` and
    ``Backtest.optimize`` run it in a numba kernel that applies the broker's rules to arrays: the same
    results to the bit, many times faster. Turn it off to time or debug the bar-by-bar engine; after a run,
    ``stats._strategy.ran_compiled`` says which path ran. The setting is read when a run or an
    optimisation starts and travels to the optimisation's workers.

    Parameters:
        enabled: False to run every strategy bar by bar.

    Raises:
        TypeError: If ``enabled`` is not True or False.

    Example:
        >>> import backtestkit
        >>> backtestkit.set_compiled_signals(False)  # runs from here on go bar by bar
        >>> backtestkit.set_compiled_signals(True)  # back to the default
    """
    global compiled_signals
    if not isinstance(enabled, bool):
        raise param_error("set_compiled_signals", "enabled", "True or False", enabled, exc=TypeError)
    compiled_signals = enabled


@contextmanager
def compiling(enabled: bool) -> Iterator[None]:
    """:func:`set_compiled_signals` for the runs in this block (an optimisation's, in its workers)."""
    global compiled_signals
    previous, compiled_signals = compiled_signals, enabled
    try:
        yield
    finally:
        compiled_signals = previous
