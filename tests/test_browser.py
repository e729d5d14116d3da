"""Every kind of HTML backtestkit writes, opened in a real (headless) browser.

Each page must draw its Bokeh canvases, log no JavaScript error and request nothing outside the
page itself; a screenshot of each goes to artifacts/.
"""

from __future__ import annotations

import pandas as pd
import pytest

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily, load_hourly
from backtestkit.lib import crossover


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 30

    def init(self):
        self.fast = self.I(sma, self.data.Close, self.n1)
        self.slow = self.I(sma, self.data.Close, self.n2)
        self.spread = self.I(lambda a, b: a - b, self.fast, self.slow, name="fast - slow", overlay=False)

    def next(self):
        if crossover(self.fast, self.slow):
            self.position.close()
            self.buy(sl=self.data.Close[-1] * 0.9)
        elif crossover(self.slow, self.fast):
            self.position.close()
            self.sell()


def assert_renders_cleanly(page, *, at_least: int) -> None:
    assert page.canvases >= at_least, f"only {page.canvases} canvases drew; see {page.screenshot}"
    assert page.errors == [], f"JavaScript errors: {page.errors}"
    assert page.outside_requests == [], f"requests leaving the page: {page.outside_requests}"


@pytest.mark.parametrize("data", [load_daily, load_hourly], ids=["daily", "hourly"])
def test_backtest_chart_renders(browser, tmp_path, data):
    bt = Backtest(data(), SmaCross, commission=0.001, finalize_trades=True)
    bt.run()
    path = tmp_path / "chart.html"
    bt.plot(filename=str(path), open_browser=False, plot_drawdown=True, plot_return=True)
    # equity, return, drawdown, P/L, price, volume and the indicator panel each draw a canvas
    assert_renders_cleanly(browser.render(path, name=f"chart-{data.__name__}"), at_least=7)


def test_chart_of_a_range_index_renders(browser, tmp_path):
    bt = Backtest(load_daily().reset_index(drop=True), SmaCross, finalize_trades=True)
    bt.run()
    path = tmp_path / "chart.html"
    bt.plot(filename=str(path), open_browser=False)
    assert_renders_cleanly(browser.render(path, name="chart-range-index"), at_least=5)
