# %% [markdown]
# # Is the optimum real? Plateau selection, the Deflated Sharpe Ratio and PBO
#
# A grid search always finds a best combination. This script asks three questions of one search:
# is the best a lone spike or part of a broad good region (plateau selection), is its Sharpe ratio
# more than the luck of trying 80 combinations (Deflated Sharpe Ratio), and how often does choosing
# the in-sample best pick a combination that does worse than the median out of sample (Probability of
# Backtest Overfitting)? Then one report shows all of it. Run as a script
# (`python examples/overfitting.py`) or open as a notebook (percent format).

# %%
import pandas as pd

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover
from backtestkit.validation import Plateau, deflated_sharpe, pbo, plateau, trial_returns


def SMA(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 60

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


# %% The search: a 10 x 8 grid, every trial kept in the study
if __name__ == "__main__":  # the workers import this file: only the main process searches
    bt = Backtest(load_daily(), SmaCross, commission=0.001, finalize_trades=True)
    best_run, study = bt.optimize(n1=range(5, 55, 5), n2=range(60, 220, 20), maximize="Sharpe Ratio",
                                  return_study=True, show_progress=False)
    print(f"{len(study)} trials; raw best {study.best_params}, Sharpe Ratio {study.best_value:.3f}")

    # %% Plateau selection: the best neighbourhood, not the best cell
    smooth = plateau(study, radius=1, statistic="mean")
    print(smooth.table().to_string())
    print("Sensitivity one grid step either side of the plateau best:")
    print(smooth.sensitivity.to_string())
    print(f"Plateau(radius=1, statistic='min') would choose {Plateau(1, 'min')(study)}")

    # %% The Deflated Sharpe Ratio of the raw best
    dsr = deflated_sharpe(best_run, study)
    print(dsr.summary())

    # %% The Probability of Backtest Overfitting: re-run every trial for its daily returns
    returns = trial_returns(bt, study, show_progress=False)
    print(f"returns matrix {returns.shape[0]:,} bars x {returns.shape[1]} trials "
          f"({returns.to_numpy().nbytes / 1e6:.1f} MB)")
    overfit = pbo(returns, n_splits=16)
    print(overfit.summary())

    # %% One report with the study and both results; the best run's chart on a page of its own
    path = study.write_report("overfitting_report.html", best_run=best_run,
                              sections=[smooth.report_section(), dsr.report_section(),
                                        overfit.report_section()])
    print(f"Report written to {path}")
    bt.plot(results=best_run, filename="overfitting_best.html", open_browser=False)
