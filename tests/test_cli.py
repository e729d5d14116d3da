"""The command line, end to end: ``python -m backtestkit ...`` in a subprocess on studies made here."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest
from backtestkit.cli import where
from backtestkit.datasets import load_daily
from backtestkit.optimize import Outcome, load_study, run_search
from backtestkit.optimize._store import Store
from tests.test_chart import SmaCross


def toy(p: dict) -> Outcome:
    """value = -(x - 3)^2 - y; x = 0 makes no trade; '# Trades' = 10 x."""
    x, y = p["x"], p["y"]
    if x == 0:
        return Outcome("no_trades", np.nan, np.array([0.0]), 0.0)
    return Outcome("ok", -((x - 3) ** 2) - y, np.array([10.0 * x]), 0.0)


def broken(p: dict) -> float:
    if p["x"] == 2:
        raise ZeroDivisionError("x = 2 divides by zero")
    return float(p["x"])


def search(objective, storage: Path, name: str, **params) -> None:
    run_search(
        objective,
        params,
        known_params=list(params),
        n_jobs=1,
        show_progress=False,
        storage=storage,
        study_name=name,
        objective_name="score",
        metric_names=["# Trades"],
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one.db (the study 'toy': x in 0..5, y in 0..1, 2 without trades) and two.db
    ('toy' again and 'broken', which failed at x = 2 after x = 0 and 1)."""
    folder = tmp_path_factory.mktemp("cli")
    search(toy, folder / "one.db", "toy", x=range(6), y=[0, 1])
    search(toy, folder / "two.db", "toy", x=range(6), y=[0, 1])
    with pytest.raises(ZeroDivisionError):
        search(broken, folder / "two.db", "broken", x=range(5))
    (folder / "notes.txt").write_text("not a study\n")
    (folder / "empty.db").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def backtest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real search: 3 x 3 grid of SmaCross, n1 < n2 leaves 8 combinations, every stats key kept."""
    path = tmp_path_factory.mktemp("cli-bt") / "runs.db"
    bt = Backtest(load_daily(), SmaCross, commission=0.002, finalize_trades=True)
    bt.optimize(
        n1=[5, 10, 20],
        n2=[20, 40, 60],
        constraint=lambda p: p.n1 < p.n2,
        maximize="Sharpe Ratio",
        n_jobs=1,
        show_progress=False,
        study=path,
    )
    return path


def cli(*args: str | Path, cwd: Path, code: int = 0) -> str:
    """Run the command in ``cwd``; returns stdout, after checking the exit code (and an empty stderr)."""
    command = [sys.executable, "-m", "backtestkit", *map(str, args)]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    assert code or done.stderr == "", done.stderr
    return done.stdout if code == 0 else done.stderr


def rows(table: str) -> list[list[str]]:
    """A text table's cells (columns are two or more spaces apart), header first, rule left out."""
    lines = [line for line in table.splitlines() if line.strip() and not set(line) <= {"-", " "}]
    return [re.split(r"\s{2,}", line.strip()) for line in lines]


