"""The audit indexer: stores pending AuditEvents as resources, a batch at a time, in a
process of its own that runs only when the CPU is otherwise idle.

Reads that could see AuditEvents catch up first anyway (``ehr.audit.pending``); this keeps
the backlog small, so that such a read rarely has much to do. It is a process of its own
(``ehr serve`` starts it beside the workers) with the lowest CPU priority
(``run_only_when_idle``): indexing is CPU-bound Python, and as a thread of a worker it
held that worker's interpreter lock while requests waited (measured on SQLite: p99 of
reads 141-498 ms as threads). Under a peak the backlog grows; it is worked off when
requests leave the CPU to it. On PostgreSQL several indexers would take disjoint rows
(``SKIP LOCKED``); on SQLite a batch takes its turn with every other writer of the main
file (``ehr.db.writer_queue``) and is kept short, since it holds that file's write lock
while it runs; audited reads, which write only the audit file (``ehr.db.audit_file``), do
not wait for it.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ehr.audit.pending import backlog, forget_from_file, materialize, materialize_from_file
from ehr.db.audit_file import audit_file_of
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
"""Where ``SCHED_IDLE`` is not available (not Linux): the lowest ordinary priority."""
log = logging.getLogger("ehr.audit")


def index_once(services: Services) -> int:
    """Store one batch of pending events (of each table); how many."""
    engine = services.engine

    def work(session):  # type: ignore[no-untyped-def]
        return materialize(session, services, limit=BACKGROUND_BATCH)

    stored = run_in_unit_of_work(engine, work)
    if audit_file_of(engine) is None:
        return stored

    def from_file(session):  # type: ignore[no-untyped-def]
        return materialize_from_file(session, services, limit=BACKGROUND_BATCH)

    seqs, from_audit_file = run_in_unit_of_work(engine, from_file)
    if seqs:  # now stored as resources (committed): off the audit file with them
        with unit_of_work(engine, audit_only=True) as session:
            forget_from_file(session, seqs)
    return stored + from_audit_file


@dataclass
class Pace:
    """How long the indexer waits before its next batch, from what the last one found."""

    interval_s: float
    """When it has caught up: the configured polling interval."""
    last_backlog: int | None = None

    def pause_after(self, stored: int, backlog: int | None) -> float:
        """The pause after a batch that stored ``stored`` events and left ``backlog``
        (``None``: not measured)."""
        last, self.last_backlog = self.last_backlog, backlog
        if stored < BACKGROUND_BATCH:
            return self.interval_s
        if backlog is not None and last is not None and last < backlog < MAX_DEFERRED:
            return PEAK_PAUSE_S
        return BACKLOG_PAUSE_S


def index_until(services: Services, interval_s: float, stop: threading.Event) -> None:
    """Index every ``interval_s`` seconds, almost without pause while a backlog remains,
    and one batch a second while the backlog grows under a peak (``Pace``), until ``stop``
    is set."""
    pace = Pace(interval_s)
    while not stop.is_set():
        try:
            stored = index_once(services)
            left = _backlog(services) if stored == BACKGROUND_BATCH else None
        except Exception as exc:  # the next round tries again; reads catch up anyway
            log.warning("audit indexing failed: %s", type(exc).__name__)
            stored, left = 0, None
        stop.wait(pace.pause_after(stored, left))


def _backlog(services: Services) -> int:
    with services.engine.connect() as connection:
        return backlog(connection)


def run_only_when_idle() -> None:
    """Give this process the CPU only when nothing else wants it (Linux ``SCHED_IDLE``).

    Measured on SQLite (100,000 Patients, 2 workers, 2 cores): with the indexer at nice 10
    the workers served 2,925 reads/s (p99 106 ms), with no indexer 3,826/s (p99 15 ms);
    a niced process still takes a tenth of a busy core. Indexing is what can wait: every
    event is already stored, and reads that could see events catch up first."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(NICENESS)


def run_indexer_process() -> None:
    """The body of the indexer process ``ehr serve`` starts (settings from ``EHR_*``)."""
    from ehr.api.app import build_services
    from ehr.config import get_settings

    run_only_when_idle()
    settings = get_settings()
    stop = threading.Event()
    parent = os.getppid()

    def watch_parent() -> None:  # a killed ``ehr serve`` must not leave an indexer behind
        while not stop.wait(1.0):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    index_until(build_services(settings), settings.audit_index_interval_s, stop)
