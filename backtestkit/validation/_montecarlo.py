"""Monte Carlo on a chosen run: how much of its equity curve is the luck of the order of its trades, or
of the one price path history happened to take.

Three methods. ``'shuffle'`` reorders the run's trades and ``'bootstrap'`` draws them with replacement
(both in this process, vectorised: no backtest runs); ``'candles'`` rebuilds the bars from a block
bootstrap of their moves and runs the strategy again on every path, in parallel through the
optimiser's runner. Every path has its own random stream, split from ``random_state`` with
``np.random.SeedSequence``, so the paths are the same for any ``n_jobs`` and any joblib backend.
"""

from __future__ import annotations

import numbers
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from backtestkit._backtest import Backtest, strategy_parameters
from backtestkit._engine import Engine
from backtestkit._errors import check_number, param_error, unknown_name_error
from backtestkit._objective import quiet_runs
from backtestkit.optimize._runner import BAR_DELAY, Runner, is_interactive
from backtestkit.optimize._search import _check_runner_options
from backtestkit.optimize._trial import Outcome, Trial
from backtestkit.validation._common import check_backtest
from backtestkit.validation._resample import ordered_equity, path_metrics, resampled_ohlc, trade_paths

OWNER = "monte_carlo"
METHODS = ("shuffle", "bootstrap", "candles")
PERCENTILES = (5, 25, 50, 75, 95)
RUN_EXPECTED = ("a run's stats (with '_trades' and '_equity_curve'), a study's Trial, a dict of parameters "
                "or None")
#: Trade paths are drawn this many at a time, each chunk from its own seed: the paths do not depend on
#: how many are asked for (the first k of n = 2k are those of n = k), and Ctrl-C keeps whole chunks.
CHUNK = 250


class MonteCarloInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a Monte Carlo. ``result`` is a :class:`MonteCarloResult` of the paths that
    finished; the same call with the same ``random_state`` gives the same paths again."""

    __module__ = "backtestkit.validation"  # as tracebacks show it: where users import it from

    def __init__(self, message: str, result: MonteCarloResult) -> None:
        super().__init__(message)
        self.result = result


class MonteCarloResult:
    """The paths of a Monte Carlo and what they say.

    Attributes: ``paths`` (a row per path: ``Equity Final [$]``, ``Return [%]``, ``Max. Drawdown [%]``
    and ``Ruined``), ``equity`` (the equity paths, a row each, starting at the cash), ``steps`` (what
    ``equity``'s columns are: trade numbers, or the bars' times), ``original`` (the same measures of
    the run itself), ``method``, ``n`` (paths finished), ``ruin``, ``compound``, ``block`` and
    ``random_state`` (an int that reproduces the paths).
    """

    def __init__(self, *, equity: np.ndarray, steps: pd.Index, original_equity: np.ndarray, cash: float,
                 method: str, ruin: float, compound: bool | None, block: int | None, random_state: int,
                 strategy: str) -> None:
        self.equity, self.steps, self.original_equity, self.cash = equity, steps, original_equity, cash
        self.method, self.ruin, self.compound, self.block = method, ruin, compound, block
        self.random_state, self.strategy = random_state, strategy
        self.paths = pd.DataFrame(path_metrics(equity, cash))
        self.paths["Ruined"] = self._ruined(self.paths)
        own = path_metrics(original_equity[None, :], cash)
        self.original = pd.Series({k: float(v[0]) for k, v in own.items()}, name="original")

    def _ruined(self, frame: pd.DataFrame) -> np.ndarray:
        return (-frame["Max. Drawdown [%]"].to_numpy() >= self.ruin * 100 - 1e-9) | (
            frame["Equity Final [$]"].to_numpy() <= 0)

    @property
    def n(self) -> int:
        """How many paths there are."""
        return len(self.paths)

    @property
    def percentiles(self) -> pd.DataFrame:
        """The 5th, 25th, 50th, 75th and 95th percentiles (rows) of each measure over the paths."""
        table = self.paths.drop(columns="Ruined").quantile([q / 100 for q in PERCENTILES])
        table.index = pd.Index([f"{q}%" for q in PERCENTILES], name="percentile")
        return table

    @property
    def probability_of_ruin(self) -> float:
        """The share of paths whose drawdown reached ``ruin`` (or whose equity reached zero)."""
        return float(self.paths["Ruined"].mean()) if self.n else float("nan")

    def __repr__(self) -> str:
        return f"<MonteCarloResult {self.method} of {self.strategy}: {self.n:,} paths>"

    def __str__(self) -> str:
        kind = {"shuffle": "trade order shuffled", "bootstrap": "trades drawn with replacement",
                "candles": f"bars resampled in blocks of {self.block}"}[self.method]
        lines = [f"Monte Carlo of {self.strategy}: {self.n:,} paths, {kind} "
                 f"(random_state={self.random_state}).",
                 self.percentiles.round(2).to_string(), "original run: " + ", ".join(
                     f"{k} {v:,.2f}" for k, v in self.original.items()),
                 f"Probability of ruin (drawdown >= {self.ruin:.0%}): {self.probability_of_ruin:.1%}"]
        return "\n".join(lines)

    def _bands(self) -> pd.DataFrame:
        values = np.percentile(self.equity, PERCENTILES, axis=0).T
        return pd.DataFrame(values, columns=list(PERCENTILES))

    def _chart(self) -> Any:
        from backtestkit.plotting._fan import fan_chart

        label = "trade" if self.method != "candles" else (
            "time" if isinstance(self.steps, pd.DatetimeIndex) else "bar")
        original = self.original_equity if len(self.original_equity) == self.equity.shape[1] else None
        return fan_chart(self.steps, self._bands(), original, self.equity, x_label=label)

    def report_section(self) -> Any:
        """A Bokeh section for a report (``Study.write_report(sections=[...])``, ``write_page``): heading,
        how to read it, the percentile table and the fan chart of the equity paths."""
        from backtestkit.plotting._fan import fan_section

        table = self.percentiles.reset_index()
        original = pd.DataFrame([{"percentile": "original run", **self.original.to_dict()}])
        table = pd.concat([table, original], ignore_index=True)
        note = ("Each path is one way the run could have gone. The bands hold the middle 50% and 90% of "
                "the paths at each step; the red line is the run itself. A run near the top of its fan was "
                "lucky; judge the strategy by the median and the 5th percentile.")
        facts = {"Method": self.method, "Paths": f"{self.n:,}",
                 f"Probability of ruin (drawdown >= {self.ruin:.0%})": f"{self.probability_of_ruin:.1%}",
                 "random_state": str(self.random_state)}
        facts["Method"] = self.method + ("" if self.block is None else f" (blocks of {self.block} bars)")
        if self.compound is not None:
            facts["Compounded"] = str(self.compound)
        return fan_section(f"Monte Carlo: {self.strategy}", note, facts, table, self._chart())

    def plot(self, *, filename: str | os.PathLike[str] | None = None, open_browser: bool = True) -> Any:
        """Draw the fan chart of the equity paths; writes ``filename`` (or shows it in a notebook)
        and opens it unless ``open_browser=False``. Returns the Bokeh figure."""
        from backtestkit.plotting._output import show_or_write

        chart = self._chart()
        show_or_write(chart, filename, title=f"Monte Carlo of {self.strategy}",
                      strategy=f"MonteCarlo-{self.strategy}", open_browser=open_browser)
        return chart

    def write_report(self, filename: str | os.PathLike[str], *, resources: str = "inline") -> Any:
        """Write a standalone HTML page of :meth:`report_section`; returns the path written."""
        from backtestkit.plotting._report import write_page

        return write_page(filename, title=f"Monte Carlo of {self.strategy}", sections=[self.report_section()],
                          resources=resources)


def monte_carlo(bt: Backtest, results_or_params: pd.Series | dict[str, Any] | None = None, n: int = 1000, *,
                method: str = "shuffle", ruin: float = 0.5, compound: bool | None = None,
                block: int | None = None, random_state: int | np.random.Generator | None = None,
                n_jobs: int | None = None, show_progress: bool | None = None) -> MonteCarloResult:
    """Monte Carlo of one run: ``n`` paths it could have taken, and the spread of its results.

    Parameters:
        bt: The Backtest that made (or is to make) the run.
        results_or_params: The run: its stats (``bt.run(...)``'s or ``bt.optimize(...)``'s Series), a
            study's :class:`~backtestkit.optimize.Trial` (``study.best_trial``) or a dict of strategy
            parameters to run with; None runs the strategy's own values.
        n: How many paths.
        method: ``'shuffle'`` reorders the run's trades, ``'bootstrap'`` draws as many with replacement
            (no backtest runs); ``'candles'`` rebuilds the bars from a block bootstrap of their moves
            (consistent OHLC) and runs the strategy again on each path.
        ruin: A drawdown, as a fraction in (0, 1]: a path whose drawdown reaches it counts as ruined.
        compound: For ``'shuffle'``/``'bootstrap'``: True (the default) counts each trade's P/L as a
            share of the equity before it, compounding along a path (sizes that follow equity); False
            adds the P/L in cash (fixed sizes). Not for ``'candles'``, where the strategy sizes.
        block: For ``'candles'``: bars per block (default the cube root of the number of bars).
        random_state: An int (or Generator) for reproducible paths; the result keeps the int used.
        n_jobs: Workers for ``'candles'`` (None: all cores; 1: this process); the paths are the same
            for any value.
        show_progress: A progress bar on stderr (None: when interactive).

    Returns:
        A :class:`MonteCarloResult`.

    Raises:
        TypeError, ValueError: For a bad argument, before any path is drawn.
        MonteCarloInterrupted: On Ctrl-C; its ``result`` holds the paths that finished.

    Example:
        >>> from backtestkit import Backtest, Strategy
        >>> from backtestkit.datasets import load_daily
        >>> from backtestkit.lib import crossover
        >>> from backtestkit.test import SMA
        >>> class Cross(Strategy):
        ...     def init(self):
        ...         self.fast, self.slow = self.I(SMA, self.data.Close, 10), self.I(SMA, self.data.Close, 30)
        ...     def next(self):
        ...         if crossover(self.fast, self.slow):
        ...             self.buy(size=10)
        ...         elif crossover(self.slow, self.fast):
        ...             self.position.close()
        >>> bt = Backtest(load_daily(), Cross, finalize_trades=True)
        >>> mc = monte_carlo(bt, bt.run(), n=200, random_state=1, show_progress=False)
        >>> mc.n, list(mc.percentiles.index)
        (200, ['5%', '25%', '50%', '75%', '95%'])
    """
    engine = check_backtest(OWNER, bt)._engine
    _check_options(n, method, ruin, compound, block, n_jobs, show_progress)
    if method == "candles":
        _check_candles(engine.data)
    params, stats = _run_of(bt, engine, results_or_params)
    entropy = _entropy(random_state)
    strategy = str(stats["_strategy"]) if "_strategy" in stats else engine.strategy.__name__
    show = is_interactive() if show_progress is None else show_progress
    common = {"cash": engine.cash, "method": method, "ruin": float(ruin), "random_state": entropy,
              "strategy": strategy}
    if method == "candles":
        return _candle_paths(engine, params, stats, n, block or _default_block(len(engine.data)), entropy,
                             -1 if n_jobs is None else n_jobs, show, common)
    return _trade_paths(stats, n, True if compound is None else compound, entropy, show, common)


def _check_options(n: Any, method: Any, ruin: Any, compound: Any, block: Any, n_jobs: Any,
                   show_progress: Any) -> None:
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise param_error(OWNER, "n", "an int >= 1", n, exc=TypeError)
    if n < 1:
        raise param_error(OWNER, "n", "an int >= 1", n)
    if method not in METHODS:
        raise param_error(OWNER, "method", "one of " + ", ".join(map(repr, METHODS)), method)
    check_number(OWNER, "ruin", ruin, "a drawdown as a fraction in (0, 1]", lambda x: 0 < x <= 1)
    if compound is not None and not isinstance(compound, (bool, np.bool_)):
        raise param_error(OWNER, "compound", "True, False or None", compound, exc=TypeError)
    if compound is not None and method == "candles":
        raise param_error(OWNER, "compound", "None with method='candles' (the strategy sizes its trades)",
                          compound)
    if block is not None:
        if not isinstance(block, numbers.Integral) or isinstance(block, bool):
            raise param_error(OWNER, "block", "an int >= 1 or None", block, exc=TypeError)
        if block < 1 or method != "candles":
            raise param_error(OWNER, "block", "an int >= 1, with method='candles' (or None)", block)
    _check_runner_options(OWNER, n_jobs, show_progress)


def _check_candles(data: pd.DataFrame) -> None:
    """Backtest has checked the prices are > 0 (the log moves need it); a block needs a move or two."""
    if len(data) < 3:
        raise ValueError(f"monte_carlo(method='candles') needs at least 3 bars to resample their moves. "
                         f"Got {len(data)} bars instead.")


def _run_of(bt: Backtest, engine: Engine, run: Any) -> tuple[dict[str, Any], pd.Series]:
    """The run's parameters and stats: those given, or a run with the parameters given."""
    if isinstance(run, pd.Series):
        if "_trades" not in run or "_equity_curve" not in run:
            raise param_error(OWNER, "results_or_params", RUN_EXPECTED, run, exc=TypeError)
        return dict(getattr(run.get("_strategy"), "_params", {})), run
    if isinstance(run, Trial):
        run = run.params
    if run is not None and not isinstance(run, dict):
        raise param_error(OWNER, "results_or_params", RUN_EXPECTED, run, exc=TypeError)
    params = dict(run or {})
    known = strategy_parameters(engine.strategy)
    for name in params:
        if name not in known:
            raise unknown_name_error("parameter", name, known, OWNER)
    return params, engine.stats(params)