def test_list_counts_the_trials_by_state_with_the_best_and_when(files: Path) -> None:
    out = cli("list", "two.db", cwd=files)
    title, table = out.split("\n", 1)
    assert title == "two.db: 2 studies"
    header, toy_row, broken_row = rows(table)
    assert header == [
        "study",
        "state",
        "trials",
        "ok",
        "no trades",
        "failed",
        "objective",
        "best",
        "strategy",
        "started",
    ]
    # toy: 12 trials, x = 0 (2 of them) made no trade; best -(3-3)^2 - 0 = 0
    assert toy_row[:8] == ["toy", "complete", "12", "10", "2", "0", "score (maximised)", "0"]
    # broken: x = 0 and 1 scored, x = 2 failed and stopped the search; best 1.0
    assert broken_row[:8] == ["broken", "failed", "3", "2", "0", "1", "score (maximised)", "1"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", toy_row[-1])  # no strategy: a plain function


def test_a_running_study_whose_writer_is_gone_is_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    search(toy, path, "toy", x=range(3), y=[0])
    with Store(path) as store:  # as a search killed mid-way leaves it: 'running', nobody holding it
        study_id, info, _ = store.find("toy")
        store.update(study_id, state="running", info=info)
    writer = Store(path)
    writer.lock(study_id, "toy")  # this process writes it
    try:
        assert rows(cli("list", path, cwd=tmp_path).split("\n", 1)[1])[1][1] == "running"
    finally:
        writer.close()
    assert rows(cli("list", path, cwd=tmp_path).split("\n", 1)[1])[1][1] == "interrupted"


def test_show_ranks_the_best_trials_with_their_stats(backtest_file: Path) -> None:
    out = cli("show", backtest_file.name, "--top", "3", cwd=backtest_file.parent)
    title, table = out.split("\n", 1)
    assert title == "SmaCross: Sharpe Ratio (maximised); 8 of 8 finished trials, top 3 shown"
    header, *shown = rows(table)
    assert header == [
        "#",
        "n1",
        "n2",
        "Sharpe Ratio",
        "Return [%]",
        "Max. Drawdown [%]",
        "# Trades",
        "Win Rate [%]",
        "SQN",
    ]
    top = load_study(backtest_file).top(3)
    assert [row[:3] for row in shown] == [[str(i + 1), str(r.n1), str(r.n2)] for i, r in top.iterrows()]
    assert [row[3] for row in shown] == [f"{value:.4f}" for value in top["Sharpe Ratio"]]
    assert [row[6] for row in shown] == [f"{value:.0f}" for value in top["# Trades"]]


def test_show_filters_on_columns_with_spaces_and_brackets_and_sorts(backtest_file: Path) -> None:
    trials = load_study(backtest_file).top(8)
    wanted = trials[(trials["# Trades"] >= 20) & (trials["Max. Drawdown [%]"] > -40)]
    assert 0 < len(wanted) < len(trials)  # the filter keeps some and drops some
    out = cli(
        "show",
        backtest_file.name,
        "SmaCross",
        "--where",
        "# Trades >= 20",
        "--where",
        "Max. Drawdown [%]>-40",
        "--sort",
        "# Trades",
        "--columns",
        "# Trades",
        cwd=backtest_file.parent,
    )
    title, table = out.split("\n", 1)
    matched = "match # Trades >= 20 and Max. Drawdown [%]>-40"
    assert title.endswith(f"{len(wanted)} of 8 finished trials {matched}")
    header, *shown = rows(table)
    assert header == ["#", "n1", "n2", "Sharpe Ratio", "# Trades"]
    expected = wanted.sort_values("# Trades", ascending=False, kind="stable")
    assert [(row[1], row[2], row[4]) for row in shown] == [
        (str(r.n1), str(r.n2), f"{r['# Trades']:.0f}") for _, r in expected.iterrows()
    ]


@pytest.mark.parametrize(
    ("condition", "kept"),
    [
        ("Max. Drawdown [%] > -25", [1]),
        ("Max. Drawdown [%]>=-20", [1]),
        ("Max. Drawdown [%] < -20", [0]),
        ("Max. Drawdown [%] != -30", [1]),  # NaN never passes, not even !=
        ("Max. Drawdown [%] == -30.0", [0]),
        ("Max. Drawdown [%] <= 1_000", [0, 1]),
        ("a<b >= 2", [1, 2]),  # the operator is the last one: the column is 'a<b'
    ],
)
def test_where_reads_the_condition_from_the_right(condition: str, kept: list[int]) -> None:
    frame = pd.DataFrame({"Max. Drawdown [%]": [-30.0, -20.0, np.nan], "a<b": [1, 2, 3]})
    assert list(where(frame, condition, list(frame)).index) == kept


def test_report_writes_the_page_from_the_stored_trials(backtest_file: Path, tmp_path: Path) -> None:
    out = cli("report", backtest_file, "-o", "r.html", cwd=tmp_path)
    assert out == "Wrote the report of study 'SmaCross' to r.html.\n"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "SmaCross on 2,500 bars" in html and "No chart: drawing the best run needs" in html


def test_export_csv_parquet_and_stdout(files: Path, tmp_path: Path) -> None:
    expected = load_study(files / "one.db").trials_dataframe()
    assert cli("export", files / "one.db", cwd=tmp_path) == "Wrote 12 trials of study 'toy' to toy.csv.\n"
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "toy.csv")[["x", "y", "value"]], expected[["x", "y", "value"]]
    )
    cli("export", files / "two.db", "broken", "-o", "b.parquet", cwd=tmp_path)
    parquet = pd.read_parquet(tmp_path / "b.parquet")
    assert list(parquet["state"]) == ["ok", "ok", "failed"] and "divides by zero" in parquet["error"][2]
    printed = cli("export", files / "one.db", "-o", "-", cwd=tmp_path)
    assert printed.splitlines()[0] == "number,x,y,value,state,# Trades,duration,error"
    assert len(printed.splitlines()) == 13


