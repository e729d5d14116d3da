"""The command line: read the studies that ``optimize(..., study='runs.db')`` saved, without Python.

``python -m backtestkit`` (or the ``backtestkit`` command) lists the studies in a file, shows their best
trials as a table (filtered and sorted), writes a study's HTML report or its trials as CSV/Parquet, and
deletes a study. Every command reads the file only, except ``delete``; errors are one line on stderr
and exit code 2. See doc/cli.md.
"""

from __future__ import annotations

import argparse
import math
import operator
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._errors import unknown_name_error
from backtestkit._params import param_string
from backtestkit._version import __version__
from backtestkit.optimize import STATES, StoreError, Study, load_study
from backtestkit.optimize._report import REPORT_COLUMNS
from backtestkit.optimize._store import Store

PROG = "backtestkit"
#: What ``--where`` compares with, longest first so that ``>=`` is not read as ``>``.
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
# The column is everything left of the last operator: column names may hold spaces and brackets.
_WHERE = re.compile(r"^\s*(?P<column>.*\S)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<number>[^\s<>=!]+)\s*$")
_WHERE_FORM = (
    'expected <column> <op> <number> with <op> one of >=, <=, >, <, ==, != (e.g. --where "# Trades >= 30")'
)


class CommandError(ValueError):
    """A mistake on the command line: printed as one line, exit code 2."""


# --- reading a study file -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> Study:
    return load_study(args.file, args.study)


def _started(info: dict[str, Any]) -> str:
    """When the search started, to the minute, in UTC.

    >>> _started({'started': '2024-08-01T16:00:54+00:00'}), _started({})
    ('2024-08-01 16:00 UTC', '')
    """
    started = info.get("started")
    if not started:
        return ""
    return pd.Timestamp(started).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


# --- commands -------------------------------------------------------------------------------------


def list_studies(args: argparse.Namespace) -> None:
    """``list FILE``: one line per study (read from the file's summaries: no study is loaded)."""
    with Store(args.file, create=False) as store:
        found = store.summaries()
    if not found:
        print(f"{args.file}: no studies.")
        return
    rows = [{"study": s["name"], "state": s["state"], "trials": sum(s[state] for state in STATES),
             "ok": s["ok"], "no trades": s["no_trades"], "infeasible": s["infeasible"], "failed": s["failed"],
             "objective": _objective(s["info"]), "best": s["best"],
             "strategy": s["info"].get("strategy", ""), "started": _started(s["info"])} for s in found]
    table = pd.DataFrame(rows)
    if not table["infeasible"].any():
        table = table.drop(columns="infeasible")
    print(f"{args.file}: {len(rows)} stud{'ies' if len(rows) != 1 else 'y'}")
    print(text_table(table))


def show(args: argparse.Namespace) -> None:
    """``show FILE [STUDY]``: the best trials as a table."""
    study = _load(args)
    frame = ranked(study)
    known = [*study.param_names, study.objective, "value", *study.metric_names, "state", "duration", "number"]
    for text in args.where:
        frame = where(frame, text, known)
    if args.sort is not None:
        column = _known(args.sort, known, "show --sort")
        first_low = not study.maximize if column in ("value", study.objective) else args.ascending
        frame = frame.sort_values(column, ascending=first_low, na_position="last", kind="stable")
    if args.columns:
        stats = [_known(name, known, "show --columns") for name in args.columns]
    else:
        stats = [name for name in REPORT_COLUMNS if name in study.metric_names and name != study.objective]
    columns = list(dict.fromkeys([*study.param_names, study.objective, *stats]))
    if args.param_strings:  # one pasteable column last, in place of the parameters' columns
        combinations = frame[study.param_names].to_dict("records")
        frame = frame.assign(params=[param_string(params) for params in combinations])
        columns = [*(c for c in columns if c not in study.param_names), "params"]
    finished = int((study.trials_dataframe()["state"] != "failed").sum())
    print(
        f"{study.name}: {_objective(study.info)}; {len(frame):,} of {finished:,} finished trials"
        + (f" match {' and '.join(args.where)}" if args.where else "")
        + (f", top {min(args.top, len(frame))} shown" if len(frame) > args.top else "")
    )
    if study.info.get("stopped"):
        print(f"stopped early: {study.info['stopped']}")
    if len(frame):
        print(text_table(frame[columns].head(args.top), rank=True))


