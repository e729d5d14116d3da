"""Studies on disk: saved as batches finish, resumed to the same result after Ctrl-C or kill -9,
refused when the search differs, locked against a second writer, clear errors for bad files."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from backtestkit.optimize import Genetic, SearchInterrupted, StoreError, load_study, run_search

OBJECTIVES = '''
import time

def bowl(p):
    time.sleep(0.02)
    return -((p["n1"] - 7) ** 2 + (p["n2"] - 4) ** 2) + 0.01 * p["n1"] * p["n2"]
'''
PARAMS = {"n1": range(12), "n2": range(6)}
SEARCHES = {
    "grid": {},
    "random": {"max_tries": 30, "random_state": 4},
    "skopt": {"method": "skopt", "max_tries": 30, "random_state": 4},
    "genetic": {"method": Genetic(population_size=8, generations=6), "random_state": 4},
    "euler": {"method": "euler"},
}


@pytest.fixture
def objectives(tmp_path):
    """A module of objectives that this process and a child process both import."""
    (tmp_path / "objectives.py").write_text(OBJECTIVES)
    spec = importlib.util.spec_from_file_location("objectives", tmp_path / "objectives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def search(objective, storage=None, **kwargs):
    return run_search(objective, PARAMS, known_params=list(PARAMS), n_jobs=1, show_progress=False,
                      storage=storage, study_name="s", **kwargs)


def stored_trials(path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def comparable(study) -> pd.DataFrame:
    """The trials as a set: parameters, state, value (numbers and durations depend on timing)."""
    frame = study.trials_dataframe()[["n1", "n2", "state", "value"]]
    return frame.sort_values(["n1", "n2"]).reset_index(drop=True)


def assert_same_study(study, reference):
    pd.testing.assert_frame_equal(comparable(study), comparable(reference))
    pd.testing.assert_series_equal(study.heatmap(), reference.heatmap())
    assert study.best_params == reference.best_params and study.best_value == reference.best_value


def test_saved_and_loaded_trials_are_the_same(objectives, tmp_path):
    study = search(objectives.bowl, tmp_path / "runs.db")
    loaded = load_study(tmp_path / "runs.db")
    assert (loaded.name, loaded.storage, len(loaded)) == ("s", str(tmp_path / "runs.db"), 72)
    pd.testing.assert_frame_equal(loaded.trials_dataframe(), study.trials_dataframe())
    assert loaded.info["state"] == "complete" and loaded.info["space"] == {"n1": list(range(12)),
                                                                            "n2": list(range(6))}


@pytest.mark.parametrize("method", SEARCHES)
def test_ctrl_c_keeps_every_finished_trial_and_the_same_call_resumes(objectives, tmp_path, method):
    reference = search(objectives.bowl, **SEARCHES[method])
    calls = []

    def interrupted(p):
        if len(calls) == 11:
            raise KeyboardInterrupt
        calls.append(p)
        return objectives.bowl(p)

    with pytest.raises(SearchInterrupted, match=r"interrupted. The 11 trials that finished are saved in "
                                                r".*runs.db' \(study 's'\); run the same call again") as info:
        search(interrupted, tmp_path / "runs.db", **SEARCHES[method])
    assert len(info.value.study) == 11 and load_study(tmp_path / "runs.db").info["state"] == "interrupted"
    rerun = []
    counted = lambda p: rerun.append(p) or objectives.bowl(p)  # noqa: E731
    resumed = search(counted, tmp_path / "runs.db", **SEARCHES[method])
    assert_same_study(resumed, reference)
    assert len(rerun) == len(reference) - 11  # the stored trials never ran again
    assert not {tuple(p.values()) for p in rerun} & {tuple(p.values()) for p in calls}


KILL_POINTS = [(method, at) for method in SEARCHES for at in (1, 17)]


@pytest.mark.parametrize("method, at", KILL_POINTS)
def test_resume_after_kill_9_gives_the_uninterrupted_result(objectives, tmp_path, method, at):
    path = tmp_path / "runs.db"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from objectives import bowl
        from backtestkit.optimize import Genetic, run_search  # noqa: F401 -- in SEARCHES
        run_search(bowl, {PARAMS!r}, known_params={list(PARAMS)!r}, n_jobs=1, show_progress=False,
                   storage={str(path)!r}, study_name="s", **{SEARCHES[method]!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while stored_trials(path) < at and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.communicate()
    saved = stored_trials(path)
    assert saved >= at  # killed mid-search: what finished before is on disk
    resumed = search(objectives.bowl, path, **SEARCHES[method])
    assert_same_study(resumed, search(objectives.bowl, **SEARCHES[method]))


def test_a_different_search_under_the_same_name_is_refused(objectives, tmp_path):
    search(objectives.bowl, tmp_path / "runs.db", max_tries=5, random_state=1)
    changed = (r"cannot resume the study 's' in .*: it was a different search. What changed: options \(.*\); "
               r"seed \(1 then, 2 now\)\. A study resumes only the very same search: name a new one "
               r"\(study_name='s-2'\)")
    with pytest.raises(StoreError, match=changed):
        search(objectives.bowl, tmp_path / "runs.db", max_tries=6, random_state=2)
    with pytest.raises(StoreError, match=r"What changed: space \("):
        run_search(objectives.bowl, {"n1": range(5), "n2": 1}, known_params=list(PARAMS), n_jobs=1,
                   show_progress=False, storage=tmp_path / "runs.db", study_name="s", random_state=1,
                   max_tries=5)
    resumed = search(objectives.bowl, tmp_path / "runs.db", max_tries=5)  # no seed given: the stored one
    assert len(resumed) == 5


def test_a_second_writer_is_refused_while_the_first_runs(objectives, tmp_path):
    path = tmp_path / "runs.db"
    script = textwrap.dedent(f"""
        import sys, time
        from backtestkit.optimize import run_search
        def slow(p):
            time.sleep(0.5)
            return 0.0
        run_search(slow, {PARAMS!r}, known_params={list(PARAMS)!r}, n_jobs=1, show_progress=False,
                   storage={str(path)!r}, study_name="s")
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while stored_trials(path) < 1 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(StoreError, match=r"^The study 's' in .*runs.db' is being written by another "
                                             r"process. Wait for it to finish, or give this search another "
                                             r"study_name=.$"):
            run_search(lambda p: 0.0, PARAMS, known_params=list(PARAMS), n_jobs=1, show_progress=False,
                       storage=path, study_name="s")
        assert len(load_study(path)) >= 1  # reading is never refused
    finally:
        child.kill()
        child.communicate()


