# %% [markdown]
# # Signals computed in one go: a strategy that runs compiled
#
# When every decision can be computed from the whole data in `init()`, a `SignalStrategy` states
# them as arrays: an entry size per bar and, optionally, a portion of the trades to close. backtestkit
# then runs the strategy in a compiled kernel instead of bar by bar, with the same results to the
# last bit (doc/optimisation.md, "The compiled signals path"), which makes big grids cheap.
#
# Here: go long or short on moving-average crosses and take half off when the RSI is stretched.
#
# Run as a script (`python examples/signal_strategy_grid.py`) or open as a notebook (percent format).

# %%
import time

import numpy as np
import pandas as pd

import backtestkit
from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.lib import SignalStrategy


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


def RSI(values, n):
    """Relative strength index (simple averages of gains and losses), 0-100."""
    change = pd.Series(values).diff()
    gain, loss = change.clip(lower=0).rolling(n).mean(), (-change.clip(upper=0)).rolling(n).mean()
    return 100 - 100 / (1 + gain / loss)


def crosses(a, b):
    """True on each bar where ``a`` has just crossed above ``b`` (lib.crossover, for every bar at once)."""
    return np.r_[False, (a[1:] > b[1:]) & (a[:-1] < b[:-1])]


class CrossWithProfitTaking(SignalStrategy):
    n1 = 10
    n2 = 40
    stretched = 75  # RSI level at which half of a trade is taken off

    def init(self):
        super().init()
        fast, slow = self.I(SMA, self.data.Close, self.n1), self.I(SMA, self.data.Close, self.n2)
        rsi = self.I(RSI, self.data.Close, 14, overlay=False)
        up, down = crosses(fast, slow), crosses(slow, fast)
        # on a cross: close the other side's trades (exclusive_orders below) and enter with 90% of the margin
        entries = up * 0.9 - down * 0.9
        # take half off longs when the RSI is high, half off shorts when it is low
        exits = (rsi > self.stretched) * 0.5 - (rsi < 100 - self.stretched) * 0.5
        self.set_signal(entry_size=entries, exit_portion=exits)


bt = Backtest(load_daily(), CrossWithProfitTaking, commission=0.001, exclusive_orders=True,
              finalize_trades=True)
stats = bt.run()
print(stats[["Return [%]", "Sharpe Ratio", "Max. Drawdown [%]", "# Trades"]].to_string())
print(f"ran compiled: {stats._strategy.ran_compiled}")

# %% [markdown]
# The same run bar by bar gives the same stats and trades. `set_compiled_signals(False)` is the switch;
# it is meant for checking and timing, not for everyday use.

# %%
backtestkit.set_compiled_signals(False)
bar_by_bar = bt.run()
backtestkit.set_compiled_signals(True)
same = all(stats[key] == bar_by_bar[key] or (pd.isna(stats[key]) and pd.isna(bar_by_bar[key]))
           for key in stats.index if not key.startswith("_"))
print(f"compiled and bar-by-bar results equal: {same and stats._trades.equals(bar_by_bar._trades)}")

# %% [markdown]
# A grid of every combination, on one core to show the cost of each run.

# %%
started = time.perf_counter()
best, heatmap = bt.optimize(n1=range(5, 50, 5), n2=range(20, 200, 10), stretched=[65, 70, 75, 80, 101],
                            constraint=lambda p: p.n1 < p.n2, maximize="Sharpe Ratio", return_heatmap=True,
                            n_jobs=1)
seconds = time.perf_counter() - started
print(f"{len(heatmap):,} combinations in {seconds:.1f} s ({seconds / len(heatmap) * 1e3:.2f} ms each)")
print(f"best: {best._strategy}, Sharpe Ratio {best['Sharpe Ratio']:.2f}")
print(heatmap.groupby("stretched").max().rename("best Sharpe Ratio by RSI level").to_string())
