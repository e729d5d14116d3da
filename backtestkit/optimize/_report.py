"""The report of a study: the plotting package's page, filled from the stored trials (nothing re-run).

Besides the search, the page shows what the study recorded of the backtest (settings, data, when it
ran), the objective against each parameter and its distribution, the best run's stats (its trial's)
and trades (when the caller ran it), and the state of every cell of the grid: a full grid search that
completed ran every combination the constraint admits, so a combination it has no trial of was
pruned; any other search simply did not evaluate it. The trials are written as CSV beside the page.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize._trial import Study

REPORT_COLUMNS = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]", "SQN")
REPORT_ROWS = 20
#: Grids with more combinations than this get no cell states (their heatmaps show the trials only).
MAX_CELLS = 250_000


def write_study_report(
    study: Study, path: Any, *, best_run: pd.Series | None = None, chart: Any = None, sections: Any = ()
) -> Any:
    """Write ``study``'s report to ``path`` and its trials to ``<path stem>.trials.csv`` beside it;
    ``best_run`` (its stats) and ``chart`` (a Bokeh layout of it) add the best run's trades and chart
    when the caller has them; ``sections`` (Bokeh layouts) are shown after them."""
    from backtestkit.plotting._report import write_report

    finished = study.top(len(study))
    if finished.empty:
        raise ValueError(f"The study {study.name!r} has no finished trial yet: there is nothing to report.")
    top = finished.head(REPORT_ROWS)
    columns = [name for name in REPORT_COLUMNS if name in study.metric_names]
    rows = top[[*study.param_names, *columns]].assign(**{study.objective: top["value"]})
    info = study.info
    csv = trials_csv_path(path)
    written = write_report(
        path,
        title=_title(study),
        objective=f"{study.objective} ({'maximised' if study.maximize else 'minimised'})",
        settings=_search_settings(info),
        n_admissible=study.n_admissible,
        n_evaluated=study.n_evaluated,
        elapsed=info.get("elapsed", 0.0),
        heatmap=study.heatmap(),
        top=rows,
        best_chart=chart,
        maximize=study.maximize,
        details=details(info),
        cells=cell_states(study),
        sensitivity=sensitivity(study, finished),
        values=finished["value"],
        best_stats=_best_stats(study, best_run),
        trades=_trades(best_run),
        trials_link=csv.name,
        sections=[*pareto(study), *sections],
    )
    study.to_csv(csv)
    return written


def pareto(study: Study) -> list[Any]:
    """The Pareto section of a study of several objectives (table and scatter), else nothing."""
    if len(study.objectives) < 2:
        return []
    from backtestkit.plotting._pareto import finite_rows, pareto_section

    first = study.objectives[0][0]
    names = [name for name, _ in study.objectives]
    trials = study.top(len(study))  # the latest finished trial of each combination
    trials = trials[trials["state"] == "ok"].assign(**{first: lambda t: t["value"]})
    front = study.pareto_front().assign(**{first: lambda t: t["value"]})
    return pareto_section(front, finite_rows(trials, names), study.objectives, study.param_names)


def trials_csv_path(path: Any) -> Path:
    """Where the trials of a report go: beside it, named after it.

    >>> trials_csv_path('out/opt.html').as_posix()
    'out/opt.trials.csv'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.trials.csv")


def _title(study: Study) -> str:
    info, data = study.info, study.info.get("data", {})
    if "strategy" in info and "bars" in data:
        return f"{info['strategy']} on {data['bars']:,} bars, {data['first']} to {data['last']}"
    return f"Study {study.name or study.objective}"


def _search_settings(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": info.get("method"),
        **info.get("options", {}),
        "constraint": info.get("constraint"),
        **({"constraints": "; ".join(info["constraints"])} if info.get("constraints") else {}),
        "random_state": info.get("seed"),
        **info.get("candidates", {}),
    }


