"""The report of a study: the plotting package's page, filled from the stored trials (nothing re-run)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from backtestkit.optimize._trial import Study

REPORT_COLUMNS = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades", "Win Rate [%]", "SQN")
REPORT_ROWS = 20


def write_study_report(study: Study, path: Any, *, best_run: pd.Series | None = None,
                       chart: Any = None) -> Any:
    """Write ``study``'s report to ``path``; ``best_run`` (its stats) and ``chart`` (a Bokeh layout of
    it) add the best run's trades and chart when the caller has them."""
    from backtestkit.plotting._report import write_report

    top = study.top(REPORT_ROWS)
    columns = [name for name in REPORT_COLUMNS if name in study.metric_names]
    rows = top[[*study.param_names, *columns]].assign(**{study.objective: top["value"]})
    info = study.info
    data = info.get("data", {})
    title = (f"{info['strategy']} on {data['bars']:,} bars, {data['first']} to {data['last']}"
             if "strategy" in info else f"Study {study.name or study.objective}")
    settings = {"method": info.get("method"), **info.get("options", {}), "constraint": info.get("constraint"),
                "random_state": info.get("seed"), **info.get("candidates", {})}
    return write_report(
        path, title=title, objective=f"{study.objective} ({'maximised' if study.maximize else 'minimised'})",
        settings=settings, n_admissible=study.n_admissible, n_evaluated=study.n_evaluated,
        elapsed=info.get("elapsed", 0.0), heatmap=study.heatmap(), top=rows, best_chart=chart)
