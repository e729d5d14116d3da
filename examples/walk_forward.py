# %% [markdown]
# # Is the optimum real? Holdout and walk-forward
#
# A grid search always finds a best parameter set. This script checks whether it holds on bars the
# search never saw: first with a holdout (train on 60%, test the top candidates on the next 25%, keep
# the last 15% untouched), then with a walk-forward (re-optimise every year on the two years before,
# and stitch the out-of-sample years into one run). Run as a script
# (`python examples/walk_forward.py`) or open as a notebook (percent format).

# %%
from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.test import SMA
from backtestkit.validation import holdout, walk_forward


class SmaCross(Strategy):
    n1 = 10
    n2 = 30

    def init(self):
        self.fast = self.I(SMA, self.data.Close, self.n1)
        self.slow = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()


bt = Backtest(load_daily(), SmaCross, commission=0.001)
grid = {"n1": [5, 10, 15, 20], "n2": [30, 50, 70, 90], "maximize": "Sharpe Ratio", "show_progress": False}

# %% [markdown]
# ## Holdout
#
# The table puts each of the five best in-sample candidates next to its out-of-sample result. The
# rank correlation says whether the in-sample ranking carried over.

# %%
checked = holdout(bt, train=0.6, final=0.15, top=5, **grid)
columns = ["n1", "n2", "selected", "IS Sharpe Ratio", "OOS Sharpe Ratio", "IS Return [%]", "OOS Return [%]"]
print(checked.table[columns].to_string(index=False, float_format="%.3f"))
print(f"Rank correlation, in- vs out-of-sample Sharpe: {checked.rank_correlation:.2f}")
print(f"Selected {checked.params}; final holdout return: {checked.final_stats['Return [%]']:.2f}%")
checked.write_report("holdout.html")

# %% [markdown]
# ## Walk-forward
#
# Every 365 days, search the 730 days before and trade the pick for the next 365. The stitched
# out-of-sample run has the same stats as `bt.run()`; the walk-forward efficiency compares its
# annualised return with the searches' in-sample ones.

# %%
wf = walk_forward(bt, train="730D", test="365D", **grid)
columns = ["test start", "test end", "n1", "n2", "IS Sharpe Ratio", "OOS Sharpe Ratio"]
print(wf.windows[columns].to_string(index=False, float_format="%.3f"))
print(f"Out-of-sample return {wf.stats['Return [%]']:.2f}% over {len(wf.windows)} windows "
      f"(buy & hold {wf.stats['Buy & Hold Return [%]']:.2f}%), "
      f"walk-forward efficiency {wf.efficiency:.2f}")
wf.write_report("walk_forward.html")
wf.plot(filename="walk_forward_run.html", open_browser=False)  # the stitched run, drawn like bt.plot()
print("Reports written: holdout.html, walk_forward.html, walk_forward_run.html")
