# %% [markdown]
# # Comparing search methods on one space
#
# The full grid of three parameters is run once, to know every combination's result. Then each search
# method gets the same small budget of runs: the genetic algorithm (`method='genetic'`), coarse-to-fine
# grids (`method='euler'`), a random sample of the grid (`method='grid'` with `max_tries`) and
# scikit-optimize's model-based search (`method='skopt'`). Each one's best is ranked against the grid.
#
# Run as a script (`python examples/compare_methods.py`) or open as a notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.optimize import Euler, Genetic


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


class TrendCross(Strategy):
    """Long when the fast average crosses above the slow one while the price is above a trend
    average; out when it crosses back below."""

    n1 = 10
    n2 = 30
    n_trend = 200

    def init(self):
        close = self.data.Close
        self.fast = self.I(SMA, close, self.n1)
        self.slow = self.I(SMA, close, self.n2)
        self.trend = self.I(SMA, close, self.n_trend)

    def next(self):
        if crossover(self.fast, self.slow) and self.data.Close[-1] > self.trend[-1] and not self.position:
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()


bt = Backtest(load_daily(), TrendCross, cash=10_000, commission=0.002, finalize_trades=True)
space = dict(n1=range(5, 50, 5), n2=range(20, 200, 10), n_trend=range(50, 300, 50),
             constraint=lambda p: p.n1 < p.n2, maximize="Sharpe Ratio")

# %% [markdown]
# ## The whole grid, as the yardstick

# %%
_, grid = bt.optimize(**space, return_heatmap=True)
BUDGET = len(grid) // 12  # about 8% of the grid for every method
print(f"{len(grid)} admissible combinations; best Sharpe Ratio {grid.max():.3f}; budget {BUDGET} runs")

# %% [markdown]
# ## Each method with the same budget
#
# A method object carries its own budget (`max_tries=`); `random_state` makes the genetic, random and
# skopt searches repeatable. Euler draws nothing: it is the same every time.

# %%
methods = {
    "genetic": dict(method=Genetic(population_size=16, generations=20, max_tries=BUDGET)),
    "euler": dict(method=Euler(steps=3, keep=2, max_tries=BUDGET)),
    "random": dict(method="grid", max_tries=BUDGET),
    "skopt": dict(method="skopt", max_tries=BUDGET),
}
rows = []
for name, kwargs in methods.items():
    stats, heatmap = bt.optimize(**space, **kwargs, random_state=0, return_heatmap=True)
    best = stats["Sharpe Ratio"]
    rows.append({"method": name, "runs": len(heatmap), "best Sharpe Ratio": round(best, 3),
                 "better in the grid": int((grid > best).sum()), "at": str(stats["_strategy"])})
table = pd.DataFrame(rows).set_index("method")
print(f"\nEach method with {BUDGET} runs, compared on the same {len(grid)} combinations:")
print(table.to_string())
