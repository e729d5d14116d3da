# %% [markdown]
# # A distributed optimisation on a dask cluster
#
# `Backtest.optimize` runs its backtests through joblib, so `joblib.parallel_config(backend='dask')`
# sends them to a dask.distributed cluster instead of local processes. Here the cluster is two
# worker processes on this machine; to use a real cluster, connect the `Client` to its scheduler's
# address (`Client('tcp://scheduler:8786')`) instead. Each worker receives the data once per batch
# of combinations, not once per backtest.
#
# Run as a script (`python examples/distributed_dask.py`) or open as a notebook (percent format).
# It needs dask.distributed: `pip install "backtestkit[distributed]"` (or `pip install ".[distributed]"`
# in a checkout). dask starts worker processes that import this file, so the work is guarded by
# `if __name__ == '__main__':`.

# %%
import joblib
import pandas as pd

try:
    from dask.distributed import Client, LocalCluster, get_task_stream
except ImportError:
    raise SystemExit('This example needs dask.distributed: pip install "backtestkit[distributed]"') from None

from backtestkit import Backtest, Strategy
from backtestkit.datasets import load_daily
from backtestkit.lib import crossover


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


GRID = dict(n1=range(5, 60, 5), n2=range(20, 200, 10), constraint=lambda p: p.n1 < p.n2)


def optimize(bt, **options):
    """The search, the same wherever it runs: 11 x 18 lengths, 178 combinations with n1 < n2."""
    return bt.optimize(**GRID, maximize="Sharpe Ratio", return_heatmap=True, **options)


# %%
if __name__ == "__main__":
    bt = Backtest(load_daily(), SmaCross, cash=10_000, commission=0.002, finalize_trades=True)

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = Client(cluster)
    print(client)
    try:
        with joblib.parallel_config(backend="dask"), get_task_stream(client) as tasks:
            stats, heatmap = optimize(bt)
    finally:
        client.close()
        cluster.close()

    workers = {task["worker"] for task in tasks.data}
    print(f"\n{len(tasks.data)} batches ran on {len(workers)} workers of the cluster")
    print(
        f"Best: {stats['_strategy']}, Sharpe Ratio {stats['Sharpe Ratio']:.4f}, {len(heatmap)} combinations"
    )

    # %% [markdown]
    # ## The same result anywhere
    #
    # Results do not depend on where or in how many processes the runs happen: the same search in
    # this process alone gives the same best run and the same heatmap.

    # %%
    local_stats, local_heatmap = optimize(bt, n_jobs=1)
    same = str(local_stats["_strategy"]) == str(stats["_strategy"]) and local_heatmap.equals(heatmap)
    print(f"In this process: best {local_stats['_strategy']}; same best run and heatmap: {same}")
    if not same:
        raise SystemExit("the cluster's result differs from the local one")
