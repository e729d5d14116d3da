# %% [markdown]
# # Surrogate-model search with scikit-optimize
#
# Four parameters, one of them continuous, make a grid too big to run in full. `method='skopt'`
# fits a model of the objective to the runs made so far and spends the next runs where the model
# expects the best results. Here it is compared with the same number of runs drawn at random from a
# grid of the same ranges.
#
# Run as a script (`python examples/skopt_search.py`) or open as a notebook (percent format).

# %%
import numpy as np
import pandas as pd
from skopt.space import Real

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


class TrendCross(Strategy):
    """Long when the fast average crosses above the slow one while the price is above a long trend
    average; each trade has a stop-loss ``sl_pct`` below the last close."""

    n1 = 10
    n2 = 30
    n_trend = 200
    sl_pct = 0.05

    def init(self):
        close = self.data.Close
        self.fast = self.I(SMA, close, self.n1)
        self.slow = self.I(SMA, close, self.n2)
        self.trend = self.I(SMA, close, self.n_trend)

    def next(self):
        price = self.data.Close[-1]
        if crossover(self.fast, self.slow) and price > self.trend[-1] and not self.position:
            self.buy(sl=price * (1 - self.sl_pct))
        elif crossover(self.slow, self.fast):
            self.position.close()


bt = Backtest(load_daily(), TrendCross, cash=10_000, commission=0.002, finalize_trades=True)
N_RUNS = 120
ranges = dict(n1=range(5, 50, 5), n2=range(20, 200, 10), n_trend=range(50, 260, 25))

# %% [markdown]
# ## scikit-optimize
#
# Ranges and lists are searched over their listed values only; `Real(0.01, 0.15)` is a continuous
# dimension (`Integer` and `Categorical` dimensions work too). `max_tries` caps the number of
# runs; the constraint prunes combinations before they are proposed, so none is spent on them.
# `random_state` makes the search repeatable; `return_optimization=True` adds scikit-optimize's
# `OptimizeResult`.

# %%
stats, heatmap, result = bt.optimize(
    **ranges,
    sl_pct=Real(0.01, 0.15),
    constraint=lambda p: p.n1 < p.n2,
    maximize="Sharpe Ratio",
    method="skopt",
    max_tries=N_RUNS,
    random_state=42,
    return_heatmap=True,
    return_optimization=True,
)
print(stats[["Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades"]].to_string())
print(f"\nBest: {stats['_strategy']} after {len(heatmap)} runs")
# skopt minimises: its function values are the negated Sharpe Ratios
print(f"OptimizeResult: x={result.x}, fun={result.fun:.4f}")

# %% [markdown]
# The running best shows how fast the search converged (`func_vals` are in evaluation order).

# %%
running_best = -np.minimum.accumulate(result.func_vals)
for n in (10, 30, 60, N_RUNS):
    print(f"best Sharpe Ratio after {n:3d} runs: {running_best[n - 1]:.3f}")

# %% [markdown]
# ## The same number of runs at random
#
# With `method='grid'`, `max_tries` draws a uniform sample of the admissible grid, here with the
# stop-loss on a grid of 15 values: 120 of the 20,250 admissible combinations.

# %%
sample_stats, sample_heatmap = bt.optimize(
    **ranges,
    sl_pct=np.linspace(0.01, 0.15, 15).round(3).tolist(),
    constraint=lambda p: p.n1 < p.n2,
    maximize="Sharpe Ratio",
    max_tries=N_RUNS,
    random_state=42,
    return_heatmap=True,
)
print(f"random sample: best Sharpe Ratio {sample_heatmap.max():.3f} ({sample_stats['_strategy']})")
print(f"scikit-optimize: best Sharpe Ratio {heatmap.max():.3f} ({stats['_strategy']})")