def _entropy(random_state: Any) -> int:
    """An int seed: the one given, one drawn from a Generator, or fresh entropy."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    whole = isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    if whole and random_state >= 0:
        return int(random_state)
    raise param_error(OWNER, "random_state", "an int >= 0, a numpy Generator or None", random_state,
                      exc=TypeError if not isinstance(random_state, numbers.Integral) else ValueError)


def _default_block(bars: int) -> int:
    return max(1, round(bars ** (1 / 3)))


def _stopped(done: int, n: int, result: MonteCarloResult) -> MonteCarloInterrupted:
    return MonteCarloInterrupted(
        f"Monte Carlo stopped after {done:,} of {n:,} paths. The exception's .result holds them (a "
        f"MonteCarloResult); the same call with random_state={result.random_state} draws the same paths "
        f"again, so ask for n={n:,} with it to finish.", result)


def _trade_paths(stats: pd.Series, n: int, compound: bool, entropy: int, show: bool, common: dict[str, Any]
                 ) -> MonteCarloResult:
    trades = stats["_trades"]
    if len(trades) == 0:
        raise ValueError("monte_carlo needs a run with trades to reorder or redraw; this run has none. "
                         "Use method='candles' to resample the bars instead.")
    pnl = trades["PnL"].to_numpy(dtype=float)
    cash = common["cash"]
    original = ordered_equity(pnl, cash, np.arange(len(pnl))[None, :], compound=compound)[0]
    seeds = np.random.SeedSequence(entropy).spawn(-(-n // CHUNK))
    chunks: list[np.ndarray] = []

    def result() -> MonteCarloResult:
        equity = np.concatenate(chunks) if chunks else np.empty((0, len(pnl) + 1))
        return MonteCarloResult(equity=equity, steps=pd.RangeIndex(len(pnl) + 1), original_equity=original,
                                compound=compound, block=None, **common)

    from tqdm.std import tqdm

    bar = tqdm(total=n, desc=OWNER, unit="path", file=sys.stderr, disable=not show, leave=False,
               delay=BAR_DELAY)
    try:
        for i, seed in enumerate(seeds):
            size = min(CHUNK, n - i * CHUNK)
            chunks.append(trade_paths(pnl, cash, size, np.random.default_rng(seed), method=common["method"],
                                      compound=compound))
            bar.update(size)
    except KeyboardInterrupt:
        raise _stopped(sum(map(len, chunks)), n, result()) from None
    finally:
        bar.close()
    return result()


class _CandlePath:
    """What a worker runs for one path: rebuild the bars from the path's seed, run the strategy on them,
    return the equity curve (as the outcome's metrics)."""

    def __init__(self, engine: Engine, params: dict[str, Any], block: int) -> None:
        self.engine, self.params, self.block = engine, params, block

    def __call__(self, item: dict[str, Any]) -> Outcome:
        started = time.perf_counter()
        bars = resampled_ohlc(self.engine.data, self.block, np.random.default_rng(item["seed"]))
        engine = self.engine.on(bars)
        with quiet_runs():  # the equity is all a path needs: no stats, no frames
            equity = np.asarray(engine.simulate(self.params)[2], dtype=float)
        return Outcome("ok", float(equity[-1]), equity, time.perf_counter() - started)


def _candle_paths(engine: Engine, params: dict[str, Any], stats: pd.Series, n: int, block: int, entropy: int,
                  n_jobs: int, show: bool, common: dict[str, Any]) -> MonteCarloResult:
    close = engine.data["Close"].to_numpy(dtype=float)
    seeds = np.random.SeedSequence(entropy).spawn(n)
    done: dict[int, np.ndarray] = {}
    original = stats["_equity_curve"]["Equity"].to_numpy(dtype=float)

    def result() -> MonteCarloResult:
        rows = [done[i] for i in sorted(done)]
        equity = np.vstack(rows) if rows else np.empty((0, len(close)))
        return MonteCarloResult(equity=equity, steps=engine.data.index, original_equity=original,
                                compound=None, block=block, **common)

    runner = Runner(_CandlePath(engine, params, block), n_jobs=n_jobs, show_progress=show, owner=OWNER,
                    total=n)
    try:
        with runner:
            items = ((i, {"seed": seed}) for i, seed in enumerate(seeds))
            for keys, _, outcomes, failure in runner.map_batches(items, n, 4):
                done.update((key, outcome.metrics) for key, outcome in zip(keys, outcomes, strict=False)
                            if outcome.state == "ok")
                if failure is not None and isinstance(failure.exc, KeyboardInterrupt):
                    raise KeyboardInterrupt
                if failure is not None:
                    raise runner.error(failure)
    except KeyboardInterrupt:
        raise _stopped(len(done), n, result()) from None
    return result()
