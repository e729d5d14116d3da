"""The parallel runner: identical results on every joblib backend, batching, errors, progress, Ctrl-C."""

from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import cloudpickle
import joblib
import pandas as pd
import psutil
import pytest

from backtestkit.optimize import _runner, run_search
from backtestkit.optimize._runner import RemoteTraceback, is_interactive

# workers unpickle this module's objectives by value, wherever pytest was started from
cloudpickle.register_pickle_by_value(sys.modules[__name__])

PARAMS = {"n1": range(8), "n2": range(6)}


class PidRecorder:
    """A bowl-shaped objective that leaves a file named after the process that ran it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, p: dict) -> float:
        (self.folder / str(os.getpid())).touch()
        return -((p["n1"] - 3) ** 2 + (p["n2"] - 4) ** 2) + 0.1 * p["n1"]

    def pids(self) -> set[int]:
        return {int(path.name) for path in self.folder.iterdir()}


def searches(objective, **kwargs):
    """A grid, a sampled grid and a skopt search, as heatmaps."""
    common = {"known_params": PARAMS, "show_progress": False, **kwargs}
    return [
        run_search(objective, PARAMS, **common).heatmap(),
        run_search(objective, PARAMS, max_tries=10, random_state=3, **common).heatmap(),
        run_search(objective, PARAMS, method="skopt", max_tries=25, random_state=3, **common).heatmap(),
    ]


def assert_same(heatmaps, expected):
    for heatmap, reference in zip(heatmaps, expected, strict=True):
        pd.testing.assert_series_equal(heatmap, reference)


def test_results_are_identical_on_every_backend(tmp_path):
    from dask.distributed import Client, LocalCluster

    in_process = PidRecorder(tmp_path / "in_process")
    in_process.folder.mkdir()
    expected = searches(in_process, n_jobs=1)
    assert in_process.pids() == {os.getpid()}  # n_jobs=1 runs here, with no joblib
    for backend in ("loky", "threading"):
        with joblib.parallel_config(backend=backend):
            assert_same(searches(in_process, n_jobs=2), expected)
    loky = PidRecorder(tmp_path / "loky")
    loky.folder.mkdir()
    assert_same(searches(loky, n_jobs=2), expected)
    assert os.getpid() not in loky.pids()

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = Client(cluster)
    try:
        on_dask = PidRecorder(tmp_path / "dask")
        on_dask.folder.mkdir()
        with joblib.parallel_config(backend="dask"):
            assert_same(searches(on_dask), expected)  # n_jobs=None: every worker of the cluster
        workers = set(client.run(os.getpid).values())
        assert on_dask.pids() and on_dask.pids() <= workers
    finally:
        client.close()
        cluster.close()


class CountsPickles:
    """An objective that counts how often it is pickled (in this process, on the way to workers)."""

    pickles = 0

    def __reduce__(self):
        type(self).pickles += 1
        return (CountsPickles, ())

    def __call__(self, p: dict) -> float:
        return float(p["n1"])


def test_objective_travels_once_per_batch():
    CountsPickles.pickles = 0
    with joblib.parallel_config(backend="loky"):
        run_search(CountsPickles(), {"n1": range(200)}, known_params=["n1"], n_jobs=2, show_progress=False)
    # 200 combinations, 2 workers, 16 batches each: batches of ceil(200 / 32) = 7, so ceil(200 / 7) = 29
    assert CountsPickles.pickles == 29


def test_batches_are_capped_for_a_live_progress_bar(monkeypatch):
    sizes = []
    evaluate = _runner.evaluate_batch
    monkeypatch.setattr(
        _runner, "evaluate_batch", lambda f, batch: sizes.append(len(batch)) or evaluate(f, batch)
    )
    run_search(lambda p: 0.0, {"n1": range(1000)}, known_params=["n1"], n_jobs=1, show_progress=False)
    # one worker, 16 batches: ceil(1000 / 16) = 63 each, under the cap of 100
    assert sizes == [63] * 15 + [55]
    sizes.clear()
    run_search(lambda p: 0.0, {"n1": range(5000)}, known_params=["n1"], n_jobs=1, show_progress=False)
    assert sizes == [100] * 50  # ceil(5000 / 16) = 313 is over the cap


def boom(p: dict) -> float:
    if p["n1"] == 5:
        raise ZeroDivisionError("division by zero")
    return 0.0


def test_error_in_a_worker_names_the_combination_and_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError) as info:
        run_search(boom, {"n1": range(10)}, known_params=["n1"], n_jobs=2, show_progress=False)
    assert str(info.value).endswith("for the combination n1=5: division by zero")
    original = info.value.__cause__
    assert isinstance(original, ZeroDivisionError)
    assert isinstance(original.__cause__, RemoteTraceback)
    assert "in boom" in str(original.__cause__)  # the worker's traceback


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle")


def raises_unpicklable(p: dict) -> float:
    raise Unpicklable("odd")


def test_an_exception_that_cannot_travel_comes_back_as_text():
    with pytest.raises(RuntimeError, match=r"for the combination n1=0: Unpicklable: odd$"):
        run_search(raises_unpicklable, {"n1": [0]}, known_params=["n1"], n_jobs=2, show_progress=False)


def test_progress_bar_on_stderr_and_a_summary_that_stays(capsys, monkeypatch):
    monkeypatch.setattr(_runner, "BAR_DELAY", 0)  # the bar shows at once, not after a second
    run_search(lambda p: float(p["n1"]), {"n1": range(50)}, known_params=["n1"], n_jobs=1, show_progress=True)
    err = capsys.readouterr().err
    assert "Backtest.optimize:   0%|          | 0/50" in err
    assert re.search(r"[\r\n]Backtest.optimize: 50 runs in [\d.]+ s \([\d.,]+ ms a run, 1 worker\); best "
                     r"objective 49 at n1=49\n$", err)
    for show_progress in (False, None):  # None: off, since stderr is not a terminal here
        run_search(
            lambda p: 0.0, {"n1": range(50)}, known_params=["n1"], n_jobs=1, show_progress=show_progress
        )
        assert capsys.readouterr().err == ""


def test_interactive_in_a_terminal_or_a_jupyter_kernel(monkeypatch):
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: True))
    assert is_interactive()
    monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(isatty=lambda: False))
    assert not is_interactive()
    ZMQInteractiveShell = type("ZMQInteractiveShell", (), {})
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=ZMQInteractiveShell))
    assert is_interactive()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not is_interactive()


def run_script(source: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(source), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_objective_defined_in_main_without_a_guard():
    process = run_script("""
        import os
        from backtestkit.optimize import run_search

        def objective(p):
            return float(os.getpid())

        result = run_search(objective, {'n1': range(8)}, known_params=['n1'], n_jobs=2, show_progress=False)
        print(os.getpid() not in set(result.heatmap()), result.n_evaluated)
    """)
    out, err = process.communicate(timeout=120)
    assert (process.returncode, out.split()) == (0, ["True", "8"]), err


def busy_search(folder: Path) -> tuple[subprocess.Popen, list[int]]:
    """A search on two workers in a child process, and the workers' pids once both are busy."""
    process = run_script(
        """
        import os, sys, time, pathlib
        from backtestkit.optimize import run_search

        def objective(p):
            (pathlib.Path(sys.argv[1]) / str(os.getpid())).touch()
            time.sleep(0.2)
            return 0.0

        run_search(objective, {'n1': range(1000)}, known_params=['n1'], n_jobs=2, show_progress=False)
    """,
        str(folder),
    )
    for _ in range(600):  # wait (up to a minute) until both workers are busy
        if len(list(folder.iterdir())) >= 2:
            break
        time.sleep(0.1)
    workers = [int(path.name) for path in folder.iterdir()]
    assert len(workers) == 2
    return process, workers


