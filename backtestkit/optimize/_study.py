"""Opening stored studies: create, resume (only the very same search), or load one to read."""

from __future__ import annotations

import json
import os
from typing import Any

from backtestkit.optimize._store import Store, StoreError, dumps
from backtestkit.optimize._trial import Study

#: What must be the same for a search to resume a stored study, in the order a mismatch is told.
RESUME_KEYS = ("strategy", "strategy_source", "data", "settings", "objective", "maximize", "space",
               "constraint", "constraints", "method", "options", "seed", "objectives", "aggregate",
               "datasets", "metrics")


def open_study(storage: str | os.PathLike[str], name: str, study: Study, owner: str, *,
               seed_given: bool) -> tuple[Store, int]:
    """Open (or create) the study ``name`` in ``storage`` for ``study`` to write, locked against other
    writers. A stored study of that name is resumed: its trials are loaded into ``study``, whose
    info must match it (its seed is taken when ``seed_given`` is false)."""
    store = Store(storage)
    try:
        found = store.find(name)
        if found is None:
            study_id = store.create(name, study.info)
        else:
            study_id, stored, _ = found
            if not seed_given:
                study.info["seed"] = stored.get("seed")
            _check_same(stored, study.info, name, storage, owner)
            study.info = {**stored, **study.info, "started": stored.get("started"),
                          "elapsed": stored.get("elapsed", 0.0)}
        store.lock(study_id, name)
        if found is not None:
            store.load_into(study_id, study)
    except BaseException:
        store.close()
        raise
    study.name, study.storage = name, str(storage)
    return store, study_id


def load_study(storage: str | os.PathLike[str], name: str | None = None) -> Study:
    """Load a stored study to read (the file is not locked or changed).

    Args:
        storage: the SQLite file ``optimize(..., study=...)`` wrote.
        name: the study's name; may be left out when the file holds one study.

    Raises:
        StoreError (a ValueError): no such file, not a study store, or no such study.
    """
    with Store(storage, create=False) as store:
        names = store.names()
        if name is None:
            if len(names) != 1:
                listing = ", ".join(map(repr, names)) or "none"
                raise StoreError(f"{str(storage)!r} holds {len(names)} studies ({listing}): "
                                 "name the one to load.")
            name = names[0]
        found = store.find(name)
        if found is None:
            raise store.unknown(name)
        study_id, info, _ = found
        study = Study(param_names=list(info["space"]), objective=info.get("objective", "objective"),
                      maximize=info.get("maximize", True), metric_names=info.get("metrics", []), name=name,
                      info=info, storage=str(storage))
        store.load_into(study_id, study)
    return study


def _check_same(stored: dict[str, Any], new: dict[str, Any], name: str, storage: Any, owner: str) -> None:
    """Raise naming every setting in which this search differs from the stored study."""
    changed = []
    for key in RESUME_KEYS:
        before, now = stored.get(key), json.loads(dumps(new.get(key)))
        if before != now:
            changed.append(f"{key} ({_short(before)} then, {_short(now)} now)")
    if changed:
        raise StoreError(
            f"{owner} cannot resume the study {name!r} in {str(storage)!r}: it was a different search. "
            f"What changed: {'; '.join(changed)}. A study resumes only the very same search: name a new "
            f"one (study_name='{name}-2'), or delete the old one "
            f"(python -m backtestkit delete {str(storage)!r} {name!r}).")


def _short(value: Any) -> str:
    text = dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
