# %% [markdown]
# # Intraday: an opening-range breakout with leverage, costs and a daily trend filter
#
# On the bundled hourly data (bars from 09:00 to 16:00), the first hour sets the day's range. The
# first hourly close outside it, in the direction of the daily trend, opens a trade at the next
# bar's Open with a stop-loss at the range's other edge. Whatever is open is closed at the Open of
# the last hour, so no position is held overnight. The account trades on 10% margin (10x leverage)
# and pays a commission and a spread.
#
# Run as a script (`python examples/intraday_margin.py`) or open as a notebook (percent format).
# It writes `intraday_margin.html` into the current directory.

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_hourly
from backtestkit.lib import resample_apply


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


class OpeningRangeBreakout(Strategy):
    n_trend = 10  # days
    size = 0.5  # share of the available margin: with 10x leverage, up to 5x the equity
    first_hour = 9
    last_hour = 15  # orders placed on this bar fill at the 16:00 bar's Open

    def init(self):
        # Daily closes, their n-day average, mapped back onto the hourly bars. Each hour sees only
        # days that have ended, so the filter never looks ahead.
        self.trend = resample_apply("D", SMA, self.data.Close, self.n_trend)
        self.range = None  # today's (high, low) once the first hour has closed

    def next(self):
        hour = self.data.index[-1].hour
        close = self.data.Close[-1]
        if hour == self.first_hour:
            self.range = (self.data.High[-1], self.data.Low[-1])
        elif hour == self.last_hour:
            self.position.close()
            self.range = None
        elif self.range is not None and not self.position:
            high, low = self.range
            if close > high and close > self.trend[-1]:
                self.buy(size=self.size, sl=low, tag="long")
                self.range = None  # one trade a day
            elif close < low and close < self.trend[-1]:
                self.sell(size=self.size, sl=high, tag="short")
                self.range = None


data = load_hourly()
print(data.head(9))
bt = Backtest(data, OpeningRangeBreakout, cash=100_000, margin=0.1, commission=0.0002, spread=0.0001)
stats = bt.run()
print("\nThe opening-range breakout on the hourly sample, 10x leverage:")
print(stats)

# %% [markdown]
# ## Flat every night
#
# Every trade opens and closes on the same day; none lasts beyond the session.

# %%
trades = stats["_trades"]
same_day = (trades.EntryTime.dt.date == trades.ExitTime.dt.date).all()
print(f"{len(trades)} trades, all closed on the day they opened: {same_day}")
print(f"longest trade: {trades.Duration.max()}, exits by hour:")
print(trades.ExitTime.dt.hour.value_counts().sort_index().to_string())
print(f"\ncommissions paid: {stats['Commissions [$]']:,.0f} $")
print("P&L by tag:")
print(trades.groupby("Tag")["PnL"].agg(["count", "sum"]).round(0).to_string())

# %% [markdown]
# ## Leverage and costs
#
# The synthetic sample data has no intraday momentum, so this breakout has no edge; about 760
# round trips at up to 5x the equity then make the costs the largest item. With a smaller share of
# the margin, losses and drawdowns shrink; without costs, most of the loss disappears.

# %%
for size in (0.1, 0.25, 0.5):
    result = bt.run(size=size)
    print(
        f"size={size:<4}: return {result['Return [%]']:7.1f}%, "
        f"max. drawdown {result['Max. Drawdown [%]']:6.1f}%"
    )
free = Backtest(data, OpeningRangeBreakout, cash=100_000, margin=0.1).run()
print(f"size=0.5 without commission and spread: return {free['Return [%]']:.1f}%")

# %% The chart of the run (10,000 bars are drawn downsampled)
bt.plot(results=stats, filename="intraday_margin.html", open_browser=False)
print("Chart written to intraday_margin.html")
