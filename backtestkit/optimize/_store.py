"""Studies saved in SQLite (stdlib ``sqlite3``): one file holds any number of named studies.

The process that runs a search is the only writer of its study: workers (local or on a cluster) only
compute. Trials are written a batch at a time, each batch one transaction, in WAL mode, so a crash
or ``kill -9`` loses at most the batches in flight. A study being written is locked (an OS file lock
on ``<file>.lock``, released by the OS when the process dies), so a second process that opens it to
write gets a clear error instead of corrupting it.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backtestkit.optimize._trial import STATES, Key, Outcome, Study

#: Marks a SQLite file as a backtestkit study store ("BTK1").
APPLICATION_ID = 0x42544B31
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    info TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    key TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    metrics BLOB,
    duration REAL NOT NULL,
    error TEXT,
    PRIMARY KEY (study, number)
);
"""


#: The study locks this process holds, as (lock file, study id).
_HELD: set[tuple[str, int]] = set()


class StoreError(ValueError):
    """A study store that cannot be used: not a store, damaged, locked, or no such study."""

    __module__ = "backtestkit.optimize"  # as tracebacks show it: where users import it from


def _json(value: Any) -> Any:
    """A parameter value as JSON can hold it: numpy scalars as Python ones, anything else by repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return repr(value)


def dumps(value: Any) -> str:
    """JSON of keys, parameters and study descriptions (lists for tuples, repr for other objects)."""
    return json.dumps(value, default=_json, allow_nan=False, separators=(",", ":"))


class Store:
    """An open study file. ``Store(path)`` creates it when missing; ``create=False`` insists it exists."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{str(self.path)!r} is a folder; a study store is a file, e.g. 'runs.db'.")
        if not create and not self.path.is_file():
            raise StoreError(f"No study file at {str(self.path)!r}. Check the path, or run a search with "
                             f"optimize(..., study={str(self.path)!r}) to create one.")
        self._lock_file: Any = None
        try:
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._open(create)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{str(self.path)!r} is not a backtestkit study store ({exc}).") from None

    def _open(self, create: bool) -> None:
        db = self._db
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if application_id != APPLICATION_ID and tables:
            raise StoreError(f"{str(self.path)!r} is a SQLite file but not a backtestkit study store "
                             f"(it has the tables {', '.join(sorted(tables))}).")
        if application_id != APPLICATION_ID and not create:  # only a writer makes a file a store
            raise StoreError(f"{str(self.path)!r} is an empty file, not a backtestkit study store.")
        db.execute("PRAGMA foreign_keys = ON")
        # WAL with synchronous=NORMAL: a commit survives the process being killed at any point (what a
        # resume needs) without an fsync per batch; a power cut may lose the last batches, never the file
        db.execute("PRAGMA synchronous = NORMAL")
        if application_id != APPLICATION_ID:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(f"PRAGMA application_id = {APPLICATION_ID};"
                             f"PRAGMA user_version = {SCHEMA_VERSION};{_SCHEMA}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{str(self.path)!r} was written by a newer backtestkit (store version "
                             f"{version}); upgrade backtestkit to read it.")

    def close(self) -> None:
        """Release the lock (if held) and close the file."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
            _HELD.discard(self._held)
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # --- studies ------------------------------------------------------------------------------------

    def summaries(self) -> list[dict[str, Any]]:
        """Every study in the file, without loading its trials: name, state (a 'running' study whose
        writer has gone is 'interrupted'), info, the number of trials in each state, the best value."""
        counts = [f"SUM(t.state = '{state}')" for state in STATES]
        rows = self._db.execute(
            f"SELECT s.id, s.name, s.state, s.info, {', '.join(counts)}, "
            "MAX(CASE WHEN t.state = 'ok' THEN t.value END), MIN(CASE WHEN t.state = 'ok' THEN t.value END) "
            "FROM studies s LEFT JOIN trials t ON t.study = s.id GROUP BY s.id ORDER BY s.id").fetchall()
        found = []
        for study_id, name, state, info, *numbers, highest, lowest in rows:
            info = json.loads(info)
            best = highest if info.get("maximize", True) else lowest
            if state == "running" and not self.is_writing(study_id):
                state = "interrupted"
            found.append({"name": name, "state": state, "info": info,
                          **{s: int(n or 0) for s, n in zip(STATES, numbers, strict=True)},
                          "best": math.nan if best is None else best})
        return found

    def names(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM studies ORDER BY id")]

    def find(self, name: str) -> tuple[int, dict[str, Any], str] | None:
        """The study's id, info and state, or None."""
        row = self._db.execute("SELECT id, info, state FROM studies WHERE name = ?", (name,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]), row[2])

    def create(self, name: str, info: dict[str, Any]) -> int:
        cursor = self._db.execute("INSERT INTO studies (name, info, state) VALUES (?, ?, 'running')",
                                  (name, dumps(info)))
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def update(self, study_id: int, *, state: str, info: dict[str, Any]) -> None:
        self._db.execute("UPDATE studies SET state = ?, info = ? WHERE id = ?",
                         (state, dumps(info), study_id))

    def delete(self, name: str) -> None:
        found = self.find(name)
        if found is None:
            raise self.unknown(name)
        self.lock(found[0], name)
        self._db.execute("DELETE FROM studies WHERE id = ?", (found[0],))

    def unknown(self, name: str) -> StoreError:
        from backtestkit._errors import did_you_mean

        names = self.names()
        listing = ", ".join(map(repr, names)) or "none"
        hint = did_you_mean(name, names)
        return StoreError(f"No study named {name!r} in {str(self.path)!r}. It has: {listing}."
                          + (f" {hint}" if hint else ""))

    # --- trials -------------------------------------------------------------------------------------

    def append(self, study_id: int, numbers: Sequence[int], keys: Sequence[Key],
               params: Sequence[dict[str, Any]], outcomes: Sequence[Outcome]) -> None:
        """Save a batch of trials in one transaction."""
        rows = [(study_id, number, dumps(key), dumps(p), o.state,
                 None if math.isnan(o.value) else o.value,
                 None if o.metrics is None else np.asarray(o.metrics, dtype="<f8").tobytes(),
                 o.duration, o.error)
                for number, key, p, o in zip(numbers, keys, params, outcomes, strict=True)]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def load_into(self, study_id: int, study: Study) -> None:
        """Add the stored trials to an empty ``study`` (keys and parameters from the file)."""
        rows = self._db.execute("SELECT key, params, state, value, metrics, duration, error FROM trials "
                                "WHERE study = ? ORDER BY number", (study_id,)).fetchall()
        if not rows:
            return
        keys, params, states, values, blobs, durations, errors = zip(*rows, strict=True)
        width = len(study.metric_names)
        blank = np.full(width, np.nan).tobytes()
        metrics = np.frombuffer(b"".join(blob or blank for blob in blobs), dtype="<f8")
        study._extend(list(map(tuple, _json_list(keys))), _json_list(params), states,
                      [math.nan if value is None else value for value in values],
                      metrics.reshape(len(rows), width), durations,
                      {i: error for i, error in enumerate(errors) if error is not None})

    # --- the writer's lock --------------------------------------------------------------------------

    def is_writing(self, study_id: int) -> bool:
        """Whether a process holds the study's write lock (a probe: nothing is created)."""
        if (str(self._lock_path().resolve()), study_id) in _HELD:
            return True  # this process: a probe would release its lock (POSIX locks are per process)
        try:
            handle = open(self._lock_path(), "r+b")  # noqa: SIM115 -- closed below
        except FileNotFoundError:
            return False
        with handle:
            try:
                _lock_range(handle, study_id)
            except OSError:
                return True
        return False

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def lock(self, study_id: int, name: str) -> None:
        """Take the write lock of one study, or raise if another process (or this one) holds it."""
        held = (str(self._lock_path().resolve()), study_id)
        handle = open(self._lock_path(), "a+b")  # noqa: SIM115 -- held until close()
        try:
            if held in _HELD:
                raise OSError("held by this process")
            _lock_range(handle, study_id)
        except OSError:
            handle.close()
            raise StoreError(f"The study {name!r} in {str(self.path)!r} is being written by another process. "
                             "Wait for it to finish, or give this search another study_name=.") from None
        self._lock_file, self._held = handle, held
        _HELD.add(held)


def _json_list(texts: Sequence[str]) -> list[Any]:
    """Many JSON texts decoded at once (one parse of a JSON list: 5x faster than one parse each)."""
    return json.loads(f"[{','.join(texts)}]")


def _lock_range(handle: Any, offset: int) -> None:
    """An exclusive, non-blocking OS lock on one byte of the lock file (one byte per study)."""
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        handle.seek(offset)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
