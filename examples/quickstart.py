# %% [markdown]
# # Quick start: a backtest and an optimisation on the bundled daily data
#
# Run as a script (`python examples/quickstart.py`) or open as a notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover, plot_heatmaps


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 30

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


# %% A single backtest
bt = Backtest(load_daily(), SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
stats = bt.run()
print(f"One backtest of {SmaCross.__name__} (fast SMA {SmaCross.n1}, slow SMA {SmaCross.n2}, "
      "0.2% commission):")
print(stats)

# %% Optimise both averages' lengths, keeping only fast < slow
stats, heatmap = bt.optimize(
    n1=range(5, 60, 5),
    n2=range(10, 200, 10),
    constraint=lambda p: p.n1 < p.n2,
    maximize="Sharpe Ratio",
    return_heatmap=True,
    report="quickstart_report.html",  # settings, heatmaps, the top runs' stats and the best run's chart
)
print(f"\nThe best of {len(heatmap)} combinations by Sharpe Ratio, {stats['_strategy']}:")
print(stats)
print(f"\nBest: {stats['_strategy']}; {len(heatmap)} combinations evaluated.")
print("Optimisation report written to quickstart_report.html")

# %% The heatmaps of every parameter pair, as a standalone HTML file
plot_heatmaps(heatmap, filename="quickstart_heatmaps.html", open_browser=False)
print("Heatmaps written to quickstart_heatmaps.html")
