"""plot_heatmaps: the HTML file, aggregation, the 1-D case, bad arguments."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, Legend

from backtestkit.plotting import _heatmaps, plot_heatmaps


@pytest.fixture
def heatmap():
    # value = n1 * 100 + n2 * 10 + n3 over n1 in {1, 2}, n2 in {3, 4, 5}, n3 in {6, 7}
    index = pd.MultiIndex.from_product([[1, 2], [3, 4, 5], [6, 7]], names=["n1", "n2", "n3"])
    values = [n1 * 100 + n2 * 10 + n3 for n1, n2, n3 in index]
    return pd.Series(values, index=index, name="SQN", dtype=float)


def figures(layout):
    return [child[0] for child in layout.children]


def sources(layout):
    return [fig.select_one(ColumnDataSource).data for fig in figures(layout)]


def cells(data):
    """A heatmap's data as {(x, y): value}."""
    return dict(zip(zip(data["x"], data["y"], strict=True), data["value"], strict=True))


def test_writes_a_standalone_html_file(heatmap, tmp_path):
    path = tmp_path / "out.html"
    plot_heatmaps(heatmap, filename=path, open_browser=False)
    html = path.read_text(encoding="utf-8")
    tags = re.findall(r"<(?:script|link)\b[^>]*>", html)
    assert tags and not any(re.search(r"(?:src|href)\s*=\s*[\"']?https?://", tag) for tag in tags)
    assert all(name in html for name in ("n1", "n2", "n3", "SQN"))


def test_cdn_resources_load_bokeh_from_the_cdn(heatmap, tmp_path):
    path = tmp_path / "out.html"
    plot_heatmaps(heatmap, filename=path, open_browser=False, resources="cdn")
    assert re.search(r'<script[^>]+src="https://cdn\.bokeh\.org/', path.read_text(encoding="utf-8"))


def test_one_heatmap_per_pair_aggregated(heatmap, tmp_path):
    layout = plot_heatmaps(heatmap, filename=tmp_path / "max.html", open_browser=False)
    data = sources(layout)
    assert len(data) == 3  # (n1, n2), (n1, n3), (n2, n3)
    # (n1, n2) = (2, 4), max over n3 in {6, 7}: 200 + 40 + 7 = 247
    assert cells(data[0])[("2", "4")] == 247
    # (n2, n3) = (5, 6), max over n1: 200 + 50 + 6 = 256
    assert cells(data[2])[("5", "6")] == 256

    layout = plot_heatmaps(heatmap, "mean", filename=tmp_path / "mean.html", open_browser=False)
    # (n1, n3) = (1, 7), mean over n2 in {3, 4, 5}: 100 + 40 + 7 = 147
    assert cells(sources(layout)[1])[("1", "7")] == 147

    layout = plot_heatmaps(heatmap, lambda s: s.min() - 1, filename=tmp_path / "f.html", open_browser=False)
    assert cells(sources(layout)[0])[("1", "3")] == 135  # min over n3: 100 + 30 + 6, minus 1


def test_shared_colour_scale_one_colour_bar_and_hover(heatmap, tmp_path):
    layout = plot_heatmaps(heatmap, filename=tmp_path / "out.html", open_browser=False)
    figs = figures(layout)
    mappers = {id(fig.renderers[0].glyph.fill_color.transform) for fig in figs}
    assert len(mappers) == 1
    mapper = figs[0].renderers[0].glyph.fill_color.transform
    # max-aggregated: lowest (n1, n2) = (1, 3) -> 137, highest (n2, n3) = (5, 7) -> 257
    assert (mapper.low, mapper.high) == (137, 257)
    assert sum(len(fig.select(ColorBar)) for fig in figs) == 1
    tooltips = figs[0].select_one(HoverTool).tooltips
    assert [label for label, _ in tooltips] == ["n1", "n2", "SQN"]


def test_one_parameter_is_a_1d_plot(tmp_path):
    index = pd.MultiIndex.from_arrays([[10, 20, 30]], names=["n1"])
    layout = plot_heatmaps(
        pd.Series([1.0, np.nan, 3.0], index=index), filename=tmp_path / "1d.html", open_browser=False
    )
    data = sources(layout)
    assert len(data) == 1 and list(data[0]["x"]) == ["10", "20", "30"]
    np.testing.assert_array_equal(data[0]["value"], [1.0, np.nan, 3.0])
    # a plain Index and single-valued levels reduce to the same
    layout = plot_heatmaps(
        pd.Series([1.0, 2.0], index=pd.Index([5, 6], name="n2")),
        filename=tmp_path / "plain.html",
        open_browser=False,
    )
    assert list(sources(layout)[0]["x"]) == ["5", "6"]
    two = pd.MultiIndex.from_arrays([[1, 2], ["sma", "sma"]], names=["n1", "kind"])
    layout = plot_heatmaps(
        pd.Series([1.0, 2.0], index=two), filename=tmp_path / "fixed.html", open_browser=False
    )
    assert list(sources(layout)[0]["x"]) == ["1", "2"]


