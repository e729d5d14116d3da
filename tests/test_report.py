"""write_report: what the page shows, the top-N table, standalone HTML, bad arguments,
and the page opened in a real browser."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColumnDataSource, DataTable, Div, GridPlot, NumberFormatter

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.plotting import _report
from backtestkit.plotting._chart import Indicator, backtest_layout
from backtestkit.plotting._report import PAGE_WIDTH, write_report
from tests.test_chart import SmaCross

KEY_STATS = ["Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]", "SQN"]
TOP_N = 5


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    """write_report's arguments from a real search, as Backtest.optimize(report=...) gathers them."""
    bt = Backtest(load_daily(), SmaCross, commission=0.001, finalize_trades=True)
    # 3 x 4 = 12 combinations; n1 < n2 rules out (20, 20) alone: 11 admissible, all evaluated
    grid = {"n1": [5, 10, 20], "n2": [20, 40, 60, 80]}
    stats, heatmap = bt.optimize(maximize="Sharpe Ratio", constraint=lambda p: p.n1 < p.n2, n_jobs=1,
                                 show_progress=False, return_heatmap=True, **grid)  # fmt: skip
    rows = []
    for combo in heatmap.dropna().sort_values(ascending=False).head(TOP_N).index:
        params = dict(zip(heatmap.index.names, combo, strict=True))
        run = bt.run(**params)
        rows.append({**params, **{key: run[key] for key in KEY_STATS}})
    indicators = [Indicator(a.name, np.asarray(a), **a._opts) for a in stats["_strategy"]._indicators]
    return {
        "title": "SmaCross on daily data, 2015-01-02 to 2024-08-01",
        "objective": "Sharpe Ratio (maximised)",
        "settings": {"method": "grid", "max_tries": None, "constraint": "lambda p: p.n1 < p.n2", **grid},
        "n_admissible": 11,
        "n_evaluated": len(heatmap),
        "elapsed": 2.5,  # given, not measured: 11 / 2.5 = 4.4 evaluations/s
        "heatmap": heatmap,
        "top": pd.DataFrame(rows),
        "best_chart": backtest_layout(ohlc=bt._data, stats=stats, indicators=indicators),
        "best": stats["_strategy"],
    }