def report(args: argparse.Namespace) -> None:
    """``report FILE [STUDY]``: the study's HTML report (and its trials' CSV next to it)."""
    study = _load(args)
    path = Path(args.output or f"{_file_name(study.name)}-report.html")
    _check_folder(path)
    written = study.write_report(path)
    print(f"Wrote the report of study {study.name!r} to {written}.")


def export(args: argparse.Namespace) -> None:
    """``export FILE [STUDY]``: every trial, as CSV (or to stdout with ``-o -``) or Parquet."""
    study = _load(args)
    output = args.output or f"{_file_name(study.name)}.csv"
    if output == "-":
        sys.stdout.write(study.trials_dataframe().to_csv(index=False))
        return
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CommandError(
            f"The output of export must be a .csv or .parquet file, or - for CSV on stdout. "
            f"Got {output!r} instead."
        )
    _check_folder(path)
    if suffix == ".csv":
        study.to_csv(path)
    else:
        try:
            study.to_parquet(path)
        except ImportError:
            message = "Writing Parquet needs pyarrow: pip install pyarrow, or export to .csv."
            raise CommandError(message) from None
    print(f"Wrote {len(study):,} trials of study {study.name!r} to {path}.")


def delete(args: argparse.Namespace) -> None:
    """``delete FILE STUDY``: remove a study and its trials (refused while it is being written)."""
    with Store(args.file, create=False) as store:
        found = {s["name"]: s for s in store.summaries()}
        if args.study not in found:
            raise store.unknown(args.study)
        n_trials = sum(found[args.study][state] for state in STATES)
        store.delete(args.study)
    print(f"Deleted study {args.study!r} ({n_trials:,} trials) from {args.file}.")


# --- the pieces -----------------------------------------------------------------------------------


def ranked(study: Study) -> pd.DataFrame:
    """The latest finished trial of every combination, best first, the value also under the
    objective's name."""
    top = study.top(len(study))
    return top.assign(**{study.objective: top["value"]})


def where(frame: pd.DataFrame, text: str, known: Sequence[str]) -> pd.DataFrame:
    """The rows of ``frame`` for which ``text`` (``<column> <op> <number>``) holds; NaN never does.

    >>> frame = pd.DataFrame({'Max. Drawdown [%]': [-30.0, -20.0, float('nan')]})
    >>> where(frame, 'Max. Drawdown [%] > -25', list(frame))
       Max. Drawdown [%]
    1              -20.0
    """
    match = _WHERE.match(text)
    number = _number(match["number"]) if match else None
    if match is None or number is None:
        raise CommandError(f"Cannot read --where {text!r}: {_WHERE_FORM}.")
    column = _known(match["column"], known, "show --where")
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise CommandError(f"Cannot read --where {text!r}: the column {column!r} does not hold numbers.")
    return frame[values.notna() & OPERATORS[match["op"]](values, number)]


def _number(text: str) -> float | None:
    try:
        number = float(text.replace("_", ""))
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _known(name: str, known: Sequence[str], owner: str) -> str:
    if name not in known:
        raise CommandError(str(unknown_name_error("column", name, list(dict.fromkeys(known)), owner)))
    return name


def _objective(info: dict[str, Any]) -> str:
    """The objective and its direction, from a study's info."""
    direction = "maximised" if info.get("maximize", True) else "minimised"
    return f"{info.get('objective', 'objective')} ({direction})"


def _file_name(name: str) -> str:
    """A study's name made safe as a file name.

    >>> _file_name('SmaCross/daily 2024')
    'SmaCross_daily_2024'
    """
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "study"


def _check_folder(path: Path) -> None:
    if path.is_dir() or not path.resolve().parent.is_dir():
        raise CommandError(f"Cannot write {str(path)!r}: give a file name in an existing folder.")


