# %% [markdown]
# # Resume a search: a study that keeps every trial on disk
#
# `optimize(study="runs.db")` saves each trial as it finishes. Stop this script with Ctrl-C halfway
# and run it again: it picks up where it stopped, runs only what is missing, and ends with the same
# result as an uninterrupted run. Run as a script (`python examples/resume_a_search.py`) or open as a
# notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.optimize import load_study


def SMA(values, n):
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


# %% The search: the same call resumes it
if __name__ == "__main__":  # the workers import this file: only the main process searches
    bt = Backtest(load_daily(), SmaCross, commission=0.002, finalize_trades=True)
    stats, study = bt.optimize(n1=range(5, 60, 5), n2=range(10, 200, 10), constraint=lambda p: p.n1 < p.n2,
                               maximize="Sharpe Ratio", study="sma_study.db", return_study=True)
    print(f"Best: {study.best_params}, Sharpe Ratio {study.best_value:.3f}, {len(study)} trials in "
          f"{study.storage}")

# %% Later, anywhere: read the study without the data or the strategy
if __name__ == "__main__":
    study = load_study("sma_study.db", "SmaCross")
    frame = study.trials_dataframe()
    robust = frame[(frame["# Trades"] >= 30) & (frame["Max. Drawdown [%]"] > -40)]
    print(f"{len(robust)} of {len(frame)} trials made 30 trades or more with a drawdown above -40%; "
          "the best:")
    print(robust.nlargest(5, "value")[["n1", "n2", "value", "Return [%]", "Max. Drawdown [%]", "# Trades"]])
    print(study.heatmap("# Trades").unstack().iloc[:5, :8])
