"""Low-level reads and writes of the generic store; no FHIR semantics, no commits.

Functions here take the unit of work's session and only add to it. FHIR rules (version
checks, conditional logic, validation) live in ``ehr.storage.write`` and the interactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from ehr.db.schema import SEARCH_TABLES, Compartment, Resource, ResourceVersion
from ehr.search.values import IndexValue

_RESOURCE = Resource.__table__  # type: ignore[attr-defined]
_VERSION = ResourceVersion.__table__  # type: ignore[attr-defined]
_COMPARTMENT = Compartment.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored; ``content`` is ``None`` for a delete tombstone."""

    rid: int
    res_type: str
    res_id: str
    version: int
    last_updated: int
    deleted: bool
    content: bytes | None
    method: str = ""
    facility: str | None = None
    """The facility code that wrote this version, where known."""


_CURRENT_COLUMNS = (
    _RESOURCE.c.rid,
    _RESOURCE.c.res_type,
    _RESOURCE.c.res_id,
    _RESOURCE.c.version,
    _RESOURCE.c.last_updated,
    _RESOURCE.c.deleted,
    _RESOURCE.c.content,
    _RESOURCE.c.facility,
)


def read_current(
    session: Session, res_type: str, res_id: str, *, for_update: bool = False
) -> StoredResource | None:
    """The current version of ``res_type/res_id`` (tombstones included), optionally row-locked."""
    query = select(*_CURRENT_COLUMNS).where(
        _RESOURCE.c.res_type == res_type, _RESOURCE.c.res_id == res_id
    )
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None:
        return None
    *columns, facility = row
    return StoredResource(*columns, facility=facility)


def read_version(
    session: Session, res_type: str, res_id: str, version: int
) -> StoredResource | None:
    """One historical version of ``res_type/res_id``."""
    row = session.execute(
        select(
            _VERSION.c.rid,
            _VERSION.c.res_type,
            _VERSION.c.res_id,
            _VERSION.c.version,
            _VERSION.c.last_updated,
            _VERSION.c.deleted,
            _VERSION.c.content,
            _VERSION.c.method,
        ).where(
            _VERSION.c.res_type == res_type,
            _VERSION.c.res_id == res_id,
            _VERSION.c.version == version,
        )
    ).first()
    return StoredResource(*row) if row else None


def save_version(
    session: Session,
    current: StoredResource | None,
    *,
    res_type: str,
    res_id: str,
    version: int,
    last_updated: int,
    content: bytes | None,
    method: str,
    facility: str | None = None,
) -> StoredResource:
    """Make ``content`` the current version (``None`` = delete tombstone) and keep it in history.

    ``facility`` is the facility code of the writer (``None``: the exchange or an admin).
    """
    deleted = content is None
    values = {
        "version": version,
        "last_updated": last_updated,
        "deleted": deleted,
        "content": content,
    }
    if current is None:
        rid = session.execute(
            insert(_RESOURCE).values(res_type=res_type, res_id=res_id, facility=facility, **values)
        ).inserted_primary_key[0]
    else:
        rid = current.rid
        session.execute(
            update(_RESOURCE).where(_RESOURCE.c.rid == rid).values(facility=facility, **values)
        )
    session.execute(
        insert(_VERSION).values(rid=rid, res_type=res_type, res_id=res_id, method=method, **values)
    )
    return StoredResource(
        rid, res_type, res_id, version, last_updated, deleted, content, method, facility
    )


def replace_index(
    session: Session,
    stored: StoredResource,
    entries: Iterable[tuple[str, str, IndexValue]],
    *,
    is_new: bool = False,
) -> None:
    """Replace the search index rows of ``stored`` with ``entries`` (param type, code, value).

    ``is_new`` skips the deletes for a resource that cannot have index rows yet.
    """
    rows: dict[str, list[dict]] = defaultdict(list)
    for param_type, code, value in entries:
        row = dict(value.__dict__)
        row.update(rid=stored.rid, res_type=stored.res_type, param=code)
        rows[param_type].append(row)
    for param_type, model in SEARCH_TABLES.items():
        table = model.__table__  # type: ignore[attr-defined]
        if not is_new:
            session.execute(delete(table).where(table.c.rid == stored.rid))
        if rows.get(param_type):
            session.execute(insert(table), rows[param_type])


def replace_compartment(
    session: Session, stored: StoredResource, patients: set[str], *, is_new: bool = False
) -> None:
    """Make ``patients`` the Patient compartments ``stored`` belongs to."""
    if not is_new:
        session.execute(delete(_COMPARTMENT).where(_COMPARTMENT.c.rid == stored.rid))
    if patients:
        session.execute(
            insert(_COMPARTMENT), [{"rid": stored.rid, "patient_id": p} for p in sorted(patients)]
        )


def compartment_of(session: Session, rid: int) -> set[str]:
    """The patients whose compartment holds resource ``rid`` now."""
    rows = session.execute(select(_COMPARTMENT.c.patient_id).where(_COMPARTMENT.c.rid == rid))
    return {row.patient_id for row in rows}
