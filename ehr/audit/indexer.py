"""The audit indexer: stores pending AuditEvents as resources, a batch at a time, in a
process of its own at the lowest CPU priority.

Reads that could see AuditEvents catch up first anyway (``ehr.audit.pending``); this keeps
the backlog small, so that such a read rarely has much to do. It is a process of its own
(``ehr serve`` starts it beside the workers) with the lowest CPU priority
(``run_at_lowest_priority``): indexing is CPU-bound Python, and as a thread of a worker it
held that worker's interpreter lock while requests waited (measured on SQLite: p99 of
reads 141-498 ms as threads). Under a peak the backlog grows; it is worked off when
requests leave the CPU to it. On PostgreSQL several indexers would take disjoint rows
(``SKIP LOCKED``); on SQLite a batch takes its turn with every other writer of the main
file (``ehr.db.writer_queue``) and is kept short, since it holds that file's write lock
while it runs; audited reads, which write only the audit file (``ehr.db.audit_file``), do
not wait for it, except while it deletes what it stored from that file (``FileCursor``:
a few thousand rows at a time).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ehr.audit.pending import (
    backlog,
    file_has_rows,
    forget_from_file,
    materialize,
    materialize_from_file,
)
from ehr.db.audit_file import audit_file_of
from ehr.db.engine import checkpoint
from ehr.db.unit_of_work import run_in_unit_of_work, unit_of_work

if TYPE_CHECKING:
    from ehr.context import Services

BACKGROUND_BATCH = 200
"""Events per background transaction: about 40 ms of work, the longest a SQLite writer of
the main file then waits for the indexer. Each commit of the indexer makes the workers'
connections drop what they cached of the main file, so fewer, larger batches disturb
reads less: measured on SQLite under a read peak, 50 events with 2 ms pauses gave
2,134-2,925 reads/s, 200 with 50 ms pauses 3,571/s (docs/benchmarks.md)."""
BACKLOG_PAUSE_S = 0.05
"""Between batches while a backlog remains."""
PEAK_PAUSE_S = 1.0
"""Between batches while events arrive faster than the indexer stores them (a read peak):
each commit of the indexer costs every worker its cache of the main file, so under a read
peak an indexer that found idle CPU took a third of the reads away (SQLite, 2 cores:
2,059-3,467 reads/s in runs of one code, depending on how much it indexed;
docs/benchmarks.md). One batch a second keeps the backlog moving."""
MAX_DEFERRED = 50_000
"""The backlog at which the indexer stops yielding to a peak. An AuditEvent query first
stores every pending event (``ehr.audit.pending.catch_up``, about 0.2 ms of CPU each), so
this bounds its wait to about ten seconds however long a peak lasts."""
NICENESS = 19
"""The indexer's CPU priority: the lowest ordinary one (``run_at_lowest_priority``)."""
log = logging.getLogger("ehr.audit")


@dataclass
class FileCursor:
    """Where the indexer is in the audit file: rows up to ``after`` are stored as resources,
    and ``done`` are the rows still to delete from the file.

    Deleting is an audit-only unit of its own, which takes the audit file's write turn that
    every group commit of reads needs; the indexer does it for ``FORGET_EVERY`` rows at
    once, not after every batch. A row stored but not yet deleted (the indexer stopped in
    between) is read again by the next indexer and skipped as stored."""

    after: int = 0
    done: list[int] = field(default_factory=list)


FORGET_EVERY = 2_000
"""Rows of the audit file deleted together (in one turn on its write lock)."""


def index_once(services: Services, cursor: FileCursor | None = None) -> int:
    """Store one batch of pending events (of each table); how many.

    Without a ``cursor`` the audit file's rows just stored are deleted at once."""
    engine = services.engine

    def work(session):  # type: ignore[no-untyped-def]
        return materialize(session, services, limit=BACKGROUND_BATCH)

    stored = run_in_unit_of_work(engine, work)
    if audit_file_of(engine) is None:
        return stored
    at = cursor if cursor is not None else FileCursor()

    def from_file(session):  # type: ignore[no-untyped-def]
        return materialize_from_file(session, services, after=at.after, limit=BACKGROUND_BATCH)

    seqs, from_audit_file = run_in_unit_of_work(engine, from_file)
    if seqs:  # now stored as resources (committed): off the audit file with them, in time
        at.after = seqs[-1]
        at.done += seqs
    if at.done and (cursor is None or len(at.done) >= FORGET_EVERY or not seqs):
        forget(services, at)
    return stored + from_audit_file


def forget(services: Services, cursor: FileCursor) -> None:
    """Delete the rows ``cursor`` has stored from the audit file.

    When that empties the file the cursor starts over: SQLite numbers the first row of an
    empty table 1 again, so a cursor left where it was would pass over every row logged
    from then on (stored only by readers' catch-ups). While any row is left, new ones are
    numbered above it, and every row left is after the cursor (those before it were all
    read, so deleted here)."""
    with unit_of_work(services.engine, audit_only=True) as session:
        forget_from_file(session, cursor.done)
    cursor.done = []
    with services.engine.connect() as connection:
        if not file_has_rows(connection):
            cursor.after = 0


