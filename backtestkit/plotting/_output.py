"""Writing a Bokeh layout as one standalone HTML page (or showing it in a notebook), and the checks of
where and how it goes."""

from __future__ import annotations

import os
import re
import sys
import webbrowser
from pathlib import Path
from typing import Any

from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.io.notebook import run_notebook_hook
from bokeh.io.state import State
from bokeh.models import LayoutDOM
from bokeh.resources import CDN, INLINE

from backtestkit import _settings as settings
from backtestkit._errors import param_error

#: 'inline' embeds BokehJS in the page (works offline, loads nothing); 'cdn' loads it from cdn.bokeh.org.
RESOURCES = ("inline", "cdn")


def check_resources(owner: str, resources: Any) -> None:
    """Raise the house-style ValueError unless ``resources`` is one of :data:`RESOURCES`.

    >>> check_resources('plot_heatmaps', 'web')
    Traceback (most recent call last):
    ValueError: The 'resources' parameter of plot_heatmaps must be 'inline' or 'cdn'. Got 'web' instead.
    """
    if resources not in RESOURCES:
        raise param_error(owner, "resources", "'inline' or 'cdn'", resources)


def check_page_path(owner: str, name: str, filename: Any) -> Path:
    """The path a page will be written to: a str or path in an existing directory, not a directory.

    Checked before any work, so that a long search does not end on an unwritable name.

    >>> check_page_path('Backtest.optimize', 'report', 'opt.html').name
    'opt.html'
    >>> check_page_path('Backtest.optimize', 'report', '/no/such/dir/opt.html')
    Traceback (most recent call last):
    ValueError: The 'report' parameter of Backtest.optimize must be a file path in an existing directory. ...
    """
    expected = "a file path in an existing directory"
    if isinstance(filename, bytes) or not isinstance(filename, (str, os.PathLike)):
        raise param_error(owner, name, expected, filename, exc=TypeError)
    path = Path(filename)
    if str(filename) == "" or path.is_dir() or not path.resolve().parent.is_dir():
        raise param_error(owner, name, expected, filename)
    return path


def write_html(layout: LayoutDOM, path: Path, *, title: str, resources: str) -> Path:
    """Write ``layout`` to ``path`` as a standalone page titled ``title``; return the path.

    >>> import tempfile
    >>> from bokeh.models import Div
    >>> page = write_html(Div(text='hi'), Path(tempfile.mkdtemp()) / 'p.html', title='T', resources='cdn')
    >>> '<title>T</title>' in page.read_text(encoding='utf-8')
    True
    """
    if layout.document is None:  # a document of its own: nothing of bokeh's global curdoc() comes along
        Document().add_root(layout)  # (such as the page callbacks another library registers there)
    html = file_html(layout, INLINE if resources == "inline" else CDN, title=title)
    path.write_text(html, encoding="utf-8")
    return path


def show_or_write(layout: LayoutDOM, filename: str | os.PathLike[str] | None, *, title: str, strategy: object,
                  open_browser: bool) -> None:  # fmt: skip
    """Show ``layout`` inline in a notebook (when no filename is given), else write it, maybe open it.

    Without a filename the page is named after the strategy (:func:`default_filename`), in the working
    directory; BokehJS is inlined, so the page works offline.
    """
    inline = settings.notebook_output if settings.notebook_output is not None else in_notebook()
    if filename is None and inline:
        show_inline(layout)
        return
    path = Path(filename if filename is not None else default_filename(strategy))
    if path.suffix.lower() not in (".html", ".htm"):
        path = path.with_name(path.name + ".html")  # filename="chart" writes chart.html
    write_html(layout, path, title=title, resources="inline")
    if open_browser:
        webbrowser.open(path.resolve().as_uri())


def show_inline(layout: LayoutDOM) -> None:
    """Show ``layout`` in the notebook: BokehJS goes in once per session (inline, no network), then
    each chart brings only its own data."""
    global _bokehjs_loaded
    if not _bokehjs_loaded:
        # resources, verbose, no banner, timeout
        run_notebook_hook("jupyter", "load", INLINE, False, True, 5000)
        _bokehjs_loaded = True
    state = State()  # our own: a file the user set with bokeh's output_file() is left alone
    state.output_notebook("jupyter")
    run_notebook_hook("jupyter", "doc", layout, state, None)


_bokehjs_loaded = False  # whether this session (kernel) has sent BokehJS to the notebook


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel: IPython is imported and its shell has a kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


def default_filename(strategy: object) -> str:
    """The file a chart goes to when no filename is given: the strategy and the parameters it ran with
    (as ``str(stats['_strategy'])`` shows them, and as backtesting.py names it) + '.html'.

    Characters that file systems refuse (``/ \\ : * ? " < > |``) become ``_``.

    >>> default_filename("SmaCross(n1=10,n2=20)"), default_filename("SmaCross"), default_filename("S(p=a/b)")
    ('SmaCross(n1=10,n2=20).html', 'SmaCross.html', 'S(p=a_b).html')
    """
    name = re.sub(r'[\x00-\x1f/\\:*?"<>|]+', "_", str(strategy)).strip(" .")
    return f"{name or 'backtest'}.html"
