"""Is the optimum real? Tools that test a search's result on data it has not seen and measure how
much of it is luck: holdout, walk-forward, plateau selection, Monte Carlo, the Deflated Sharpe Ratio,
the Probability of Backtest Overfitting and a lookahead-bias check. See doc/validation.md.

Each result can draw itself (``plot()``), write its own page (``write_report(path)``) and give a
section for a study's report (``report_section()``, passed to ``Study.write_report(sections=...)``).
"""

from backtestkit.validation._holdout import HoldoutResult, holdout
from backtestkit.validation._walkforward import (
    WalkForwardInterrupted,
    WalkForwardResult,
    WalkForwardWindow,
    walk_forward,
    walk_forward_windows,
)

__all__: list[str] = [
    "HoldoutResult",
    "WalkForwardInterrupted",
    "WalkForwardResult",
    "WalkForwardWindow",
    "holdout",
    "walk_forward",
    "walk_forward_windows",
]
