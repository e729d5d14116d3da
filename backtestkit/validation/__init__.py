"""Is the optimum real? Tools that test a search's result on data it has not seen and measure how
much of it is luck: holdout, walk-forward, plateau selection, Monte Carlo, the Deflated Sharpe Ratio,
the Probability of Backtest Overfitting and a lookahead-bias check. See doc/validation.md.

Each result can draw itself (``plot()``), write its own page (``write_report(path)``) and give a
section for a study's report (``report_section()``, passed to ``Study.write_report(sections=...)``).
"""

from backtestkit.validation._holdout import HoldoutResult, holdout
from backtestkit.validation._lookahead import LookaheadResult, check_lookahead
from backtestkit.validation._montecarlo import MonteCarloInterrupted, MonteCarloResult, monte_carlo
from backtestkit.validation._pbo import BacktestOverfitting, pbo
from backtestkit.validation._plateau import Plateau, PlateauResult, plateau
from backtestkit.validation._sharpe import (
    DeflatedSharpe,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)
from backtestkit.validation._trial_returns import ReturnsInterrupted, trial_returns
from backtestkit.validation._walkforward import (
    WalkForwardInterrupted,
    WalkForwardResult,
    WalkForwardWindow,
    walk_forward,
    walk_forward_windows,
)

__all__: list[str] = [
    "BacktestOverfitting",
    "DeflatedSharpe",
    "HoldoutResult",
    "LookaheadResult",
    "MonteCarloInterrupted",
    "MonteCarloResult",
    "Plateau",
    "PlateauResult",
    "ReturnsInterrupted",
    "WalkForwardInterrupted",
    "WalkForwardResult",
    "WalkForwardWindow",
    "check_lookahead",
    "deflated_sharpe",
    "expected_max_sharpe",
    "holdout",
    "monte_carlo",
    "pbo",
    "plateau",
    "probabilistic_sharpe",
    "trial_returns",
    "walk_forward",
    "walk_forward_windows",
]