def test_default_filename_is_in_the_current_directory(heatmap, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plot_heatmaps(heatmap, open_browser=False)
    assert (tmp_path / "heatmaps.html").exists()


def test_open_browser(heatmap, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(_heatmaps.webbrowser, "open", opened.append)
    plot_heatmaps(heatmap, filename=tmp_path / "a.html", open_browser=False)
    assert opened == []
    plot_heatmaps(heatmap, filename=tmp_path / "b.html")
    assert opened == [(tmp_path / "b.html").resolve().as_uri()]


def must(name, expected, got):
    return re.escape(f"The {name!r} parameter of plot_heatmaps must be {expected}. Got {got} instead.")


@pytest.mark.parametrize(
    ("kwargs", "exception", "message"),
    [
        (
            {"agg": "maximum"},
            ValueError,
            must(
                "agg",
                "a callable or one of 'count', 'first', 'last', 'max', 'mean', "
                "'median', 'min', 'std', 'sum', 'var'",
                "'maximum'",
            ),
        ),
        ({"ncols": 0}, ValueError, must("ncols", "an int >= 1", "0")),
        ({"plot_width": 10}, ValueError, must("plot_width", "an int >= 100", "10")),
        ({"filename": 3}, TypeError, must("filename", "a str or path", "3")),
        ({"open_browser": "no"}, TypeError, must("open_browser", "True or False", "'no'")),
        ({"resources": "web"}, ValueError, must("resources", "'inline' or 'cdn'", "'web'")),
    ],
)
def test_bad_arguments(heatmap, tmp_path, kwargs, exception, message):
    kwargs = {"filename": tmp_path / "x.html", "open_browser": False, **kwargs}
    with pytest.raises(exception, match=f"^{message}$"):
        plot_heatmaps(heatmap, **kwargs)
    assert not (tmp_path / "x.html").exists()


@pytest.mark.parametrize(
    ("bad", "exception"),
    [
        ([1.0, 2.0], TypeError),
        (pd.Series([], dtype=float, index=pd.MultiIndex.from_arrays([[]], names=["n1"])), ValueError),
        (pd.Series([1.0, 2.0]), ValueError),  # unnamed index: which parameter?
        (pd.Series(["a", "b"], index=pd.Index([1, 2], name="n1")), ValueError),
    ],
)
def test_bad_heatmap(bad, exception, tmp_path):
    with pytest.raises(
        exception, match=r"^The 'heatmap' parameter of plot_heatmaps must be a non-empty Series"
    ):
        plot_heatmaps(bad, filename=tmp_path / "x.html", open_browser=False)


def test_heatmap_from_run_search(tmp_path):
    from backtestkit.optimize import run_search

    result = run_search(
        lambda p: -((p["n1"] - 2) ** 2) - p["n2"],
        {"n1": range(5), "n2": [1, 2], "kind": "sma"},
        known_params=["n1", "n2", "kind"],
        n_jobs=1,
        show_progress=False,
        objective_name="SQN",
    )
    layout = plot_heatmaps(result.heatmap(), filename=tmp_path / "hm.html", open_browser=False)
    assert len(sources(layout)) == 1  # 'kind' has one value: one pair left, (n1, n2)


def test_import_backtestkit_does_not_import_bokeh():
    code = "import sys, backtestkit; print('bokeh' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]


@pytest.mark.parametrize("one_parameter", [False, True], ids=["pairs", "1-d"])
def test_renders_in_a_browser_with_no_outside_request(browser, heatmap, tmp_path, one_parameter):
    if one_parameter:
        heatmap = heatmap.groupby(level="n1").max()
    path = tmp_path / "heatmaps.html"
    plot_heatmaps(heatmap, filename=path, open_browser=False)
    page = browser.render(path, name=f"heatmaps-{'1d' if one_parameter else 'pairs'}")
    assert page.canvases >= (1 if one_parameter else 3), (
        f"only {page.canvases} canvases drew; see {page.screenshot}"
    )
    assert page.errors == [], f"JavaScript errors: {page.errors}"
    assert page.outside_requests == [], f"requests leaving the page: {page.outside_requests}"


@pytest.fixture
def grid_cells():
    """A 3 x 3 grid: (1, 3) scored 1.0, (1, 4) ran without trades, (2, 3) failed, (3, 5) not evaluated,
    and a < b pruned the cells where a >= b... here: (2, 5) and the whole of a = 3 but (3, 5)."""
    index = pd.MultiIndex.from_product([[1, 2, 3], [3, 4, 5]], names=["a", "b"])
    cells = pd.Series("pruned", index=index)
    cells[(1, 3)], cells[(1, 4)], cells[(1, 5)] = "ok", "no_trades", "ok"
    cells[(2, 3)], cells[(2, 4)], cells[(3, 5)] = "failed", "ok", "not_evaluated"
    heatmap = pd.Series([1.0, np.nan, 2.0, np.nan, 3.0],
                        index=pd.MultiIndex.from_tuples([(1, 3), (1, 4), (1, 5), (2, 3), (2, 4)],
                                                        names=["a", "b"]),
                        name="SQN")
    return heatmap, cells


def drawn_cells(fig):
    """{(x, y): what the cell shows}: a value, or its state's label."""
    shown = {}
    for renderer in fig.renderers:
        data = renderer.data_source.data
        labels = data["state"] if "state" in data else data.get("value", [None] * len(data["x"]))
        shown.update(zip(zip(data["x"], data["y"], strict=True), labels, strict=True))
    return shown


def test_cells_draw_each_state_apart_with_a_legend(grid_cells, tmp_path):
    heatmap, cells = grid_cells
    layout = plot_heatmaps(heatmap.copy(), filename=tmp_path / "cells.html", open_browser=False, cells=cells)
    (fig, *_), = layout.children
    shown = drawn_cells(fig)
    assert {k: v for k, v in shown.items() if "\u2063" not in k[0]} == {
        ("1", "3"): 1.0, ("1", "5"): 2.0, ("2", "4"): 3.0,
        ("1", "4"): "ran, no value (no trades)", ("2", "3"): "failed (an error)",
        ("3", "5"): "not evaluated", ("2", "5"): "pruned by the constraint",
        ("3", "3"): "pruned by the constraint", ("3", "4"): "pruned by the constraint",
    }
    (legend,) = fig.select(Legend)
    assert [item.label.value for item in legend.items] == [
        "ran, no value (no trades)", "failed (an error)", "not evaluated", "pruned by the constraint"]
    pruned = next(r for r in fig.renderers if "state" in r.data_source.data
                  and r.data_source.data["state"][0] == "pruned by the constraint")
    assert pruned.glyph.hatch_pattern == "/"  # hatched: visibly unlike the grey cells that ran


def test_a_pair_cell_shows_the_first_kind_of_its_combinations(grid_cells):
    heatmap, cells = grid_cells
    index = pd.MultiIndex.from_product([[1, 2, 3], [3, 4, 5], [0, 1]], names=["a", "b", "c"])
    wide = pd.Series([cells[(a, b)] for a, b, _ in index], index=index)
    wide[(3, 3, 1)] = "not_evaluated"  # one of (3, 3)'s two combinations could still run
    scores = pd.Series(heatmap.to_numpy(), index=pd.MultiIndex.from_tuples(
        [(*key, 0) for key in heatmap.index], names=["a", "b", "c"]), name="SQN")
    kinds = _heatmaps.pair_kinds(scores, wide, ("a", "b"))
    assert kinds[(3, 3)] == "not_evaluated" and kinds[(3, 4)] == "pruned" and kinds[(1, 3)] == "value"


def test_without_cells_nothing_changes(heatmap, tmp_path):
    layout = plot_heatmaps(heatmap, filename=tmp_path / "plain.html", open_browser=False)
    assert all(len(fig.renderers) == 1 and not fig.select(Legend) for fig in figures(layout))


_CELLS = ("None or a Series of cell states ('ok', 'no_trades', 'infeasible', 'failed', 'pruned', "
          "'not_evaluated') indexed by 'a', 'b'")


@pytest.mark.parametrize(
    ("cells", "exception", "got"),
    [([1], TypeError, "[1]"),
     (pd.Series(["ok"], index=pd.Index([1], name="x")), ValueError, "a Series indexed by ['x']"),
     (pd.Series(["done", "ok"], index=pd.MultiIndex.from_tuples([(1, 3), (1, 4)], names=["a", "b"])),
      ValueError,
      "a Series holding 'done'")],
)
def test_bad_cells(grid_cells, tmp_path, cells, exception, got):
    heatmap, _ = grid_cells
    with pytest.raises(exception, match=f"^{must('cells', _CELLS, got)}$"):
        plot_heatmaps(heatmap, filename=tmp_path / "x.html", open_browser=False, cells=cells)


def test_cells_render_in_a_browser(browser, grid_cells, tmp_path):
    heatmap, cells = grid_cells
    path = tmp_path / "cells.html"
    plot_heatmaps(heatmap, filename=path, open_browser=False, cells=cells)
    page = browser.render(path, name="heatmaps-cells")
    assert page.canvases >= 1 and page.errors == [] and page.outside_requests == [], page.screenshot