def test_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(StoreError, match=r"^No study file at '.*missing.db'. Check the path"):
        load_study(tmp_path / "missing.db")
    (tmp_path / "noise.db").write_bytes(os.urandom(4096))
    with pytest.raises(StoreError, match=r"^'.*noise.db' is not a backtestkit study store \(file is not a "
                                         r"database\)\.$"):
        load_study(tmp_path / "noise.db")
    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE prices (day TEXT, close REAL)")
    with pytest.raises(StoreError, match=r"^'.*other.db' is a SQLite file but not a backtestkit study store "
                                         r"\(it has the tables prices\)\.$"):
        run_search(lambda p: 0.0, PARAMS, known_params=list(PARAMS), n_jobs=1, storage=tmp_path / "other.db")
    with pytest.raises(StoreError, match=r"is a folder"):
        load_study(tmp_path)


def test_several_studies_in_one_file(objectives, tmp_path):
    path = tmp_path / "runs.db"
    for name in ("first", "second"):
        run_search(objectives.bowl, {"n1": range(3), "n2": 1}, known_params=list(PARAMS), n_jobs=1,
                   show_progress=False, storage=path, study_name=name)
    assert len(load_study(path, "second")) == 3
    with pytest.raises(StoreError, match=r"^'.*runs.db' holds 2 studies \('first', 'second'\): name the "
                                         r"one to load.$"):
        load_study(path)
    with pytest.raises(StoreError, match=r"^No study named 'secnd' in '.*runs.db'. It has: 'first', "
                                         r"'second'. Did you mean 'second'\?$"):
        load_study(path, "secnd")


def test_reading_never_turns_a_file_into_a_store(tmp_path):
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreError, match=r"^'.*empty.db' is an empty file, not a backtestkit study store.$"):
        load_study(tmp_path / "empty.db")
    assert (tmp_path / "empty.db").stat().st_size == 0


def test_summaries_count_states_and_see_a_dead_writer(objectives, tmp_path):
    from backtestkit.optimize._store import Store

    search(objectives.bowl, tmp_path / "runs.db", max_tries=5, random_state=1)
    with Store(tmp_path / "runs.db") as store:
        [summary] = store.summaries()
        assert (summary["ok"], summary["failed"], summary["state"]) == (5, 0, "complete")
        assert summary["best"] == load_study(tmp_path / "runs.db").best_value
        # as a killed writer leaves it
        store.update(store.find("s")[0], state="running", info=summary["info"])
        assert store.summaries()[0]["state"] == "interrupted"
        store.lock(store.find("s")[0], "s")
        assert store.summaries()[0]["state"] == "running"  # this process writes it: no probe
        assert store.summaries()[0]["state"] == "running"  # ... and the lock is still held
