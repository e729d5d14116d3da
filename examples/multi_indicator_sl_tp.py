# %% [markdown]
# # Several indicators, stop-loss/take-profit brackets and a trailing stop
#
# A trend filter (200-bar SMA) sets the direction, RSI times the entry on a pullback, and the ATR
# sizes the risk: each trade opens with a stop-loss 2 ATRs away and a take-profit 4 ATRs away, and
# `lib.TrailingStrategy` then pulls the stop-loss behind the price as the trade moves in its favour.
#
# Run as a script (`python examples/multi_indicator_sl_tp.py`) or open as a notebook (percent
# format). It writes `multi_indicator.html` into the current directory.

# %%
import numpy as np
import pandas as pd

from backtestkit import Backtest
from backtestkit.datasets import load_daily
from backtestkit.lib import TrailingStrategy


def SMA(values, n):
    """Simple moving average of the last n values."""
    return pd.Series(values).rolling(n).mean()


def RSI(values, n):
    """Relative strength index (Wilder's smoothing), 0 to 100."""
    change = pd.Series(values).diff()
    gain = change.clip(lower=0).ewm(alpha=1 / n, min_periods=n).mean()
    loss = (-change).clip(lower=0).ewm(alpha=1 / n, min_periods=n).mean()
    return 100 - 100 / (1 + gain / loss)


def ATR(high, low, close, n):
    """Average true range over n bars."""
    previous = pd.Series(close).shift()
    true_range = np.maximum(high - low, np.maximum(abs(high - previous), abs(low - previous)))
    return true_range.rolling(n).mean()


class TrendPullback(TrailingStrategy):
    n_trend = 200
    n_rsi = 14
    oversold = 35
    overbought = 65
    sl_atr = 2.0
    tp_atr = 4.0
    trail_atr = 3.0

    def init(self):
        super().init()  # TrailingStrategy computes its ATR here
        self.set_atr_periods(14)
        self.set_trailing_sl(self.trail_atr)
        data = self.data
        self.trend = self.I(SMA, data.Close, self.n_trend)
        self.rsi = self.I(RSI, data.Close, self.n_rsi, overlay=False)
        self.atr = self.I(ATR, data.High, data.Low, data.Close, 14, plot=False)

    def next(self):
        super().next()  # TrailingStrategy moves the open trades' stop-losses here
        if self.position:
            return
        price, risk = self.data.Close[-1], self.atr[-1]
        if price > self.trend[-1] and self.rsi[-1] < self.oversold:
            self.buy(size=0.5, sl=price - self.sl_atr * risk, tp=price + self.tp_atr * risk, tag="long")
        elif price < self.trend[-1] and self.rsi[-1] > self.overbought:
            self.sell(size=0.5, sl=price + self.sl_atr * risk, tp=price - self.tp_atr * risk, tag="short")


bt = Backtest(load_daily(), TrendPullback, cash=10_000, commission=0.001, finalize_trades=True)
stats = bt.run()
print("Trend pullbacks with ATR stop-losses and take-profits on the daily sample:")
print(stats)

# %% [markdown]
# ## The trades
#
# `_trades` has a row per closed trade with its `SL`/`TP` at the exit (the trailed stop), its `Tag`,
# and every indicator's value at entry and exit. A trade's exit price tells how it ended: at or
# beyond its take-profit or stop-loss (beyond when the bar opened past it), else at the last Close.

# %%
trades = stats["_trades"]
print(trades[["Size", "EntryPrice", "ExitPrice", "SL", "TP", "PnL", "Tag"]].head(10).round(2).to_string())

side = np.sign(trades.Size)  # +1 long, -1 short
ended_by = np.select(
    [side * (trades.ExitPrice - trades.TP) >= 0, side * (trades.ExitPrice - trades.SL) <= 0],
    ["take-profit", "stop-loss"],
    "end of data",
)
print("\nTrades by tag and by how they ended (count, total P&L):")
print(trades.groupby(["Tag", ended_by])["PnL"].agg(["count", "sum"]).round(2).to_string())

# %% [markdown]
# ## Without the trailing stop
#
# Parameters can be overridden per run: a trail far wider than the brackets leaves every trade to
# its original stop-loss and take-profit.

# %%
fixed = bt.run(trail_atr=100)
for name, result in (("trailing stop", stats), ("fixed brackets", fixed)):
    print(
        f"{name:>15}: return {result['Return [%]']:6.1f}%, "
        f"max. drawdown {result['Max. Drawdown [%]']:6.1f}%, {result['# Trades']} trades"
    )

# %% The chart of the run with the trailing stop
bt.plot(results=stats, filename="multi_indicator.html", open_browser=False)
print("Chart written to multi_indicator.html")