def text_table(frame: pd.DataFrame, *, rank: bool = False) -> str:
    """``frame`` as aligned text: numbers right-aligned to about four significant digits, a rule
    under the header, a ``#`` rank column first when ``rank``.

    >>> print(text_table(pd.DataFrame({'n1': [50, 5], 'Sharpe Ratio': [0.54, float('nan')]}), rank=True))
    #  n1  Sharpe Ratio
    -  --  ------------
    1  50        0.5400
    2   5           NaN
    """
    columns = {"#": [str(i) for i in range(1, len(frame) + 1)]} if rank else {}
    right = {"#"}
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns[str(name)] = format_numbers(values.to_numpy(dtype=float))
            right.add(str(name))
        else:
            columns[str(name)] = ["" if v is None or v is pd.NA else str(v) for v in values]
    widths = {name: max([len(name), *map(len, cells)]) for name, cells in columns.items()}

    def line(cells: dict[str, str]) -> str:
        text = "  ".join(
            cells[name].rjust(widths[name]) if name in right else cells[name].ljust(widths[name])
            for name in columns
        )
        return text.rstrip()

    lines = [line({name: name for name in columns}), line({name: "-" * widths[name] for name in columns})]
    lines += [line({name: cells[i] for name, cells in columns.items()}) for i in range(len(frame))]
    return "\n".join(lines)


def format_numbers(values: np.ndarray) -> list[str]:
    """A column's numbers with one number of decimals: about four significant digits for its largest
    value, none for whole numbers; thousands separated.

    >>> format_numbers(np.array([0.5477, -0.1])), format_numbers(np.array([178.94, 20.0]))
    (['0.5477', '-0.1000'], ['178.9', '20.0'])
    >>> format_numbers(np.array([20.0, 1500.0, np.nan]))
    ['20', '1,500', 'NaN']
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.all(finite == np.round(finite)):
        decimals = 0
    else:
        decimals = int(np.clip(3 - math.floor(math.log10(max(np.abs(finite).max(), 1e-12))), 1, 6))
    return ["NaN" if math.isnan(v) else f"{v:,.{decimals}f}" for v in values]


# --- the parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``backtestkit`` command and its sub-commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read the parameter searches (studies) that optimize(..., study='runs.db') "
        "saved: list them, show their best trials, write their report, export or delete them.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[[argparse.Namespace], None], text: str, *, study: str = "optional"
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("file", metavar="FILE", help="the study file, e.g. runs.db")
        if study == "optional":
            sub.add_argument(
                "study",
                metavar="STUDY",
                nargs="?",
                help="the study's name (may be left out when the file holds one study)",
            )
        elif study == "required":
            sub.add_argument("study", metavar="STUDY", help="the study's name")
        sub.set_defaults(run=run)
        return sub

    command(
        "list",
        list_studies,
        "List the studies in a file: trial counts, best value, state, strategy, when.",
        study="none",
    )
    _show_options(command("show", show, "Show a study's best trials as a table."))
    command(
        "report",
        report,
        "Write a study's HTML report from its stored trials (no chart: that needs "
        "the data and the strategy).",
    ).add_argument(
        "-o", "--output", metavar="OUT.html", help="the page to write (default: <STUDY>-report.html)"
    )
    command(
        "export", export, "Write every trial of a study (parameters, value, state, stats) to a file."
    ).add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="a .csv or .parquet file, or - for CSV on stdout (default: <STUDY>.csv)",
    )
    command(
        "delete",
        delete,
        "Delete a study and its trials from the file (refused while another process writes it).",
        study="required",
    )
    return parser


def _show_options(show_parser: argparse.ArgumentParser) -> None:
    show_parser.add_argument(
        "--top", type=_positive, default=20, metavar="N", help="how many trials to show (default 20)"
    )
    show_parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="CONDITION",
        help="keep the trials for which '<column> <op> <number>' holds, op one of "
        '>=, <=, >, <, ==, != (e.g. "Max. Drawdown [%%] > -25"); may repeat',
    )
    show_parser.add_argument(
        "--sort",
        metavar="COLUMN",
        help="order by this column: best first for the objective, highest first "
        "for others (default: the objective)",
    )
    show_parser.add_argument("--ascending", action="store_true", help="with --sort: lowest first")
    show_parser.add_argument(
        "--columns",
        nargs="+",
        metavar="COLUMN",
        help="the stats columns to show after the parameters and the objective "
        "(default: return, Sharpe ratio, drawdown, trades, win rate, SQN)",
    )
    show_parser.add_argument(
        "--param-strings",
        action="store_true",
        help="show each trial's parameters as one pasteable string, last (e.g. n1=10,n2=30; "
        "backtestkit.parse_params reads it back)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: the process's arguments); returns the exit code.

    >>> main(['show', '/no/such/runs.db'])
    2
    """
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (StoreError, CommandError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `backtestkit show ... | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error when Python flushes
        return 1
    return 0
