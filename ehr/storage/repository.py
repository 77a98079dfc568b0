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

from ehr.db.schema import SEARCH_TABLES, Resource, ResourceVersion
from ehr.search.values import IndexValue

_RESOURCE = Resource.__table__  # type: ignore[attr-defined]
_VERSION = ResourceVersion.__table__  # type: ignore[attr-defined]


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


_CURRENT_COLUMNS = (
    _RESOURCE.c.rid,
    _RESOURCE.c.res_type,
    _RESOURCE.c.res_id,
    _RESOURCE.c.version,
    _RESOURCE.c.last_updated,
    _RESOURCE.c.deleted,
    _RESOURCE.c.content,
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
    return StoredResource(*row) if row else None


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
) -> StoredResource:
    """Make ``content`` the current version (``None`` = delete tombstone) and keep it in history."""
    deleted = content is None
    values = {
        "version": version,
        "last_updated": last_updated,
        "deleted": deleted,
        "content": content,
    }
    if current is None:
        rid = session.execute(
            insert(_RESOURCE).values(res_type=res_type, res_id=res_id, **values)
        ).inserted_primary_key[0]
    else:
        rid = current.rid
        session.execute(update(_RESOURCE).where(_RESOURCE.c.rid == rid).values(**values))
    session.execute(
        insert(_VERSION).values(rid=rid, res_type=res_type, res_id=res_id, method=method, **values)
    )
    return StoredResource(rid, res_type, res_id, version, last_updated, deleted, content, method)


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
