"""Stop rules: target, timeout and patience, alone (hand-worked sequences) and through the driver."""

from __future__ import annotations

import datetime
import math
import re
import types

import pytest

from backtestkit.optimize import _stop, load_study, run_search
from backtestkit.optimize._stop import StopRules
from backtestkit.optimize._store import Store

OWNER = "Backtest.optimize"


def rules(**kwargs):
    found = StopRules(**kwargs)
    found.start(math.nan)
    return found


def test_target_is_direction_aware():
    up = rules(target=1.5)
    assert up.after([0.2, 1.0]) is None
    assert up.after([1.52, 0.9]) == "target reached: 1.52 >= 1.5"
    down = rules(target=-3, maximize=False)
    assert down.after([0.0, -2.9]) is None
    assert down.after([math.nan, -3.0]) == "target reached: -3 <= -3"


def test_patience_counts_evaluations_since_the_last_improvement():
    patient = rules(patience=3)
    # 1 improves; 1 (equal), NaN, 0.5 do not: 3 in a row
    assert patient.after([1.0, 1.0]) is None
    assert patient.after([math.nan]) is None
    assert patient.after([0.5]) == "patience: 3 evaluations without improving on 1"
    again = rules(patience=2, maximize=False)
    assert again.after([5.0, 6.0, 4.0, 7.0]) is None  # 4 improved on 5, then one miss
    assert again.after([4.0]) == "patience: 2 evaluations without improving on 4"


def test_patience_starts_from_the_value_to_beat():
    resumed = StopRules(patience=2)
    resumed.start(10.0)  # a resumed study's best
    assert resumed.after([9.0, 8.0]) == "patience: 2 evaluations without improving on 10"


def test_timeout_reads_the_clock_since_the_start(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(_stop, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    timed = rules(timeout=datetime.timedelta(minutes=1))
    now[0] = 159.9
    assert timed.after([1.0]) is None
    now[0] = 160.0
    assert timed.after([1.0]) == "timeout: 60.0 s >= 60 s"


def test_no_rule_is_false_and_records_nothing():
    assert not StopRules()
    assert StopRules().describe() is None
    assert StopRules(target=2, patience=5).describe() == {"target": 2.0, "patience": 5}


NUMBER = "a number or None"
SECONDS = "a number of seconds > 0, a datetime.timedelta or None"
COUNT = "an int >= 1 or None"


@pytest.mark.parametrize("kwargs, exc, expected, got", [
    (dict(target="high"), TypeError, NUMBER, "'high'"),
    (dict(target=math.nan), ValueError, NUMBER, "nan"),
    (dict(timeout=0), ValueError, SECONDS, "0"),
    (dict(timeout=datetime.timedelta(0)), ValueError, SECONDS, "0.0"),
    (dict(timeout="1h"), TypeError, SECONDS, "'1h'"),
    (dict(patience=0), ValueError, COUNT, "0"),
    (dict(patience=2.5), TypeError, COUNT, "2.5"),
    (dict(patience=True), TypeError, COUNT, "True"),
])
def test_bad_rules_raise_before_any_run(kwargs, exc, expected, got):
    [name] = kwargs
    message = f"The {name!r} parameter of Backtest.optimize must be {expected}. Got {got} instead."
    def never(p):
        raise AssertionError("no run may start")

    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        run_search(never, {"x": range(5)}, known_params=["x"], n_jobs=1, **kwargs)


def valley(p):
    return -abs(p["x"] - 30)


def search(**kwargs):
    kwargs.setdefault("n_jobs", 1)
    return run_search(valley, {"x": range(100)}, known_params=["x"], show_progress=False, **kwargs)


def test_a_reached_target_stops_the_search_between_batches():
    study = search(target=-2)
    assert study.info["state"] == "stopped"
    assert study.info["stopped"] == f"target reached: {study.best_value:g} >= -2"
    assert study.best_value >= -2
    assert 28 <= len(study) < 100  # x=28 is the first to reach -2; its batch finishes, no more
    assert study.info["stop"] == {"target": -2.0}


def test_patience_stops_a_search_that_no_longer_improves():
    study = search(patience=20)
    assert study.info["state"] == "stopped" and study.info["stopped"].startswith("patience: ")
    assert study.best_value == 0  # x=30, then 20 misses (x=31..50) stop it after their batch
    assert 51 <= len(study) < 100


def test_a_search_that_never_meets_its_rules_completes():
    study = search(target=1, patience=1000)
    assert study.info["state"] == "complete" and "stopped" not in study.info
    assert len(study) == 100


def test_a_stopped_study_is_saved_as_stopped_and_resumed_it_goes_on(tmp_path):
    path = tmp_path / "runs.db"
    stopped = search(target=-2, storage=path, study_name="s", random_state=0)
    saved = load_study(path, "s")
    assert saved.info["state"] == "stopped" and saved.info["stopped"] == stopped.info["stopped"]
    with Store(path) as store:
        assert [s["state"] for s in store.summaries()] == ["stopped"]
    resumed = search(storage=path, study_name="s", random_state=0)  # no target this time
    assert resumed.info["state"] == "complete" and "stopped" not in resumed.info
    assert len(resumed) == 100 and resumed.best_value == 0
    assert load_study(path, "s").info["state"] == "complete"


def test_stopping_works_with_parallel_workers():
    study = search(target=-2, n_jobs=2)
    assert study.info["state"] == "stopped" and study.best_value >= -2


def test_a_model_based_search_stops_too():
    study = run_search(valley, {"x": range(100)}, known_params=["x"], n_jobs=1, show_progress=False,
                       method="skopt", max_tries=60, random_state=1, patience=5)
    assert study.info["state"] == "stopped" and study.info["stopped"].startswith("patience: ")
    assert len(study) < 60
