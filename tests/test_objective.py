"""Tests for backtestkit._objective: how a search's settings are shown in its report, and fitness
expressions and result constraints end to end."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit._objective import _shown, _source
from backtestkit.lib import crossover
from backtestkit.optimize import ExpressionError, StoreError
from backtestkit.test import GOOG


def limit(p):
    return p.n1 < p.n2


def test_a_lambda_constraint_shows_as_the_lambda_alone() -> None:
    settings = dict(n1=range(5, 30, 5), constraint=lambda p: p.n1 < p.n2, maximize="SQN")
    assert _source(settings["constraint"]) == "lambda p: p.n1 < p.n2"


def test_of_several_lambdas_on_a_line_the_constraint_is_shown() -> None:
    settings = dict(maximize=lambda s: s["SQN"], constraint=lambda p: p.n2 - p.n1 > 5)
    assert _source(settings["constraint"]) == "lambda p: p.n2 - p.n1 > 5"


def test_a_function_constraint_shows_its_source() -> None:
    assert _source(limit) == "def limit(p):\n    return p.n1 < p.n2"
    assert _source(None) is None


def test_long_candidate_lists_show_their_ends() -> None:
    assert _shown(range(3)) == [0, 1, 2]
    halves = [0.5 * i for i in range(20)]  # 13 at most: the first 10, an ellipsis, the last 3
    assert _shown(halves) == "[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, …, 8.5, 9.0, 9.5]"
    assert _shown("ema") == "ema"


# --- fitness expressions and result constraints, end to end -------------------------------------


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.fast = self.I(sma, self.data.Close, self.n1)
        self.slow = self.I(sma, self.data.Close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


GRID = dict(n1=[5, 10, 20], n2=[30, 60], n_jobs=1, return_study=True)


@pytest.fixture(scope="module")
def by_key():
    """Every combination's stats, from a plain search by a stats key."""
    _, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(maximize="SQN", **GRID)
    return study.trials_dataframe().set_index(["n1", "n2"])


def test_a_fitness_expression_ranks_by_its_value(by_key):
    text = "Sharpe Ratio * min(1, `# Trades` / 20)"
    stats, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(maximize=text, **GRID)
    expected = by_key["Sharpe Ratio"] * np.minimum(1, by_key["# Trades"] / 20)
    values = study.trials_dataframe().set_index(["n1", "n2"])["value"]
    pd.testing.assert_series_equal(values.sort_index(), expected.sort_index(), check_names=False)
    assert study.objective == text
    assert (stats._strategy.n1, stats._strategy.n2) == expected.idxmax()


def test_minimize_takes_an_expression_too(by_key):
    stats, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(minimize="-Return [%]", **GRID)
    assert not study.maximize
    assert (stats._strategy.n1, stats._strategy.n2) == by_key["Return [%]"].idxmax()


def test_result_constraints_make_trials_infeasible_and_rank_them_last(by_key):
    floor = by_key["# Trades"].median()  # half the combinations trade too little
    rules = [f"# Trades >= {floor}", lambda s: s["Max. Drawdown [%]"] > -100]
    stats, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(maximize="Return [%]", constraints=rules,
                                                                **GRID)
    trials = study.trials_dataframe().set_index(["n1", "n2"])
    feasible = by_key["# Trades"] >= floor
    assert (trials["state"] == "infeasible").sort_index().equals(~feasible.sort_index())
    assert trials.loc[~feasible, "value"].isna().all()
    assert (trials.loc[~feasible, "error"] == f"broke the constraint # Trades >= {floor}").all()
    assert (stats._strategy.n1, stats._strategy.n2) == by_key.loc[feasible, "Return [%]"].idxmax()
    top = study.top(len(trials))
    assert list(top["state"]) == ["ok"] * int(feasible.sum()) + ["infeasible"] * int((~feasible).sum())
    assert study.info["constraints"][0] == f"# Trades >= {floor}"
    assert study.info["constraints"][1].startswith("lambda s:")


