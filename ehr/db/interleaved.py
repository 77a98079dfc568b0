"""Units of a batch run interleaved, so that the SELECTs they reach together go as one.

Why: on PostgreSQL every statement is a round trip, which costs the machine about 0.2 ms
(psycopg's Python, the server, the switches between them; docs/benchmarks.md), more than
the index lookup it carries. A group-committed batch of searches by identifier ran one
such statement per search, one unit after another. Eight lookups cost 1.2-1.3 ms of
machine CPU one by one and 0.7 as one statement (measured on 100,000 Patients).

How, without a second way of writing a search: each unit of the batch runs in a greenlet
of the batch's thread. When a unit runs a driver SELECT (``ehr.db.driver_select``), it
hands the statement and its values to the scheduler and waits; once every unit waits or
has finished, the scheduler runs the waiting values of each statement together
(``DriverSelect.many``: one ``LATERAL`` statement) and resumes each unit with its own rows,
or with the error, which it handles as it would have alone. Units change only in when
their SELECTs reach the database: a batch's units write nothing but buffered AuditEvent
rows, and under READ COMMITTED each statement sees what was committed when it began, so a
read made together with the others is one the unit could have made alone a moment
earlier, after its request arrived.

Greenlets switch only there, in one thread, and each has a copy of the thread's context
(``contextvars``): nothing else of a unit interleaves with another.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet
from sqlmodel import Session

T = TypeVar("T")
Rows = list[tuple[Any, ...]]

_ROUND = "ehr_interleaved_units"
"""``Session.info`` key of the greenlets of the units that run interleaved in the session."""


_START = object()
"""What a unit is first resumed with: nothing."""


class Gathered(Protocol):
    """A statement whose values can be run together (``DriverSelect``)."""

    def many(self, session: Session, values: list[Mapping[str, Any]]) -> list[Rows]: ...


class _Waiting(NamedTuple):
    statement: Gathered
    values: Mapping[str, Any]


def rows_when_gathered(
    session: Session, statement: Gathered, values: Mapping[str, Any]
) -> Rows | None:
    """In a unit running interleaved: wait for the scheduler to run ``statement`` for
    ``values`` with the other units' and give its rows (or raise its error); elsewhere
    ``None``: the caller runs it at once."""
    units = session.info.get(_ROUND)
    if units is None or getcurrent() not in units:
        return None
    scheduler = getcurrent().parent
    assert scheduler is not None
    return scheduler.switch(_Waiting(statement, values))


def run_interleaved(session: Session, units: list[Callable[[], T]]) -> list[T]:
    """Run ``units`` interleaved (module docstring) and give what each returned, in order.

    A unit that raises ends them all: the others are stopped where they wait
    (``GreenletExit``) and the exception propagates, as when units run one after another
    and the first to raise ends the loop.
    """
    if len(units) < 2:
        return [unit() for unit in units]
    threads = [greenlet(unit) for unit in units]
    for thread in threads:
        thread.gr_context = contextvars.copy_context()
    results: list[Any] = [None] * len(units)
    session.info[_ROUND] = set(threads)
    try:
        resume: dict[int, tuple[bool, Any]] = {i: (True, _START) for i in range(len(units))}
        while resume:
            waiting: dict[int, _Waiting] = {}
            for i, (ok, value) in resume.items():
                thread = threads[i]
                if value is _START:  # a greenlet's first switch passes its arguments
                    got = thread.switch()
                else:
                    got = thread.switch(value) if ok else thread.throw(value)
                if thread.dead:
                    results[i] = got
                else:
                    waiting[i] = got
            resume = _run_waiting(session, waiting)
    finally:
        del session.info[_ROUND]
        for thread in threads:
            if not thread.dead:
                thread.throw(GreenletExit)
    return results


def _run_waiting(session: Session, waiting: dict[int, _Waiting]) -> dict[int, tuple[bool, Any]]:
    """Run what the units wait for, each statement's values together (those with the same
    bind names: one ``LATERAL`` statement binds them all): for each unit, ``(True, rows)``
    or ``(False, error)``."""
    by_statement: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, wait in waiting.items():
        by_statement.setdefault((id(wait.statement), tuple(wait.values)), []).append(i)
    resume: dict[int, tuple[bool, Any]] = {}
    for indices in by_statement.values():
        statement = waiting[indices[0]].statement
        try:
            found = statement.many(session, [waiting[i].values for i in indices])
        except Exception as exc:
            resume.update((i, (False, exc)) for i in indices)
        else:
            resume.update((i, (True, rows)) for i, rows in zip(indices, found, strict=True))
    return resume