def test_delete_removes_a_study_unless_it_is_being_written(files: Path, tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    search(toy, path, "a", x=range(3), y=[0])
    search(toy, path, "b", x=range(2), y=[0])
    writer = Store(path)
    writer.lock(writer.find("a")[0], "a")
    try:
        message = cli("delete", path.name, "a", cwd=tmp_path, code=2)
    finally:
        writer.close()
    assert message == (
        "backtestkit delete: error: The study 'a' in 'runs.db' is being written by another "
        "process. Wait for it to finish, or give this search another study_name=.\n"
    )
    assert cli("delete", path.name, "a", cwd=tmp_path) == "Deleted study 'a' (3 trials) from runs.db.\n"
    with Store(path) as store:
        assert store.names() == ["b"]
    assert len(load_study(path)) == 2  # the other study and its trials are untouched


def error(command: str, message: str) -> str:
    return f"backtestkit {command}: error: {message}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "missing.db"], error("show", "No study file at 'missing.db'. Check the path, or run a "
                                               "search with optimize(..., study='missing.db') to create "
                                               "one.")),
        (["list", "notes.txt"], error("list", "'notes.txt' is not a backtestkit study store (file is not a "
                                              "database).")),
        (["list", "empty.db"], error("list", "'empty.db' is an empty file, not a backtestkit study store.")),
        (["show", "two.db"], error("show", "'two.db' holds 2 studies ('toy', 'broken'): name the one to "
                                           "load.")),
        (["report", "two.db", "brokn"], error("report", "No study named 'brokn' in 'two.db'. It has: 'toy', "
                                                        "'broken'. Did you mean 'broken'?")),
        (["delete", "two.db", "ty"], error("delete", "No study named 'ty' in 'two.db'. It has: 'toy', "
                                                     "'broken'. Did you mean 'toy'?")),
        (["show", "one.db", "--where", "# Trade >= 3"],
         error("show", "Unknown column '# Trade' for show --where. Known: '# Trades', 'duration', 'number', "
                       "'score', 'state', 'value', 'x', 'y'. Did you mean '# Trades'?")),
        (["show", "one.db", "--where", "x >= three"],
         error("show", "Cannot read --where 'x >= three': expected <column> <op> <number> with <op> one "
                       "of >=, <=, >, <, ==, != (e.g. --where \"# Trades >= 30\").")),
        (["show", "one.db", "--where", "state == 1"],
         error("show", "Cannot read --where 'state == 1': the column 'state' does not hold numbers.")),
        (["show", "one.db", "--sort", "Score"],
         error("show", "Unknown column 'Score' for show --sort. Known: '# Trades', "
               "'duration', 'number', 'score', 'state', 'value', 'x', 'y'. Did you mean 'score'?")),
        (["export", "one.db", "-o", "trials.xlsx"],
         error("export", "The output of export must be a .csv or .parquet file, or - for CSV on stdout. Got "
                         "'trials.xlsx' instead.")),
        (["report", "one.db", "-o", "no/such/folder/r.html"],
         error("report", "Cannot write 'no/such/folder/r.html': give a file name in an existing folder.")),
    ],
)  # fmt: skip
def test_errors_are_one_line_with_exit_code_2(files: Path, args: list[str], message: str) -> None:
    assert cli(*args, cwd=files, code=2) == message


def test_argument_mistakes_are_argparse_errors(files: Path) -> None:
    usage = cli("show", "one.db", "--top", "0", cwd=files, code=2)
    expected = "backtestkit show: error: argument --top: expected a whole number >= 1, got '0'"
    assert usage.splitlines()[-1] == expected
    assert cli(cwd=files, code=2).splitlines()[-1] == (
        "backtestkit: error: the following arguments are required: COMMAND"
    )


@pytest.mark.parametrize("command", ["list", "show", "report", "export", "delete"])
def test_every_command_has_help(files: Path, command: str) -> None:
    out = cli(command, "--help", cwd=files)
    assert out.startswith(f"usage: backtestkit {command} ") and "FILE" in out


def test_the_backtestkit_command_is_installed() -> None:
    (script,) = entry_points(group="console_scripts", name="backtestkit")
    assert script.value == "backtestkit.cli:main"


def test_a_stopped_study_is_listed_as_stopped_and_show_says_why(tmp_path: Path) -> None:
    # toy's best, 0 at x = 3, reaches the target in the batch that holds x = 3
    run_search(toy, {"x": range(6), "y": [0, 1]}, known_params=["x", "y"], n_jobs=1, show_progress=False,
               storage=tmp_path / "runs.db", study_name="toy", objective_name="score",
               metric_names=["# Trades"], target=0)
    table = cli("list", "runs.db", cwd=tmp_path).split("\n", 1)[1]
    assert rows(table)[1][:2] == ["toy", "stopped"]
    assert "stopped early: target reached: 0 >= 0\n" in cli("show", "runs.db", cwd=tmp_path)


def test_show_gives_pasteable_parameter_strings(backtest_file: Path) -> None:
    from backtestkit import parse_params

    out = cli("show", backtest_file.name, "--top", "2", "--param-strings", "--columns", "# Trades",
              cwd=backtest_file.parent)
    header, *shown = rows(out.split("\n", 1)[1])
    assert header == ["#", "Sharpe Ratio", "# Trades", "params"]
    top = load_study(backtest_file).top(2)
    assert [row[-1] for row in shown] == [f"n1={r.n1},n2={r.n2}" for _, r in top.iterrows()]
    assert parse_params(shown[0][-1]) == {"n1": top.n1[0], "n2": top.n2[0]}
