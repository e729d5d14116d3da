"""backtestkit: fast, correct backtesting of trading strategies with a first-class optimiser.

>>> from backtestkit import Backtest, Strategy
>>> from backtestkit.datasets import load_daily
>>> Backtest(load_daily(), Strategy).run()['# Trades']
0
"""

from backtestkit._backtest import Backtest
from backtestkit._orders import Order, Position, Trade
from backtestkit._params import param_string, parse_params
from backtestkit._settings import set_bokeh_output, set_compiled_signals, set_indicator_cache
from backtestkit._strategy import Strategy
from backtestkit._version import __version__

__all__ = ["Backtest", "Order", "Position", "Strategy", "Trade", "__version__", "param_string",
           "parse_params", "set_bokeh_output", "set_compiled_signals",
           "set_indicator_cache"]