BUSY_MACHINE = 0.75
"""The share of all CPU time, spent by others than the indexer, that makes a peak."""


@dataclass
class Pace:
    """How long the indexer waits before its next batch, from what the last one found."""

    interval_s: float
    """When it has caught up: the configured polling interval."""
    last_backlog: int | None = None

    def pause_after(self, stored: int, backlog: int | None, busy: float | None = None) -> float:
        """The pause after a batch that stored ``stored`` events and left ``backlog``
        (``None``: not measured), on a machine whose CPUs others kept ``busy`` (a share,
        ``None``: not known) since the last batch.

        A peak is a growing backlog or a busy machine, below ``MAX_DEFERRED``. The busy
        machine matters on PostgreSQL: there the indexer keeps up with a peak, so its
        backlog never grows, by having the database server store its rows, a process of
        normal priority on the workers' cores (measured, ``$match`` at 1,000,000 persons on
        2 cores: 487-527/s with the indexer keeping up, 606/s without it)."""
        last, self.last_backlog = self.last_backlog, backlog
        if stored < BACKGROUND_BATCH:
            return self.interval_s
        below_cap = backlog is not None and backlog < MAX_DEFERRED
        growing = backlog is not None and last is not None and last < backlog
        if below_cap and (growing or (busy is not None and busy >= BUSY_MACHINE)):
            return PEAK_PAUSE_S
        return BACKLOG_PAUSE_S


@dataclass
class MachineLoad:
    """How busy the machine's CPUs were between two readings, from ``/proc/stat`` (Linux).

    Busy is user, system, interrupt and stolen time; time at a positive nice value (the
    indexer's own, at nice 19) and idle or I/O wait time are not. ``None`` where there is
    no ``/proc/stat``."""

    stat: Path = Path("/proc/stat")
    last: tuple[int, int] | None = None

    def busy_since_last(self) -> float | None:
        """The busy share of all CPU time since the previous call (``None`` the first time)."""
        now = self._read()
        if now is None:
            return None
        last, self.last = self.last, now
        if last is None or now[1] <= last[1]:
            return None
        return (now[0] - last[0]) / (now[1] - last[1])

    def _read(self) -> tuple[int, int] | None:
        """(busy, total) jiffies of all CPUs."""
        try:
            line = self.stat.read_text().split("\n", 1)[0]
        except OSError:
            return None
        fields = [int(x) for x in line.split()[1:]]
        user, _nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return user + system + irq + softirq + steal, sum(fields[:8])


def index_until(services: Services, interval_s: float, stop: threading.Event) -> None:
    """Index every ``interval_s`` seconds, almost without pause while a backlog remains,
    and one batch a second while the backlog grows under a peak (``Pace``), until ``stop``
    is set; after each batch, checkpoint SQLite's write-ahead logs."""
    pace, cursor, load = Pace(interval_s), FileCursor(), MachineLoad()
    while not stop.is_set():
        try:
            stored = index_once(services, cursor)
            left = _backlog(services, cursor) if stored == BACKGROUND_BATCH else None
            checkpoint(services.engine)  # here, not in a request (WAL_AUTOCHECKPOINT_PAGES)
        except Exception as exc:  # the next round tries again; reads catch up anyway
            log.warning("audit indexing failed: %s", type(exc).__name__)
            stored, left, cursor = 0, None, FileCursor()  # start again from the file's head
        stop.wait(pace.pause_after(stored, left, load.busy_since_last()))


def _backlog(services: Services, cursor: FileCursor) -> int:
    with services.engine.connect() as connection:
        return backlog(connection, after=cursor.after)


def run_at_lowest_priority() -> None:
    """Give this process the lowest ordinary CPU priority (nice 19).

    Not ``SCHED_IDLE``, which it was: a process that runs only on idle CPU can be left
    without any for as long as the workers keep both cores busy, and when that happens
    while it holds a write turn (the audit file's, every group commit of reads waits for
    it) the reads wait with it. Measured on SQLite under a read peak (100,000 Patients,
    2 workers, 2 cores; docs/benchmarks.md): identifier searches at p99 58-63 ms with
    ``SCHED_IDLE``, 25-33 ms at nice 19. Its share of a busy CPU is bounded by ``Pace``
    (one batch a second under a peak), not by the scheduler."""
    os.nice(NICENESS - os.nice(0))


def run_indexer_process() -> None:
    """The body of the indexer process ``ehr serve`` starts (settings from ``EHR_*``)."""
    from ehr.api.app import build_services
    from ehr.config import get_settings

    run_at_lowest_priority()
    settings = get_settings()
    stop = threading.Event()
    parent = os.getppid()

    def watch_parent() -> None:  # a killed ``ehr serve`` must not leave an indexer behind
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    index_until(build_services(settings), settings.audit_index_interval_s, stop)