@pytest.fixture(scope="module")
def page(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "opt.html"
    assert write_report(path, **arguments(inputs)) == path
    return path


def arguments(inputs: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**{k: v for k, v in inputs.items() if k != "best"}, **changes}


@pytest.fixture
def build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``build(inputs, **changes)``: the page write_report lays out, not serialised (the tests of
    ``page``, the written file, check that part)."""
    built: list[Any] = []
    monkeypatch.setattr(_report, "write_html", lambda layout, path, **_: built.append(layout) or path)

    def build(inputs: dict[str, Any], **changes: Any) -> Any:
        write_report(tmp_path / "opt.html", **arguments(inputs, **changes))
        return built[-1]

    return build


def texts(layout: Any) -> str:
    """The text of the page's Divs, top to bottom."""
    return "\n".join(child.text for child in layout.children if isinstance(child, Div))


def test_the_search_the_data_and_the_outcome_are_on_the_page(inputs: dict, page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    best = inputs["best"]  # SmaCross(n1=..,n2=..): the best run, whose chart closes the page
    assert f"<title>{inputs['title']}</title>" in html
    expected = [inputs["title"], "Sharpe Ratio (maximised)", "11 of 11 admissible (100%)",
                "2.5 s (4.4 evaluations/s)", f"n1 = {best.n1}, n2 = {best.n2}", "lambda p: p.n1",
                "[5, 10, 20]", "[20, 40, 60, 80]", str(best)]  # fmt: skip
    assert [text for text in expected if text not in html] == []
    best_value = inputs["heatmap"].max()  # the top table's first row, from a run of its own
    assert inputs["top"]["Sharpe Ratio"].iloc[0] == pytest.approx(best_value, rel=1e-12)
    assert f"{best_value:.4g}" in html


def test_sections_in_order_all_one_width(build: Any, inputs: dict) -> None:
    layout = build(inputs)
    assert layout.width == PAGE_WIDTH
    headings = re.findall(r"<h[123]>(.*?)</h[123]>", texts(layout))
    best = f"Best run: n1 = {inputs['best'].n1}, n2 = {inputs['best'].n2}"
    assert headings == [inputs["title"], "Search settings", "Heatmaps", "Top 5 parameter sets", best, "Chart"]
    kinds = [type(section).__name__ for section in layout.children]
    assert kinds == ["Div", "Div", "GridPlot", "Div", "DataTable", "Div", "Div", "GridPlot", "Div"]
    assert layout.children[7] is inputs["best_chart"]
    assert all(div.width == PAGE_WIDTH for div in layout.select({"type": Div}))
    assert layout.select_one({"type": DataTable}).width == PAGE_WIDTH
    heatmaps = layout.children[2]  # one pair: one square, and its colour bar, within the page
    assert sum(fig.width for fig, *_ in heatmaps.children) + 40 <= PAGE_WIDTH


def test_top_table_keeps_the_order_given_ranks_it_and_is_sortable(build: Any, inputs: dict) -> None:
    table = build(inputs).select_one({"type": DataTable})
    data, titles = table.source.data, [column.title for column in table.columns]
    assert titles == ["#", "n1", "n2", "Sharpe Ratio", *[k for k in KEY_STATS if k != "Sharpe Ratio"]]
    column = {c.title: np.asarray(data[c.field]) for c in table.columns}
    assert list(column["#"]) == [1, 2, 3, 4, 5]
    top = inputs["top"]
    np.testing.assert_array_equal(column["Sharpe Ratio"], top["Sharpe Ratio"])
    assert (np.diff(column["Sharpe Ratio"]) <= 0).all()  # best first
    np.testing.assert_array_equal(column["n1"], top["n1"])
    assert table.sortable and all(c.sortable for c in table.columns) and table.index_position is None


def test_numbers_show_about_four_significant_digits(build: Any, inputs: dict) -> None:
    top = pd.DataFrame({"n1": [5, 10], "n2": [0.015, 0.02], "Sharpe Ratio": [0.8123, 0.25],
                        "Return [%]": [154.04, -3.2], "Max. Drawdown [%]": [-27.61, -9.5],
                        "# Trades": [19, 4], "Equity Final [$]": [25_404.1, 9_680.0]})  # fmt: skip
    table = build(inputs, top=top).select_one({"type": DataTable})
    formats = {c.title: c.formatter.format for c in table.columns if isinstance(c.formatter, NumberFormatter)}
    assert formats == {
        "#": "0,0",
        "n1": "0,0",  # whole numbers
        "n2": "0,0.[00000]",  # parameters: as many decimals as they have, up to 4 significant digits
        "Sharpe Ratio": "0,0.0000",  # largest |value| 0.81: 4 decimals give 4 significant digits
        "Return [%]": "0,0.0",  # 154.0
        "Max. Drawdown [%]": "0,0.00",  # -27.61
        "# Trades": "0,0",
        "Equity Final [$]": "0,0.0",  # 25,404.1: at least one decimal for numbers that have any
    }


def test_strings_nan_and_a_long_table(build: Any, inputs: dict) -> None:
    top = inputs["top"].assign(kind="sma", **{"Sharpe Ratio": np.nan})
    top = pd.concat([top] * 8, ignore_index=True)  # 40 rows: the table scrolls after 25
    table = build(inputs, top=top).select_one({"type": DataTable})
    kind = next(c for c in table.columns if c.title == "kind")
    sharpe = next(c for c in table.columns if c.title == "Sharpe Ratio")
    assert list(table.source.data[kind.field][:2]) == ["sma", "sma"]
    assert sharpe.formatter.nan_format == "—" and table.height == 25 * 26 + 4


def test_user_text_is_escaped_and_long_settings_are_cut(build: Any, inputs: dict) -> None:
    constraint = "def constraint(p):\n    return p.n1 < p.n2\n"
    settings = {"constraint": constraint, "n1": list(range(1000))}
    layout = build(inputs, title="<b>A & B</b>", settings=settings)
    text = texts(layout)
    assert "<h1>&lt;b&gt;A &amp; B&lt;/b&gt;</h1>" in text
    assert "<pre>def constraint(p):\n    return p.n1 &lt; p.n2\n</pre>" in text  # its lines kept
    listed = re.search(r"<th>n1</th><td>(.*?)</td>", text).group(1)
    assert len(listed) == 600 and listed.endswith("…")


def test_unknown_admissible_count_and_slow_runs(build: Any, inputs: dict) -> None:
    # 7,384 s = 2 h 03 min (and 4 s); 7,384 s / 11 evaluations = 671.3 s each
    text = texts(build(inputs, n_admissible=None, elapsed=7384))
    assert "11 (how many combinations are admissible is unknown)" in text
    assert "2 h 03 min (671 s per evaluation)" in text


def test_one_parameter_is_plotted_against_its_values(build: Any, inputs: dict) -> None:
    heatmap = inputs["heatmap"].xs(10, level="n1").rename("SQN")
    top = pd.DataFrame({"n2": [40, 80], "SQN": [1.5, 1.2]})
    layout = build(inputs, heatmap=heatmap, top=top, best_chart=None)
    text = texts(layout)
    assert "<h2>SQN by n2</h2>" in text and "n2 = 40" in text
    assert "No chart: drawing the best run needs" in text
    ((bars, *_),) = layout.children[2].children
    assert bars.width == PAGE_WIDTH - 130 and list(bars.x_range.factors) == ["20", "40", "60", "80"]


def test_three_parameters_make_three_heatmaps_in_a_row(build: Any, inputs: dict) -> None:
    index = pd.MultiIndex.from_product([[1, 2], [3, 4], [5, 6]], names=["a", "b", "c"])
    heatmap = pd.Series(np.arange(8.0), index=index, name="SQN")
    top = pd.DataFrame({"a": [2], "b": [4], "c": [6], "SQN": [7.0]})
    layout = build(inputs, heatmap=heatmap, top=top)
    grid = next(child for child in layout.children if isinstance(child, GridPlot))
    assert [(row, col) for _, row, col in grid.children] == [(0, 0), (0, 1), (0, 2)]
    assert "the best value over the other parameters" in texts(layout)


def test_inline_page_is_standalone_and_cdn_page_loads_bokeh_from_the_cdn(
    inputs: dict, page: Path, tmp_path: Path
) -> None:
    tags = re.findall(r"<(?:script|link)\b[^>]*>", page.read_text(encoding="utf-8"))
    assert tags and not any(re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", tag) for tag in tags)
    cdn = write_report(tmp_path / "cdn.html", **arguments(inputs, best_chart=None), resources="cdn")
    assert re.search(r'<script[^>]+src="https://cdn\.bokeh\.org/', cdn.read_text(encoding="utf-8"))


def must(name: str, expected: str, got: str) -> str:
    return f"The {name!r} parameter of write_report must be {expected}. Got {got} instead."


_HEATMAP = "a non-empty Series of numbers indexed by named parameter levels"
_TOP = "a non-empty DataFrame with columns 'n1', 'n2', 'Sharpe Ratio'"
_EVALUATED = "an int >= 1 and <= n_admissible (11)"


@pytest.mark.parametrize(
    ("bad", "exception", "message"),
    [
        (lambda d: {"filename": 3}, TypeError, must("filename", "a file path in an existing directory", "3")),
        (lambda d: {"filename": "/no/such/dir/x.html"}, ValueError,
         must("filename", "a file path in an existing directory", "'/no/such/dir/x.html'")),
        (lambda d: {"title": None}, TypeError, must("title", "a non-empty str", "None")),
        (lambda d: {"objective": "  "}, ValueError, must("objective", "a non-empty str", "'  '")),
        (lambda d: {"settings": [("method", "grid")]}, TypeError,
         must("settings", "a mapping of setting names (str) to values", "[('method', 'grid')]")),
        (lambda d: {"n_admissible": 0}, ValueError, must("n_admissible", "an int >= 1 or None", "0")),
        (lambda d: {"n_evaluated": 12}, ValueError, must("n_evaluated", _EVALUATED, "12")),
        (lambda d: {"n_evaluated": 2.0}, ValueError, must("n_evaluated", _EVALUATED, "2.0")),
        (lambda d: {"elapsed": "1 s"}, TypeError, must("elapsed", "a number of seconds >= 0", "'1 s'")),
        (lambda d: {"elapsed": -1.0}, ValueError, must("elapsed", "a number of seconds >= 0", "-1.0")),
        (lambda d: {"heatmap": [1.0]}, TypeError, must("heatmap", _HEATMAP, "[1.0]")),
        (lambda d: {"heatmap": d["heatmap"].rename(None)}, ValueError,
         must("heatmap", "named after the objective", "a Series named None")),
        (lambda d: {"top": {}}, TypeError, must("top", _TOP, "dict")),
        (lambda d: {"top": d["top"].drop(columns="n2")}, ValueError,
         must("top", _TOP, "5 rows without 'n2'")),
        (lambda d: {"top": d["top"].iloc[:0]}, ValueError, must("top", _TOP, "0 rows")),
        (lambda d: {"best_chart": "chart"}, TypeError,
         must("best_chart", "a Bokeh layout or None", "'chart'")),
        (lambda d: {"resources": "web"}, ValueError, must("resources", "'inline' or 'cdn'", "'web'")),
    ],
)  # fmt: skip
def test_bad_arguments_raise_before_anything_is_written(
    inputs: dict, tmp_path: Path, bad: Any, exception: type, message: str
) -> None:
    kwargs = {"filename": tmp_path / "x.html", **arguments(inputs), **bad(inputs)}
    with pytest.raises(exception) as info:
        write_report(**kwargs)
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_the_inputs_are_left_untouched(build: Any, inputs: dict) -> None:
    heatmap, top = inputs["heatmap"].copy(), inputs["top"].copy()
    build(inputs)
    pd.testing.assert_series_equal(inputs["heatmap"], heatmap)
    pd.testing.assert_frame_equal(inputs["top"], top)


def test_renders_in_a_browser_with_no_outside_request(browser: Any, page: Path) -> None:
    rendered = browser.render(page, name="report")
    # a canvas for the heatmap and for each of the chart's panels: equity, P/L, price, volume
    assert rendered.canvases >= 5, f"only {rendered.canvases} canvases drew; see {rendered.screenshot}"
    assert rendered.errors == [], f"JavaScript errors: {rendered.errors}"
    assert rendered.outside_requests == [], f"requests leaving the page: {rendered.outside_requests}"


@pytest.fixture(scope="module")
def extras(inputs: dict) -> dict[str, Any]:
    """The optional sections' inputs, as write_study_report gathers them from a study."""
    heatmap, best = inputs["heatmap"], inputs["best"]
    cells = pd.Series("pruned", index=pd.MultiIndex.from_product([[5, 10, 20], [20, 40, 60, 80]],
                                                                  names=["n1", "n2"]))
    cells[heatmap.index] = "ok"
    run = Backtest(load_daily(), SmaCross, commission=0.001, finalize_trades=True).run(n1=best.n1, n2=best.n2)
    return {"details": {"Backtest": {"cash": 10_000.0, "commission": 0.001}, "Data": {"bars": "2,500"}},
            "cells": cells, "sensitivity": {"n1": heatmap.xs(best.n2, level="n2"),
                                            "n2": heatmap.xs(best.n1, level="n1")},
            "values": heatmap, "best_stats": run, "trades": run["_trades"], "trials_link": "opt.trials.csv"}


def test_the_optional_sections_in_order(build: Any, inputs: dict, extras: dict) -> None:
    layout = build(inputs, **extras)
    headings = re.findall(r"<h[123]>(.*?)</h[123]>", texts(layout))
    best = f"Best run: n1 = {inputs['best'].n1}, n2 = {inputs['best'].n2}"
    assert headings == [inputs["title"], "Search settings", "Backtest", "Data", "Heatmaps", "Sensitivity",
                        "Distribution of Sharpe Ratio", "Top 5 parameter sets", best, "Stats", "Trades",
                        "Chart"]
    text = texts(layout)
    assert "<th>cash</th><td>10,000.00</td>" in text and "<th>commission</th><td>0.001</td>" in text
    assert "<a href='opt.trials.csv'>opt.trials.csv</a>" in text
    # (20, 20) is the one pruned combination: the note says what the hatched cell is, nothing else
    assert "Hatched cells were pruned by the constraint" in text and "Grey cells" not in text
    assert all(child.width == PAGE_WIDTH for child in layout.children if isinstance(child, (Div, DataTable)))


def test_the_best_run_stats_and_trades(build: Any, inputs: dict, extras: dict) -> None:
    layout = build(inputs, **extras)
    run = extras["best_stats"]
    stats = re.search(r"<table class='stats'>.*?</table>", texts(layout)).group(0)
    shown = re.findall(r"<th>(.*?)</th>", stats)  # filled column by column: every key once
    assert sorted(shown) == sorted(escape(key) for key in run.index if not key.startswith("_"))
    assert f"<th># Trades</th><td>{run['# Trades']}</td>" in stats
    (table,) = [table for table in layout.select({"type": DataTable}) if table.columns[0].title == "Size"]
    titles = [column.title for column in table.columns]
    assert len(table.source.data["column0"]) == len(run["_trades"]) and "PnL" in titles and "SL" not in titles
    assert "Columns with no value are left out (SL, TP, Tag)" in texts(layout)


def test_sensitivity_and_distribution_plots(build: Any, inputs: dict, extras: dict) -> None:
    layout = build(inputs, **extras)
    grids = [child for child in layout.children if isinstance(child, GridPlot)]
    sensitivity = grids[1]  # after the heatmaps
    lines = [fig.renderers[0].data_source.data for fig, *_ in sensitivity.children]
    np.testing.assert_array_equal(lines[0]["value"], extras["sensitivity"]["n1"].to_numpy())
    histogram = next(child for child in layout.children if type(child).__name__ == "figure")
    counts = histogram.select_one({"type": ColumnDataSource}).data["count"]
    assert counts.sum() == inputs["heatmap"].notna().sum()  # every value that scored, once


def test_a_minimised_objective_shows_the_lowest_value_of_each_cell(build: Any, inputs: dict) -> None:
    index = pd.MultiIndex.from_product([[1, 2], [3, 4], [5, 6]], names=["a", "b", "c"])
    heatmap = pd.Series(np.arange(8.0), index=index, name="Ulcer Index")
    top = pd.DataFrame({"a": [1], "b": [3], "c": [5], "Ulcer Index": [0.0]})
    grid = next(c for c in build(inputs, heatmap=heatmap, top=top, maximize=False).children
                if isinstance(c, GridPlot))
    first = grid.children[0][0].select_one({"type": ColumnDataSource}).data
    # (a, b) = (1, 3) over c in {5, 6}: values 0 and 1, the lowest 0
    assert dict(zip(zip(first["x"], first["y"], strict=True), first["value"], strict=True))[("1", "3")] == 0.0


@pytest.mark.parametrize(
    ("bad", "exception", "message"),
    [
        ({"cells": ["ok"]}, TypeError,
         must("cells", "None or a Series of cell states ('ok', 'no_trades', 'infeasible', 'failed', "
                       "'pruned', 'not_evaluated') indexed by 'n1', 'n2'", "['ok']")),
        ({"values": [1.0]}, TypeError,
         must("values", "a Series of the objective's values, or None", "[1.0]")),
        ({"trials_link": 3}, TypeError, must("trials_link", "a relative link (str) or None", "3")),
    ],
)  # fmt: skip
def test_bad_optional_inputs(inputs: dict, tmp_path: Path, bad: dict, exception: type, message: str) -> None:
    with pytest.raises(exception) as info:
        write_report(tmp_path / "x.html", **arguments(inputs), **bad)
    assert str(info.value) == message
    assert list(tmp_path.iterdir()) == []


def test_extra_sections_follow_the_best_run(build: Any, inputs: dict) -> None:
    extra = Div(text="<h2>Walk-forward</h2>", width=PAGE_WIDTH)
    layout = build(inputs, sections=[extra])
    assert layout.children[-2] is extra  # then the footer
    with pytest.raises(TypeError, match="must be a list of Bokeh layouts. Got a list holding a str instead"):
        build(inputs, sections=["<h2>x</h2>"])


def test_write_page_writes_titled_sections(tmp_path: Path) -> None:
    path = _report.write_page(tmp_path / "wf.html", title="Walk <forward>", resources="cdn",
                              sections=[Div(text="<h2>Windows</h2>")])
    html = path.read_text(encoding="utf-8")
    assert "Walk &lt;forward&gt;" in html and "Windows" in html
    with pytest.raises(TypeError, match="of write_page must be a list of Bokeh layouts. Got Div"):
        _report.write_page(tmp_path / "x.html", title="x", sections=Div())
    with pytest.raises(ValueError, match="'title' parameter of write_page must be a non-empty str"):
        _report.write_page(tmp_path / "x.html", title=" ", sections=[])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wf.html"]