def test_ctrl_c_stops_and_leaves_no_worker_behind(tmp_path):
    process, workers = busy_search(tmp_path)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0 and "SearchInterrupted: Backtest.optimize was interrupted after" in err
    for pid in workers:
        try:
            psutil.Process(pid).wait(timeout=30)
        except psutil.NoSuchProcess:
            pass
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_failure_record_survives_pickling():
    failure = _runner._Failure({"n1": 1}, ValueError("bad"), "trace")
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.params, str(copy.exc), copy.trace) == ({"n1": 1}, "bad", "trace")


def dies_at_25(p: dict) -> float:
    if p["n1"] == 25:  # once the other worker has had time to finish the rest
        time.sleep(2)
        os._exit(1)  # as an out-of-memory kill would
    return float(p["n1"])


def test_a_killed_worker_is_named_and_the_finished_trials_are_kept(tmp_path):
    with pytest.raises(_runner.WorkerLostError, match=r"^A worker process died \(killed, or out of memory\) "
                       r"while running one of these combinations: .*n1=25.*\. Every trial that finished "
                       r"before is kept\.") as info:
        run_search(dies_at_25, {"n1": range(40)}, known_params=["n1"], n_jobs=2, show_progress=False,
                   storage=tmp_path / "runs.db")
    assert "are saved in" in " ".join(info.value.__notes__)
    from backtestkit.optimize import load_study

    assert load_study(tmp_path / "runs.db").info["state"] == "failed"


def test_workers_exit_soon_after_the_driver_is_killed(tmp_path):
    process, pids = busy_search(tmp_path)
    workers = [psutil.Process(pid) for pid in pids]
    process.kill()
    process.wait()  # not communicate(): the workers hold the pipes open while they live
    _, alive = psutil.wait_procs(workers, timeout=10)  # they poll for their parent twice a second
    for worker in alive:  # leave nothing behind, even when the test fails
        worker.kill()
    process.stdout.close()
    process.stderr.close()
    assert alive == []
