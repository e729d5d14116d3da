"""Process-wide settings a user sets once: where charts go (``set_bokeh_output``). Imports nothing heavy."""

from __future__ import annotations

from backtestkit._errors import param_error

#: Where charts without a ``filename`` go: None detects a Jupyter notebook, True shows them inline,
#: False writes HTML files. Set by :func:`set_bokeh_output`.
notebook_output: bool | None = None


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
