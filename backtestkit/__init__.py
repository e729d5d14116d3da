"""backtestkit: fast, correct backtesting of trading strategies with a first-class optimiser.

>>> from backtestkit import Backtest, Strategy
>>> from backtestkit.datasets import load_daily
>>> Backtest(load_daily(), Strategy).run()['# Trades']
0
"""

from backtestkit._backtest import Backtest
from backtestkit._orders import Order, Position, Trade
from backtestkit._settings import set_bokeh_output
from backtestkit._strategy import Strategy
from backtestkit._version import __version__

__all__ = ["Backtest", "Order", "Position", "Strategy", "Trade", "__version__", "set_bokeh_output"]
