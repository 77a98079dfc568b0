"""Reading the person index: who is linked where, merged persons, national IDs, distinct marks.

A golden person that was merged into another is *replaced* (``person_replaced``); its
national-ID rows stay as they are (``person_national_id`` is insert-only, which is what keeps
concurrent pushes of one CCCD safe) and are followed to the survivor here, by ``resolve``.
A person's *aliases* are itself and every person merged into it, transitively: a national
ID or a not-duplicate mark of an alias belongs to the survivor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import orjson
from sqlalchemy import and_, bindparam, or_, select

from ehr.db.driver_select import DriverSelect
from ehr.db.schema import (
    PersonDistinct,
    PersonLink,
    PersonNationalId,
    PersonReplaced,
    Resource,
)
from ehr.mpi.national_id_hash import national_id_hmac

if TYPE_CHECKING:
    from ehr.context import RequestContext

_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_NATIONAL = PersonNationalId.__table__  # type: ignore[attr-defined]
_REPLACED = PersonReplaced.__table__  # type: ignore[attr-defined]
_DISTINCT = PersonDistinct.__table__  # type: ignore[attr-defined]
_R = Resource.__table__  # type: ignore[attr-defined]
MAX_CHAIN = 64
"""Merges never form a cycle (a replaced person cannot be merged again); this only bounds
the walk should the data ever say otherwise."""


class Link(NamedTuple):
    """Which person a facility Patient belongs to, and who decided (``person_link``)."""

    person_id: str
    link_type: str


class Replaced(NamedTuple):
    """A ``person_replaced`` row: a person merged into another, by which change."""

    person_id: str
    replaced_by: str
    change_id: int


# Built once, with bind parameters, and run on the driver's cursor: linking runs these on
# every Patient write, and building a ``select`` costs several times running it.
_LINK_OF = DriverSelect(
    select(_LINK.c.person_id, _LINK.c.link_type).where(
        _LINK.c.patient_id == bindparam("patient_id")
    )
)
_REPLACED_BY = DriverSelect(
    select(_REPLACED).where(_REPLACED.c.person_id == bindparam("person_id"))
)
_REPLACED_PERSONS = DriverSelect(
    select(_REPLACED.c.person_id).where(_REPLACED.c.replaced_by == bindparam("person_id"))
)
_SOURCES = DriverSelect(
    select(_R.c.content).where(
        _R.c.res_type == "Patient",
        _R.c.res_id.in_(
            select(_LINK.c.patient_id).where(_LINK.c.person_id == bindparam("person_id"))
        ),
        _R.c.deleted.is_(False),
    )
)


def link_of(ctx: RequestContext, patient_id: str) -> Link | None:
    """The ``person_link`` row of a facility Patient."""
    return _LINK_OF.first_as(ctx.session, {"patient_id": patient_id}, Link)


def linked_person(ctx: RequestContext, patient_id: str) -> str | None:
    row = link_of(ctx, patient_id)
    return row.person_id if row else None


def members(ctx: RequestContext, person_id: str) -> list[str]:
    """The facility Patients linked to ``person_id``, sorted."""
    rows = ctx.session.execute(
        select(_LINK.c.patient_id).where(_LINK.c.person_id == person_id)
    ).scalars()
    return sorted(rows)


def replaced_by(ctx: RequestContext, person_id: str) -> Replaced | None:
    """The ``person_replaced`` row of a merged person."""
    return _REPLACED_BY.first_as(ctx.session, {"person_id": person_id}, Replaced)


def resolve(ctx: RequestContext, person_id: str) -> str:
    """The surviving person of ``person_id`` (itself unless it was merged away)."""
    for _ in range(MAX_CHAIN):
        row = replaced_by(ctx, person_id)
        if row is None:
            return person_id
        person_id = row.replaced_by
    return person_id


def aliases(ctx: RequestContext, person_id: str) -> set[str]:
    """``person_id`` and every person merged into it, transitively."""
    found, frontier = {person_id}, [person_id]
    while frontier and len(found) < 10_000:
        rows = ctx.session.execute(
            select(_REPLACED.c.person_id).where(_REPLACED.c.replaced_by.in_(frontier))
        ).scalars()
        frontier = [p for p in rows if p not in found]
        found.update(frontier)
    return found


def replaced_persons(ctx: RequestContext, person_id: str) -> list[str]:
    """The persons merged directly into ``person_id`` (its golden record ``replaces`` them)."""
    return sorted(row[0] for row in _REPLACED_PERSONS.rows(ctx.session, {"person_id": person_id}))


def national_id_hashes(
    ctx: RequestContext, person_id: str, exclude_patient: str | None = None
) -> set[str]:
    """The keyed hashes of every national ID the person holds: those registered to it or
    its aliases, and those its facility Patients (but ``exclude_patient``) carry, which a
    manual link can bring in."""
    names = aliases(ctx, person_id)
    hashes = set(
        ctx.session.execute(
            select(_NATIONAL.c.id_hash).where(_NATIONAL.c.person_id.in_(names))
        ).scalars()
    )
    secret, system = ctx.services.national_id_secret, ctx.settings.cccd_system
    for source in sources(ctx, person_id):
        if source["id"] == exclude_patient:
            continue
        for identifier in source.get("identifier") or []:
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if identifier.get("system") == system and isinstance(value, str) and value:
                hashes.add(national_id_hmac(secret, value))
    return hashes


def sources(ctx: RequestContext, person_id: str) -> list[dict]:
    """The current facility Patients of ``person_id``."""
    return [orjson.loads(row[0]) for row in _SOURCES.rows(ctx.session, {"person_id": person_id})]


def distinct_mark(ctx: RequestContext, a: str, b: str) -> int | None:
    """The change that marked persons ``a`` and ``b`` (or their aliases) not the same."""
    left, right = aliases(ctx, a), aliases(ctx, b)
    row = ctx.session.execute(
        select(_DISTINCT.c.change_id).where(
            or_(
                and_(_DISTINCT.c.person_a.in_(left), _DISTINCT.c.person_b.in_(right)),
                and_(_DISTINCT.c.person_a.in_(right), _DISTINCT.c.person_b.in_(left)),
            )
        )
    ).first()
    return row.change_id if row else None


def golden_exists(ctx: RequestContext, person_id: str) -> bool:
    """Whether ``person_id`` names a golden person (linked records, or a merged-away one)."""
    if ctx.session.execute(
        select(_LINK.c.patient_id).where(_LINK.c.person_id == person_id)
    ).first():
        return True
    return replaced_by(ctx, person_id) is not None
