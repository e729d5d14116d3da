# %% [markdown]
# # SMA crossover: grid optimisation, heatmaps and a chart of the best run
#
# A long/short moving-average crossover on the bundled daily data. The grid search runs every
# combination of the two averages' lengths that passes a constraint, in parallel. The heatmaps show
# how the objective varies across the grid, which says more about a strategy's robustness than the
# single best combination does.
#
# Run as a script (`python examples/sma_crossover_grid.py`) or open as a notebook (percent format).
# It writes `sma_crossover_heatmaps.html` and `sma_crossover_best.html` into the current directory.

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover, plot_heatmaps


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10  # fast average
    n2 = 30  # slow average

    def init(self):
        self.fast = self.I(SMA, self.data.Close, self.n1)
        self.slow = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


bt = Backtest(load_daily(), SmaCross, cash=10_000, commission=0.002, finalize_trades=True)

# %% [markdown]
# ## The grid
#
# 12 fast x 15 slow lengths is 180 combinations; the constraint keeps the ones where the fast
# average is at least 10 bars shorter than the slow one, so only those are ever run.

# %%
stats, heatmap = bt.optimize(
    n1=range(5, 65, 5),
    n2=range(20, 170, 10),
    constraint=lambda p: p.n1 + 10 <= p.n2,
    maximize="Sharpe Ratio",
    return_heatmap=True,
)
print(f"The best run by Sharpe Ratio, {stats['_strategy']}:")
print(stats)
print(f"\nBest: {stats['_strategy']}, {len(heatmap)} of 180 combinations run.")

# %% [markdown]
# The heatmap is a Series indexed by the parameters; NaN marks runs that made no trade.
# The best few combinations:

# %%
print(heatmap.sort_values(ascending=False).head(5))
print("\nSharpe Ratio by slow length, best over the fast length:")
print(heatmap.groupby("n2").max().round(3).to_string())

# %% The heatmaps of every parameter pair, as a standalone HTML file
plot_heatmaps(heatmap, agg="max", filename="sma_crossover_heatmaps.html", open_browser=False)
print("Heatmaps written to sma_crossover_heatmaps.html")

# %% [markdown]
# ## The best run
#
# `optimize` leaves the best run as the backtest's last run, so `bt.plot()` draws it: equity,
# trade P/L, candlesticks with the trades and both averages, and volume.

# %%
bt.plot(filename="sma_crossover_best.html", open_browser=False)
print("Chart of the best run written to sma_crossover_best.html")
