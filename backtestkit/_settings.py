"""Process-wide settings a user sets once: where charts go (``set_bokeh_output``), whether optimisations
share indicators between runs (``set_indicator_cache``). Imports nothing heavy."""

from __future__ import annotations

from backtestkit._errors import param_error

#: Where charts without a ``filename`` go: None detects a Jupyter notebook, True shows them inline,
#: False writes HTML files. Set by :func:`set_bokeh_output`.
notebook_output: bool | None = None
#: Whether the runs of an optimisation share equal indicator computations. Set by :func:`set_indicator_cache`.
indicator_cache: bool = True


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
