"""Group commit: the audited reads a worker serves at the same time share one COMMIT.

Every read of a person's data writes its AuditEvent in the same transaction as the read
(PRODUCT.md section 5), so every GET is a writing unit of work. Alone, each pays a COMMIT:
on SQLite the WAL append of some thirty pages (the event, its history row, its index rows
in a dozen B-trees) and a turn of the one write lock; on PostgreSQL a WAL flush and two
round trips. Measured in process on 3,000 Patients (SQLite), the COMMIT was 40% of the CPU
of a read by id.

So the GETs that arrive while a batch is running, or in the few turns of the event loop
after it ends (``GATHER_HOPS``), wait for the next one, which runs them one after another in
**one** transaction. A batch is an audit-only unit of work: its units
write nothing but the AuditEvent rows they buffer, all inserted in one statement just
before the COMMIT, so a unit that fails is undone alone by dropping its rows, and the
others go on. Each unit's read and its AuditEvent are still in one transaction, and that
transaction commits before any of its responses is sent: what was shown was audited. (On
PostgreSQL the batch runs in autocommit, ``ehr.db.unit_of_work``: its one INSERT is the
transaction, committed before any response, and the reads before it are what READ
COMMITTED would have shown inside one.)

If the batch as a whole fails (the connection went, the COMMIT was refused), every unit of
it is run again alone through ``run_in_unit_of_work``, with its usual retries; when the
COMMIT failed with its outcome unknown, a unit's AuditEvent may then be stored twice, which
over-reports an access but never hides one.

Only units that write nothing but their audit records are grouped (the GETs of the FHIR
API): a write can wait on a row lock or fail on a conflict, and would hold the whole batch.
On a SQLite file a batch's reads take no write lock and its events go to the audit file
(``ehr.db.audit_file``); a unit that turns out to need to write more (a read that must
index pending AuditEvents first) raises ``WriteUnitNeeded`` and runs again alone, as an
ordinary write unit, after the batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ehr.db import audit_file
from ehr.db.audit_file import WriteUnitNeeded
from ehr.db.interleaved import run_interleaved
from ehr.db.unit_of_work import run_in_unit_of_work, unit_of_work

T = TypeVar("T")
Work = Callable[[Session], Any]

MAX_BATCH = 32
"""Units in one transaction at most: a longer batch makes its first units wait longer."""
GATHER_HOPS = 3
"""Turns of the event loop between the end of a batch and the start of the next, in which
the units that arrive join it (PostgreSQL's ``commit_delay`` in spirit): the first answers
the finished batch's requests (their tasks were woken first), the second reads what came in
on the connections meanwhile, the third runs those requests up to the queue. Started at
once, the next batch held only what had queued while the last one ran, and under load a
worker's connections settled into two alternating halves, each batch paying its fixed part
(a thread hand-off, a connection, the audit INSERT; on PostgreSQL a round trip for its
reads) for half as many units. With 16 connections on 2 workers (100,000 Patients) batches
went from 3.3-4.5 units to 5-8, PostgreSQL reads from 2,083-2,736/s to 2,763-3,322/s at
0.37-0.43 ms of CPU a read instead of 0.44-0.58, SQLite searches from 2,892 / 3,228/s to
4,155 / 3,501 (docs/benchmarks.md, session 15). A unit that arrives when no batch has just
ended (an idle worker) starts at once: the wait is only ever a few turns of a loop that
has work to do."""
BATCHES_AT_ONCE = 1
"""Batches a worker runs at once, on SQLite and PostgreSQL alike: a second batch thread
takes turns on the interpreter lock with the first and with the event loop, and those
hand-offs cost more than overlapping one batch's database waits with another's work gains.
On SQLite two batches per worker served 1,437 instead of 3,571 reads/s; on PostgreSQL
(two single-worker servers with 8 connections each, 100,000 Patients) four batches at once
served 1,614 reads/s at p99 87-106 ms and 1,288 searches/s at p99 116-170 ms, two 1,437
searches/s at p99 49-58 ms, one 2,092 reads/s at p99 24 ms and 1,631 searches/s at p99
30-33 ms (docs/benchmarks.md). One at a time, batches are larger and more reads share
each COMMIT and its round trips."""


@dataclass
class Outcome(Generic[T]):
    """What one unit of a batch gave: its value, or the exception it raised."""

    value: T | None = None
    error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def run_batch(engine: Engine, works: list[Work]) -> list[Outcome]:
    """Run ``works`` in one audit-only unit of work (module docstring): on PostgreSQL
    interleaved, so that their SELECTs go together (``ehr.db.interleaved``: a batch of reads
    by id or of searches by identifier is one round trip), on SQLite one after another. The
    outcomes are in the order of ``works``. Runs in a worker thread.
    """
    try:
        with unit_of_work(engine, audit_only=True) as session:
            units = [partial(_run_unit, session, work) for work in works]
            if session.connection().dialect.name == "postgresql":
                outcomes = run_interleaved(session, units)
            else:  # SQLite answers in process: no round trip to save
                outcomes = [unit() for unit in units]
    except Exception as exc:
        _note_given_up(exc)
        return [run_alone(engine, work) for work in works]
    return [
        run_alone(engine, work) if _needs_write_unit(outcome.error) else outcome
        for work, outcome in zip(works, outcomes, strict=True)
    ]


log = logging.getLogger("ehr.db")
WARN_EVERY_S = 60.0
_last_warning = [float("-inf")]


def _note_given_up(exc: Exception) -> None:
    """Say (at most once a minute) that batches are being given up: the reads are still
    answered, each by a unit of its own, but at a fraction of the rate, and the cause
    (seen: an ``-audit`` file restored without its write-ahead log, "malformed") is the
    operator's to fix. The message names the error's type only, never data."""
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_S:
        _last_warning[0] = now
        first_line = (str(getattr(exc, "orig", "")).splitlines() or [""])[0][:80]
        log.warning(
            "group commit: a batch of reads failed (%s: %s); its reads run one by one",
            type(exc).__name__,
            first_line,
        )


SQLITE_BUSY = 5
"""SQLite's result code (and, in the low byte, its extended codes) for a lock not taken."""


def _needs_write_unit(error: BaseException | None) -> bool:
    """Whether a unit of an audit-only batch failed for wanting to write the main file: it
    said so (``WriteUnitNeeded``), or it wrote there anyway and SQLite refused the lock
    (the batch's snapshot was older than another writer's commit): either way it runs
    again alone, as a write unit, and is answered by that run."""
    if isinstance(error, WriteUnitNeeded):
        return True
    code = getattr(getattr(error, "orig", None), "sqlite_errorcode", None)
    return isinstance(error, DBAPIError) and code is not None and code & 0xFF == SQLITE_BUSY


def run_alone(engine: Engine, work: Work) -> Outcome:
    """``work`` in a unit of work of its own, as every request ran before group commit."""
    try:
        return Outcome(value=run_in_unit_of_work(engine, work))
    except Exception as exc:
        return Outcome(error=exc)


def _run_unit(session: Session, work: Work) -> Outcome:
    """One unit of a batch: its value, or the exception it raised with its audit rows
    dropped.

    A unit of an audit-only batch writes nothing before the batch's commit but the rows it
    buffers (``ehr.db.audit_file.defer``), so dropping those undoes it: no savepoint
    (on PostgreSQL a savepoint and its release were two of a read's five round trips). A
    database error other than a refused SQLite lock may have ended the whole transaction
    (PostgreSQL refuses every statement after one fails): it gives up the batch, whose
    units then run alone (``run_batch``).
    """
    with audit_file.unit_statements(session) as discard:
        try:
            return Outcome(value=work(session))
        except Exception as exc:
            discard()
            if isinstance(exc, DBAPIError) and not _needs_write_unit(exc):
                raise
            return Outcome(error=exc)


_Waiting = tuple[Work, "asyncio.Future[Outcome]"]
"""A unit waiting for a batch: its work and the future of its outcome."""


class GroupCommit:
    """The batches of one engine in one event loop (a worker process serves one loop).

    ``run`` queues a unit and waits for the batch it lands in; ``BATCHES_AT_ONCE`` run at
    once.
    """

    def __init__(self, engine: Engine, limiter: CapacityLimiter) -> None:
        self._engine = engine
        self._limiter = limiter
        self._waiting: deque[_Waiting] = deque()
        self._running = 0
        self._gathering = False
        self.batches = 0
        """Batches run so far (for tests and benchmarks)."""

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in the next batch and give its value (or raise its exception)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        self._start()
        outcome = await future
        return outcome.result()

    def _start(self) -> None:
        if self._gathering:
            return
        while self._waiting and self._running < BATCHES_AT_ONCE:
            batch = [self._waiting.popleft() for _ in range(min(MAX_BATCH, len(self._waiting)))]
            self._running += 1
            self.batches += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[_Waiting]) -> None:
        try:
            works = [work for work, _ in batch]
            try:
                outcomes = await to_thread.run_sync(
                    run_batch, self._engine, works, limiter=self._limiter
                )
            except BaseException as exc:  # cancelled while the thread ran: tell the waiters
                outcomes = [Outcome(error=exc)] * len(batch)
                raise
            finally:
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if not future.done():  # a waiter whose client went away is cancelled
                        future.set_result(outcome)
        finally:
            self._running -= 1
            self._gather(GATHER_HOPS)

    def _gather(self, hops: int) -> None:
        """Start the next batch after ``hops`` more turns of the event loop (``GATHER_HOPS``),
        or at once when a full batch is already waiting."""
        if hops <= 0 or len(self._waiting) >= MAX_BATCH:
            self._gathering = False
            self._start()
            return
        self._gathering = True
        asyncio.get_running_loop().call_soon(self._gather, hops - 1)
