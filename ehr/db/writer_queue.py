"""SQLite writers queue here, not in SQLite's busy handler: in the process, then across.

SQLite has one write lock per database file. A writer that finds it taken waits in
SQLite's busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries and never
hears that the lock was released, so under load the lock sits idle while writers sleep
and the unlucky ones wait for seconds (every audited read writes, so every request is a
writer). Writing units of work therefore take their turn first on a lock of this process
(threads wake as soon as it is released) and then on an advisory lock of a file next to
the database, which the kernel hands to a waiting process as soon as it is released. By
the time a unit says ``BEGIN IMMEDIATE`` the database lock is free, unless another kind
of client (the CLI, a backup) holds it; then the busy handler still waits as before.
PostgreSQL writers do not queue: they lock only the rows they change.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import Engine

from ehr.db.audit_file import audit_file_of, database_file

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: the process lock alone
    fcntl = None  # type: ignore[assignment]


class _Queue:
    """The turn of one database's writers: a lock of this process, a lock file across."""

    def __init__(self, database: Path | None) -> None:
        self.threads = threading.RLock()
        self.lock_file = Path(f"{database}-writers") if database and fcntl else None
        self.fd: int | None = None
        self.depth = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.threads:
            self.depth += 1
            try:
                if self.depth == 1:
                    self._lock_file()
                try:
                    yield
                finally:
                    if self.depth == 1:
                        self._unlock_file()
            finally:
                self.depth -= 1

    def _lock_file(self) -> None:
        if self.lock_file is None:
            return
        if self.fd is None:
            self.fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def _unlock_file(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


_queues: WeakKeyDictionary[Engine, tuple[_Queue, _Queue]] = WeakKeyDictionary()
_queues_lock = threading.Lock()


@contextmanager
def writer_turn(engine: Engine, *, audit_file: bool = False) -> Iterator[None]:
    """Wait for this process's and then this database's turn to write (SQLite engines):
    to write the main file, or with ``audit_file`` the audit file (``ehr.db.audit_file``).
    No unit waits for one turn while holding the other."""
    with _queues_lock:
        queues = _queues.get(engine)
        if queues is None:
            file = database_file(engine)
            audit = audit_file_of(engine)
            queues = _queues[engine] = (_Queue(file), _Queue(audit))
    with queues[1 if audit_file else 0].turn():
        yield
