# %% [markdown]
# # Is the backtest luck? A lookahead check and a Monte Carlo of the run
#
# Before trusting a backtest, check that no indicator reads the future (`check_lookahead`), then ask how
# different the result could have been (`monte_carlo`): the trades in another order, drawn again, or the
# strategy run on resampled prices. Run as a script (`python examples/monte_carlo.py`) or open as a
# notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.validation import check_lookahead, monte_carlo


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


class Peeking(Strategy):
    """Buys when tomorrow's close is higher: unbeatable in a backtest, impossible to trade."""

    def init(self):
        self.tomorrow = self.I(lambda c: pd.Series(c).shift(-1), self.data.Close, name="Tomorrow")

    def next(self):
        if self.tomorrow[-1] > self.data.Close[-1]:
            self.buy(size=10)
        else:
            self.position.close()


data = load_daily()

# %% [markdown]
# ## Lookahead check
# `init()` runs on the data and on copies cut short; an honest indicator keeps its past values.

# %%
honest = check_lookahead(Backtest(data, SmaCross))
print(honest)
peeking = check_lookahead(Backtest(data, Peeking))
print(peeking)
print(f"Lookahead caught: {', '.join(peeking.table['Indicator'])}")

# %% [markdown]
# ## Monte Carlo of the SmaCross run
# Shuffling the trades keeps the final equity and moves the drawdown; a bootstrap moves both.

# %%
bt = Backtest(data, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
stats = bt.run()
print(f"The run: return {stats['Return [%]']:.1f} %, max. drawdown {stats['Max. Drawdown [%]']:.1f} %")
shuffled = monte_carlo(bt, stats, n=2000, method="shuffle", ruin=0.3, random_state=42, show_progress=False)
print(shuffled)
drawn = monte_carlo(bt, stats, n=2000, method="bootstrap", ruin=0.3, random_state=42, show_progress=False)
print(drawn)

# %% [markdown]
# ## The strategy on resampled prices
# Blocks of the bars' moves, drawn again, make new price histories; the strategy runs on each.

# %%
candles = monte_carlo(bt, stats, n=24, method="candles", block=20, ruin=0.3, random_state=42, n_jobs=2,
                      show_progress=False)
print(candles)
page = candles.write_report("monte_carlo.html")
candles.plot(filename="monte_carlo_fan.html", open_browser=False)
print(f"Monte Carlo report written to {page}")
