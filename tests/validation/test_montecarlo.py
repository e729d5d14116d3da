"""monte_carlo: hand-worked trade paths, the invariants of a shuffle, reproducible seeded percentiles
bounded by the paths, consistent resampled bars, the same paths for any n_jobs, and Ctrl-C that keeps
what finished."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.test import SMA
from backtestkit.validation import MonteCarloInterrupted, MonteCarloResult, _montecarlo, monte_carlo
from backtestkit.validation._resample import ordered_equity, path_metrics, resampled_ohlc, trade_paths


class Cross(Strategy):
    n1, n2, size = 10, 30, 10

    def init(self):
        self.fast, self.slow = self.I(SMA, self.data.Close, self.n1), self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy(size=self.size)
        elif crossover(self.slow, self.fast):
            self.position.close()


@pytest.fixture(scope="module")
def bt():
    return Backtest(load_daily(), Cross, finalize_trades=True)


@pytest.fixture(scope="module")
def stats(bt):
    return bt.run()


# --- trade paths, by hand -----------------------------------------------------------------------------


def test_a_hand_worked_pair_of_trades_in_both_orders():
    # cash 100; trades of -60 then +60: 100 -> 40 -> 100, drawdown 60 %; +60 then -60: 100 -> 160 -> 100,
    # drawdown 60/160 = 37.5 %. Both end at 100.
    equity = ordered_equity(np.array([-60.0, 60.0]), 100.0, np.array([[0, 1], [1, 0]]), compound=False)
    assert equity.tolist() == [[100, 40, 100], [100, 160, 100]]
    metrics = path_metrics(equity, 100.0)
    assert metrics["Max. Drawdown [%]"].tolist() == [-60.0, -37.5]
    assert metrics["Equity Final [$]"].tolist() == [100.0, 100.0]
    assert metrics["Return [%]"].tolist() == [0.0, 0.0]


def test_compounding_takes_each_trade_as_a_share_of_the_equity_before_it():
    # +10 on 100 is +10 %; -11 on 110 is -10 %. Reversed: 100 * 0.9 * 1.1 = 99, the same end.
    equity = ordered_equity(np.array([10.0, -11.0]), 100.0, np.array([[1, 0]]), compound=True)
    assert equity[0] == pytest.approx([100, 90, 99])


def test_a_path_that_goes_broke_stays_broke():
    equity = ordered_equity(np.array([-150.0, 100.0]), 100.0, np.array([[0, 1]]), compound=False)
    assert equity.tolist() == [[100, 0, 0]]
    assert path_metrics(equity, 100.0)["Max. Drawdown [%]"].tolist() == [-100.0]


def test_ruin_counts_paths_whose_drawdown_reaches_it(bt, monkeypatch):
    trades = pd.DataFrame({"PnL": [-60.0, 60.0]})
    run = pd.Series({"_trades": trades, "_equity_curve": pd.DataFrame({"Equity": [1e4]}), "_strategy": None})
    run_cash = Backtest(load_daily(), Cross, cash=100)
    result = monte_carlo(run_cash, run, n=1000, method="shuffle", compound=False, ruin=0.5, random_state=0,
                         show_progress=False)
    lost_first = result.equity[:, 1] == 40
    assert 0.4 < lost_first.mean() < 0.6
    assert result.probability_of_ruin == lost_first.mean()  # 60 % >= 50 %; 37.5 % is not
    assert monte_carlo(run_cash, run, n=50, compound=False, ruin=0.375, random_state=0,
                       show_progress=False).probability_of_ruin == 1.0
    assert monte_carlo(run_cash, run, n=50, compound=False, ruin=0.61, random_state=0,
                       show_progress=False).probability_of_ruin == 0.0


# --- invariants ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("compound", [False, True])
def test_a_shuffle_keeps_the_final_equity_and_the_trades(bt, stats, compound):
    result = monte_carlo(bt, stats, n=300, compound=compound, random_state=7, show_progress=False)
    final = result.paths["Equity Final [$]"].to_numpy()
    assert final == pytest.approx(np.full(300, result.original["Equity Final [$]"]), rel=1e-9)
    if not compound:  # fixed sizes: the run's own final equity, cash + the trades' P/L
        assert result.original["Equity Final [$]"] == pytest.approx(stats["Equity Final [$]"], rel=1e-9)
    steps = np.sort(np.diff(result.equity, axis=1), axis=1)  # each path is the same trades, reordered
    if not compound:
        pnl = np.sort(stats["_trades"]["PnL"].to_numpy())
        assert steps == pytest.approx(np.broadcast_to(pnl, steps.shape))
    assert result.paths["Max. Drawdown [%]"].nunique() > 10  # the order does change the drawdown


def test_a_bootstrap_draws_the_run_s_trades(bt, stats):
    result = monte_carlo(bt, stats, n=200, method="bootstrap", compound=False, random_state=1,
                         show_progress=False)
    pnl = set(np.round(stats["_trades"]["PnL"], 6))
    assert set(np.round(np.diff(result.equity, axis=1).ravel(), 6)) <= pnl
    assert result.paths["Equity Final [$]"].nunique() > 100


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 600), method=st.sampled_from(["shuffle", "bootstrap"]),
       compound=st.booleans())
def test_percentiles_are_reproducible_and_bounded_by_the_paths(seed, n, method, compound):
    bt = Backtest(load_daily().iloc[:800], Cross, finalize_trades=True)
    stats = bt.run()
    options = {"n": n, "method": method, "compound": compound, "random_state": seed, "show_progress": False}
    first, again = monte_carlo(bt, stats, **options), monte_carlo(bt, stats, **options)
    pd.testing.assert_frame_equal(first.percentiles, again.percentiles)
    table, paths = first.percentiles, first.paths
    for column in table.columns:
        assert (table[column] >= paths[column].min() - 1e-9).all()
        assert (table[column] <= paths[column].max() + 1e-9).all()
        assert table[column].is_monotonic_increasing


def test_another_seed_draws_other_paths_and_the_first_paths_do_not_depend_on_n(bt, stats):
    a = monte_carlo(bt, stats, n=600, method="bootstrap", random_state=5, show_progress=False)
    b = monte_carlo(bt, stats, n=300, method="bootstrap", random_state=5, show_progress=False)
    c = monte_carlo(bt, stats, n=300, method="bootstrap", random_state=6, show_progress=False)
    assert np.array_equal(a.equity[:300], b.equity)
    assert not np.array_equal(b.equity, c.equity)
    d = monte_carlo(bt, stats, n=300, method="bootstrap", random_state=np.random.default_rng(5),
                    show_progress=False)
    assert isinstance(d.random_state, int)
    assert np.array_equal(monte_carlo(bt, stats, n=300, method="bootstrap", random_state=d.random_state,
                                      show_progress=False).equity, d.equity)


def test_parameters_run_the_same_as_the_stats_of_that_run(bt):
    by_params = monte_carlo(bt, {"n1": 5, "n2": 20}, n=100, random_state=2, show_progress=False)
    by_stats = monte_carlo(bt, bt.run(n1=5, n2=20), n=100, random_state=2, show_progress=False)
    assert np.array_equal(by_params.equity, by_stats.equity)
    assert by_params.strategy == "Cross(n1=5,n2=20)"


def test_a_study_s_best_trial_runs_its_parameters(bt, tmp_path):
    _, study = bt.optimize(n1=[5, 10], n2=[20, 30], maximize="Equity Final [$]", return_study=True, n_jobs=1,
                           show_progress=False)
    best = study.best_trial
    by_trial = monte_carlo(bt, best, n=50, random_state=2, show_progress=False)
    by_params = monte_carlo(bt, dict(best.params), n=50, random_state=2, show_progress=False)
    assert np.array_equal(by_trial.equity, by_params.equity)
    assert by_trial.original["Equity Final [$]"] == pytest.approx(best.metrics["Equity Final [$]"])
    from backtestkit.validation import check_lookahead

    sections = [by_trial.report_section(), check_lookahead(bt, **best.params).report_section()]
    html = study.write_report(tmp_path / "study.html", sections=sections).read_text(encoding="utf-8")
    assert "Monte Carlo: Cross" in html and "Lookahead check" in html


def test_the_user_s_stats_are_left_as_they_were(bt, stats):
    trades = stats["_trades"].copy()
    monte_carlo(bt, stats, n=20, random_state=0, show_progress=False)
    pd.testing.assert_frame_equal(stats["_trades"], trades)


# --- candles --------------------------------------------------------------------------------------------


def positive_bars(draw_moves: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    close, rows = 100.0, []
    for gap, body, top, bottom in draw_moves:
        o = close * np.exp(gap)
        c = o * np.exp(body)
        rows.append((o, max(o, c) * np.exp(top), min(o, c) * np.exp(-bottom), c))
        close = c
    frame = pd.DataFrame(rows, columns=["Open", "High", "Low", "Close"],
                         index=pd.date_range("2020-01-01", periods=len(rows), freq="D"))
    frame["Volume"] = np.arange(len(rows), dtype=float)
    return frame


moves = st.tuples(st.floats(-0.2, 0.2), st.floats(-0.2, 0.2), st.floats(0, 0.2), st.floats(0, 0.2))


@settings(max_examples=100, deadline=None)
@given(bars=st.lists(moves, min_size=3, max_size=80), block=st.integers(1, 100), seed=st.integers(0, 2**32))
def test_resampled_bars_are_consistent_ohlc(bars, block, seed):
    data = positive_bars(bars)
    out = resampled_ohlc(data, block, np.random.default_rng(seed))
    assert out.index.equals(data.index) and list(out.columns) == ["Open", "High", "Low", "Close", "Volume"]
    values = out[["Open", "High", "Low", "Close"]].to_numpy()
    assert np.isfinite(values).all() and (values > 0).all()
    assert (out.High >= out[["Open", "Close"]].max(axis=1)).all()
    assert (out.Low <= out[["Open", "Close"]].min(axis=1)).all()
    pd.testing.assert_series_equal(out.iloc[0], data.iloc[0])
    # every bar's move is one of the data's moves
    def body(frame):
        return np.round(np.log(frame.Close / frame.Open).to_numpy()[1:], 6)
    assert set(body(out)) <= set(body(data))


def test_one_block_as_long_as_the_data_gives_the_data_back():
    data = load_daily().iloc[:50]
    out = resampled_ohlc(data, 49, np.random.default_rng(0))
    pd.testing.assert_frame_equal(out, data[["Open", "High", "Low", "Close", "Volume"]], check_dtype=False,
                                  rtol=1e-9)


def test_candle_paths_are_the_same_for_any_n_jobs(bt):
    options = {"n": 6, "method": "candles", "block": 20, "random_state": 3, "show_progress": False}
    one, two = monte_carlo(bt, None, n_jobs=1, **options), monte_carlo(bt, None, n_jobs=2, **options)
    assert np.array_equal(one.equity, two.equity)
    assert one.equity.shape == (6, len(load_daily()))
    assert one.paths["Equity Final [$]"].nunique() == 6
    assert one.steps.equals(load_daily().index)
    assert "bars resampled in blocks of 20" in str(one)


def test_ctrl_c_keeps_the_candle_paths_that_finished(bt, monkeypatch):
    full = monte_carlo(bt, None, n=10, method="candles", random_state=4, n_jobs=1, show_progress=False)
    calls = []
    real = _montecarlo.resampled_ohlc

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(_montecarlo, "resampled_ohlc", interrupted)
    with pytest.raises(MonteCarloInterrupted, match=r"stopped after 3 of 10 paths.*random_state=4") as info:
        monte_carlo(bt, None, n=10, method="candles", random_state=4, n_jobs=1, show_progress=False)
    kept = info.value.result
    assert isinstance(kept, MonteCarloResult) and kept.n == 3
    assert np.array_equal(kept.equity, full.equity[:3])


def test_ctrl_c_keeps_the_trade_paths_that_finished(bt, stats, monkeypatch):
    calls = []
    real = _montecarlo.trade_paths

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_montecarlo, "trade_paths", interrupted)
    with pytest.raises(MonteCarloInterrupted, match=r"stopped after 250 of 1,000 paths") as info:
        monte_carlo(bt, stats, n=1000, random_state=1, show_progress=False)
    assert info.value.result.n == _montecarlo.CHUNK


# --- results: reading, drawing, reports -------------------------------------------------------------------


def test_the_result_reads_and_draws(bt, stats, tmp_path):
    result = monte_carlo(bt, stats, n=100, method="bootstrap", random_state=0, show_progress=False)
    assert repr(result) == "<MonteCarloResult bootstrap of Cross: 100 paths>"
    assert list(result.percentiles.index) == ["5%", "25%", "50%", "75%", "95%"]
    assert list(result.paths.columns) == ["Equity Final [$]", "Return [%]", "Max. Drawdown [%]", "Ruined"]
    assert "Probability of ruin (drawdown >= 50%)" in str(result)
    page = result.write_report(tmp_path / "mc.html", resources="cdn")
    html = page.read_text(encoding="utf-8")
    assert "Monte Carlo" in html and "original run" in html
    result.plot(filename=tmp_path / "fan", open_browser=False)
    assert (tmp_path / "fan.html").exists()
    from bokeh.models import LayoutDOM

    assert isinstance(result.report_section(), LayoutDOM)


# --- bad input --------------------------------------------------------------------------------------------


BAD = [
    ({"bt": "bt"}, TypeError, "The 'bt' parameter of monte_carlo must be a Backtest. Got 'bt' instead."),
    ({"n": 0}, ValueError, "The 'n' parameter of monte_carlo must be an int >= 1. Got 0 instead."),
    ({"n": 10.0}, TypeError, "The 'n' parameter of monte_carlo must be an int >= 1. Got 10.0 instead."),
    ({"method": "shufle"}, ValueError,
     "The 'method' parameter of monte_carlo must be one of 'shuffle', 'bootstrap', 'candles'. "
     "Got 'shufle' instead."),
    ({"ruin": 1.5}, ValueError,
     "The 'ruin' parameter of monte_carlo must be a drawdown as a fraction in (0, 1]. Got 1.5 instead."),
    ({"compound": "yes"}, TypeError,
     "The 'compound' parameter of monte_carlo must be True, False or None. Got 'yes' instead."),
    ({"compound": True, "method": "candles"}, ValueError,
     "The 'compound' parameter of monte_carlo must be None with method='candles' (the strategy sizes its "
     "trades). Got True instead."),
    ({"block": 5}, ValueError,
     "The 'block' parameter of monte_carlo must be an int >= 1, with method='candles' (or None). "
     "Got 5 instead."),
    ({"random_state": -1}, ValueError,
     "The 'random_state' parameter of monte_carlo must be an int >= 0, a numpy Generator or None. "
     "Got -1 instead."),
    ({"n_jobs": 0}, ValueError,
     "The 'n_jobs' parameter of monte_carlo must be a non-zero int (-1 for all cores) or None. "
     "Got 0 instead."),
    ({"results_or_params": [1]}, TypeError,
     "The 'results_or_params' parameter of monte_carlo must be a run's stats (with '_trades' and "
     "'_equity_curve'), a study's Trial, a dict of parameters or None. Got [1] instead."),
    ({"results_or_params": {"n3": 1}}, ValueError,
     "Unknown parameter 'n3' for monte_carlo. Known: 'n1', 'n2', 'size'. Did you mean 'n2'?"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD, ids=[str(sorted(k)) for k, _, _ in BAD])
def test_bad_arguments_are_named(bt, kwargs, exc, match):
    kwargs = {"bt": bt, **kwargs}
    with pytest.raises(exc, match=f"^{re.escape(match)}$"):
        monte_carlo(**kwargs)


def test_candles_need_a_few_bars_and_say_so_before_running(monkeypatch):
    bt = Backtest(load_daily().iloc[:2], Cross)
    monkeypatch.setattr(_montecarlo, "_run_of", None)  # nothing runs before the check
    message = ("monte_carlo(method='candles') needs at least 3 bars to resample their moves. "
               "Got 2 bars instead.")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        monte_carlo(bt, None, n=5, method="candles")


def test_a_failing_path_names_the_error(bt):
    class Fails(Cross):
        def next(self):
            if len(self.data) == 100 and self.data.Close[-1] != load_daily().Close.iloc[99]:
                raise RuntimeError("not on these prices")
            super().next()

    failing = Backtest(load_daily(), Fails, finalize_trades=True)
    with pytest.raises(Exception, match="not on these prices"):
        monte_carlo(failing, None, n=3, method="candles", random_state=0, n_jobs=1, show_progress=False)


def test_a_run_without_trades_cannot_be_shuffled():
    bt = Backtest(load_daily(), Strategy)
    with pytest.raises(ValueError, match="this run has none. Use method='candles'"):
        monte_carlo(bt, bt.run(), n=10)


def test_trade_paths_of_a_bootstrap_stay_within_the_extremes():
    # 3 trades of -20, 10, 30 drawn 3 times: final equity within 100 - 60 and 100 + 90
    equity = trade_paths(np.array([-20.0, 10.0, 30.0]), 100.0, 500, np.random.default_rng(0),
                         method="bootstrap", compound=False)
    assert equity[:, -1].min() >= 40 and equity[:, -1].max() <= 190
    assert {40.0, 190.0} <= set(equity[:, -1])  # with 500 draws both extremes (1/27 each) appear


@pytest.mark.parametrize("method", ["bootstrap", "candles"])
def test_the_report_renders_in_a_browser(browser, bt, stats, tmp_path, method):
    result = monte_carlo(bt, stats, n=12, method=method, random_state=0, n_jobs=1, show_progress=False)
    page = browser.render(result.write_report(tmp_path / "mc.html"), name=f"monte-carlo-{method}")
    assert page.errors == [] and page.outside_requests == []
    assert page.canvases >= 2  # the percentile table and the fan chart
