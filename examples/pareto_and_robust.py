# %% [markdown]
# # Trade-offs and robustness: a Pareto front, a search across periods, a parameter string
#
# Return and risk pull in different directions: with several objectives, the search keeps every
# trial's objectives and returns the Pareto front, the parameter sets no other beats on all of them.
# A set that wins on one period and fails on the next is luck: `MultiBacktest.optimize(aggregate=
# "min")` scores each set by its worst period. Before either, `dry_run=True` says what a search would
# cost, and the winner travels as a pasteable string. Run as a script
# (`python examples/pareto_and_robust.py`) or open as a notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy, parse_params
from backtestkit.datasets import load_daily
from backtestkit.lib import MultiBacktest, crossover


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


data = load_daily()
bt = Backtest(data, SmaCross, commission=0.002, finalize_trades=True)
space = dict(n1=range(5, 60, 5), n2=range(20, 200, 20), constraint=lambda p: p.n1 < p.n2)

# %% [markdown]
# ## What will it cost?

# %%
print(bt.optimize(**space, dry_run=True))

# %% [markdown]
# ## Return against volatility: the Pareto front
#
# The best run is the front's best `Return [%]` (the first objective); the report shows the front
# over every trial.

# %%
stats, study = bt.optimize(**space, maximize=["Return [%]"], minimize=["Volatility (Ann.) [%]"],
                           return_study=True, report="pareto_report.html", show_progress=False)
front = study.pareto_front()
print(f"{len(front)} of {len(study)} parameter sets are on the Pareto front:")
print(front[["n1", "n2", "Return [%]", "Volatility (Ann.) [%]", "# Trades"]].round(2).to_string(index=False))
bt.plot(results=stats, filename="pareto_best.html", open_browser=False)  # the front's best Return [%]

# %% [markdown]
# ## Robust across periods: the best worst-period Sharpe ratio

# %%
periods = [data.iloc[:1000], data.iloc[1000:2000], data.iloc[2000:]]
multi = MultiBacktest(periods, SmaCross, commission=0.002, finalize_trades=True)
runs, robust = multi.optimize(**space, maximize="Sharpe Ratio", aggregate="min", return_study=True,
                              show_progress=False)
best = robust.best_trial
print(f"Best worst-period Sharpe ratio {best.value:.3f} at {best.param_string}; on each period:")
print(runs.loc["Sharpe Ratio"].astype(float).round(3).to_string())

# %% [markdown]
# ## The winner as a pasteable string

# %%
again = bt.run(**parse_params(best.param_string))
print(f"{best.param_string} on the whole data: Sharpe ratio {again['Sharpe Ratio']:.3f}")
