"""Where a study lives, and how the workers sharing it notice a dead one.

* ``None``: in memory (one process).
* a file path: an Optuna journal file, shared by the processes of one machine (or an NFS folder).
* a database URL (``sqlite:///s.db``, ``postgresql://user:pw@host/db``, ``mysql+pymysql://...``):
  any number of processes on any number of machines.

Heartbeats: a worker writes the time into its running trial's ``heartbeat`` attribute every
``interval`` seconds from a background thread.  A trial left RUNNING by a killed worker stops
beating; after ``grace`` seconds the next worker that looks (or the same command run again) marks it
FAIL, so it is neither counted as done nor blocks the study.  This is done here rather than with
``RDBStorage(heartbeat_interval=...)`` because Optuna's journal storage has no heartbeat, and one
mechanism for every storage is easier to trust.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from ..errors import ConfigError, MissingDependencyError

__all__ = ["HEARTBEAT_ATTR", "Heartbeat", "describe_storage", "fail_stale_trials", "open_storage"]

HEARTBEAT_ATTR = "heartbeat"
_DRIVERS = {"postgresql": "postgres", "postgres": "postgres"}
_RACE_ERRORS = ("OperationalError", "IntegrityError", "ProgrammingError")  # SQLAlchemy's, from concurrent set-up


def describe_storage(storage) -> str:
    """The storage as text for messages and files, any password in a URL replaced by ``***``."""
    if storage is None:
        return "memory"
    if isinstance(storage, optuna.storages.BaseStorage):
        return type(storage).__name__
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", str(storage))


def open_storage(storage) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``None`` (memory), a journal file path, a database URL, or a storage object."""
    if storage is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        return _open_database(text)
    path = Path(text)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot create the journal file {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"storage {path} is a folder; give a journal file path such as {path / 'study.journal'}")
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def _open_database(url: str) -> optuna.storages.BaseStorage:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if url.split("://", 1)[0].lower() in ("postgresql", "postgres"):
        # the driver tsformer[postgres] installs (psycopg 3), whatever SQLAlchemy's default for the scheme
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    # SQLite serializes writers: wait for the lock instead of failing at once under several workers
    engine_kwargs = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {"pool_pre_ping": True}
    try:
        for attempt in range(3):  # workers that start together may race to create the tables
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
            except Exception as exc:
                if attempt == 2 or type(exc).__name__ not in _RACE_ERRORS:
                    raise
                time.sleep(1.0 + attempt)
    except ImportError as exc:
        extra = _DRIVERS.get(scheme)
        hint = f"`pip install tsformer[{extra}]`" if extra else "the database driver for it"
        raise MissingDependencyError(f"the storage {describe_storage(url)} needs a database driver: install {hint} "
                                     f"({exc})") from exc
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a refused connection, a missing database
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open the storage {describe_storage(url)}: {first}") from exc


class Heartbeat:
    """Write the time into ``trial``'s ``heartbeat`` attribute now and every ``interval`` seconds."""

    def __init__(self, trial, interval: float):
        self.trial = trial
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial.number}", daemon=True)

    def _beat(self) -> None:
        self.trial.set_user_attr(HEARTBEAT_ATTR, time.time())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except Exception:  # a storage hiccup, or the trial was failed meanwhile: the owner finds out
                pass

    def __enter__(self):
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def fail_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage, grace: float) -> list[int]:
    """Mark FAIL every RUNNING trial whose last heartbeat is older than ``grace`` seconds; their numbers."""
    now = time.time()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = t.user_attrs.get(HEARTBEAT_ATTR)
        if last is None:  # killed between creation and its first beat
            last = t.datetime_start.timestamp() if t.datetime_start is not None else now
        if now - last <= grace:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "error", f"its worker stopped (no heartbeat for {now - last:.0f} s)")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            failed.append(t.number)
        except UpdateFinishedTrialError:  # finished, or failed by another worker, meanwhile
            pass
    return failed