def details(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The groups of facts beside the search settings: the backtest's settings, the data, the run.

    >>> details({'data': {'bars': 3, 'first': '2024-01-02', 'last': '2024-01-04', 'fingerprint': 'ab12'},
    ...          'started': '2024-08-01T16:00:54+00:00', 'state': 'complete', 'version': '0.1.0'})
    {'Data': {'bars': '3', 'from': '2024-01-02', 'to': '2024-01-04', 'fingerprint': 'ab12'},
     'Run': {'started': '2024-08-01 16:00 UTC', 'state': 'complete', 'backtestkit': '0.1.0'}}
    """
    groups: dict[str, dict[str, Any]] = {}
    if info.get("settings"):
        groups["Backtest"] = dict(info["settings"])
    data = info.get("data")
    if data:
        groups["Data"] = {
            "bars": f"{data.get('bars', 0):,}",
            "from": data.get("first"),
            "to": data.get("last"),
            "fingerprint": data.get("fingerprint"),
        }
    run = {
        "started": _when(info.get("started")),
        "state": info.get("state"),
        "stopped": info.get("stopped"),
        "backtestkit": info.get("version"),
    }
    run = {name: value for name, value in run.items() if value}
    if run:
        groups["Run"] = run
    return groups


def _when(started: str | None) -> str | None:
    if not started:
        return None
    return pd.Timestamp(started).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def cell_states(study: Study) -> pd.Series | None:
    """The state of every combination of the grid: its latest trial's, else 'pruned' when a full grid
    search completed (and its trials match the admissible count, when known), else 'not_evaluated'.
    None when the space is not a grid (a scikit-optimize dimension) or has over :data:`MAX_CELLS` cells."""
    space = study.info.get("space", {})
    candidates = [space.get(name) for name in study.param_names]
    if not all(isinstance(values, list) for values in candidates):
        return None
    if math.prod(len(values) for values in candidates) > MAX_CELLS:  # type: ignore[arg-type]
        return None
    grid = pd.MultiIndex.from_product(candidates, names=study.param_names)  # type: ignore[arg-type]
    trials = study.trials_dataframe().drop_duplicates(study.param_names, keep="last")
    states = pd.Series(
        trials["state"].astype(str).to_numpy(), index=pd.MultiIndex.from_frame(trials[study.param_names])
    )
    states = states[states.index.isin(grid)]
    return states.reindex(grid).fillna(_missing(study, len(states)))


def _missing(study: Study, n_run: int) -> str:
    """What a combination without a trial is: pruned only when every admissible one surely ran."""
    info = study.info
    full = info.get("method") == "grid" and info.get("options", {}).get("max_tries") is None
    complete = info.get("state") == "complete" and study.n_admissible in (None, n_run)
    return "pruned" if full and complete else "not_evaluated"


def sensitivity(study: Study, finished: pd.DataFrame) -> dict[str, pd.Series]:
    """Parameter -> the objective against its values with the other parameters at the best trial's
    (only the combinations that ran), for every parameter that varies."""
    best = study.best_trial
    varying = [name for name in study.param_names if finished[name].nunique() > 1]
    if best is None or len(varying) < 2:
        return {}
    curves = {}
    for name in varying:
        others = [other for other in study.param_names if other != name]
        keep = np.logical_and.reduce([finished[other] == best.params[other] for other in others])
        curve = finished[keep].set_index(name)["value"]
        try:
            curve = curve.sort_index()
        except TypeError:  # values that do not compare: as they came
            pass
        curves[name] = curve
    return curves


def _best_stats(study: Study, best_run: pd.Series | None) -> pd.Series | None:
    """The best run's stats: as run when given, else its trial's (every numeric stats key)."""
    if best_run is not None:
        return best_run
    best = study.best_trial
    return pd.Series(dict(best.metrics), dtype=float) if best is not None and best.metrics else None


def _trades(best_run: pd.Series | None) -> pd.DataFrame | None:
    if best_run is None or not isinstance(best_run.get("_trades"), pd.DataFrame):
        return None
    return best_run["_trades"]