def test_a_constraint_that_gives_nan_breaks():
    with pytest.warns(UserWarning, match=r"Every one of the 6 runs scored NaN \(6 infeasible\)"):
        _, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(constraints=["log(-1)"], **GRID)
    assert set(study.trials_dataframe()["state"]) == {"infeasible"}


class Exploding(SmaCross):
    def init(self):
        raise AssertionError("no run may start when an option is bad")


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(maximize="Sharpe Ratoi * 2"), ExpressionError, "Unknown stats key 'Sharpe Ratoi' .* Did you mean "
     "'Sharpe Ratio'"),
    (dict(maximize="(SQN"), ExpressionError, "does not parse"),
    (dict(maximize="`Sharpe Ratoi` * 2"), ExpressionError,
     re.escape("Unknown stats key 'Sharpe Ratoi' in the expression '`Sharpe Ratoi` * 2' for "
               "Backtest.optimize(maximize=...). Did you mean 'Sharpe Ratio'?")),
    (dict(minimize="SQN.real + 1"), ExpressionError, re.escape("for Backtest.optimize(minimize=...)")),
    (dict(constraints=["# Trade >= 3"]), ExpressionError,
     re.escape("Unknown stats key '# Trade' in the expression '# Trade >= 3' for "
               "Backtest.optimize(constraints=...). Did you mean '# Trades'?")),
    (dict(constraints=[3]), TypeError,
     re.escape("The 'constraints' parameter of Backtest.optimize must be a list of expressions over stats "
               "keys ('# Trades >= 30') or callables stats -> bool. Got [3] instead.")),
    (dict(constraints={"# Trades >= 3"}), TypeError, "The 'constraints' parameter"),
])
def test_bad_expressions_and_constraints_raise_before_any_run(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Backtest(GOOG.iloc[:300], Exploding).optimize(n1=[5, 10], n2=[30], **kwargs)


def test_a_single_constraint_needs_no_list():
    rules = [{"constraints": "# Trades > 0"}, {"constraints": ["# Trades > 0"]}]
    studies = [Backtest(GOOG.iloc[:800], SmaCross).optimize(**rule, **GRID)[1] for rule in rules]
    assert studies[0].info["constraints"] == studies[1].info["constraints"] == ["# Trades > 0"]


def test_a_resumed_study_must_have_the_same_constraints(tmp_path):
    path = tmp_path / "runs.db"
    bt = Backtest(GOOG.iloc[:800], SmaCross)
    bt.optimize(constraints=["# Trades >= 3"], study=path, **GRID)
    changed = 'constraints (["# Trades >= 3"] then, ["# Trades >= 4"] now)'
    with pytest.raises(StoreError, match=re.escape(changed)):
        bt.optimize(constraints=["# Trades >= 4"], study=path, **GRID)
    _, again = bt.optimize(constraints=["# Trades >= 3"], study=path, **GRID)
    assert len(again) == 6 and not math.isnan(again.best_value)


def test_infeasible_runs_are_infeasible_cells_of_the_reports_heatmaps(by_key):
    from backtestkit.optimize._report import cell_states

    floor = by_key["# Trades"].median()
    _, study = Backtest(GOOG.iloc[:800], SmaCross).optimize(constraints=[f"# Trades >= {floor}"], **GRID)
    cells = cell_states(study)
    expected = np.where(by_key["# Trades"] >= floor, "ok", "infeasible")
    assert cells.sort_index().tolist() == pd.Series(expected, by_key.index).sort_index().tolist()
    assert study.heatmap()[cells == "infeasible"].isna().all()


def test_expressions_and_constraints_travel_to_worker_processes():
    options = dict(n1=[5, 10, 20], n2=[30, 60], return_study=True,
                   maximize="Sharpe Ratio * min(1, `# Trades` / 20)", constraints=["# Trades >= 10"])
    bt = Backtest(GOOG.iloc[:800], SmaCross)
    one, two = (bt.optimize(**options, n_jobs=n)[1].trials_dataframe() for n in (1, 2))
    columns = ["n1", "n2", "value", "state"]
    pd.testing.assert_frame_equal(one[columns].sort_values(["n1", "n2"]).reset_index(drop=True),
                                  two[columns].sort_values(["n1", "n2"]).reset_index(drop=True))
