"""The one write path: every create, update, patch and delete goes through ``write_resource``.

Alone or inside a transaction bundle, a write is: lock the current row, check the
expected version (``If-Match``), validate the body against the R4B model, stamp
``id``/``meta``, let participants amend or refuse it, store the new version and its history
row, rebuild its search index rows, and let participants record what follows from it. All of
it runs in the caller's unit of work (``ehr.db.unit_of_work``), which alone commits.

An update whose resource, once amended by the participants, says exactly what the current
version says (its version stamps aside) stores nothing: a facility's system sends the
Patient again with every visit, mostly unchanged. No new version, no re-indexing; the
answer is the current version, and participants still see the write (``Change.unchanged``:
the audit notes it, the rest have nothing to follow). HAPI FHIR does the same ("no-op"
updates); the history then holds only versions that say something new.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from ehr.context import RequestContext
from ehr.db.driver_write import pipelined
from ehr.errors import PreconditionFailed
from ehr.fhir.validate import validate_structure
from ehr.search.dates import format_instant
from ehr.search.extract import Indexed, extract_all
from ehr.storage.participants import Change
from ehr.storage.repository import (
    StoredResource,
    compartment_of,
    insert_new,
    read_current,
    replace_compartment,
    replace_index,
    save_version,
)


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the stored version and whether it brought the resource into being."""

    stored: StoredResource | None
    created: bool
    changed: bool = True


def facility_source(facility: str) -> str:
    """The ``meta.source`` URI naming the facility that wrote a resource."""
    return f"urn:ehr:facility:{facility}"


def new_id() -> str:
    """A server-assigned logical id: random, so ids reveal nothing about volume or order."""
    return str(uuid.uuid4())


def now_micros() -> int:
    return time.time_ns() // 1000


def write_resource(
    ctx: RequestContext,
    *,
    method: str,
    res_type: str,
    res_id: str,
    body: dict[str, Any] | None,
    expected_version: int | None = None,
    check_references: bool = True,
    built_by_exchange: bool = False,
    fresh_id: bool = False,
    index_like: Indexed | None = None,
) -> WriteResult:
    """Store ``body`` as the next version of ``res_type/res_id`` (``body=None`` deletes).

    Raises ``PreconditionFailed`` when ``expected_version`` is not the current version,
    ``Forbidden`` when the caller may not change what is there, ``Unprocessable`` when the
    body is not a valid resource, or whatever a participant raises. ``check_references=False``
    is for records that must be able to point at what is gone (AuditEvents).
    ``built_by_exchange=True`` skips the model validation for a body the exchange assembled
    from whole elements of stored, validated resources (golden records, rebuilt on every
    Patient write; ``tests/mpi`` validates what ``ehr.mpi.golden`` builds).
    ``fresh_id=True``: the server minted ``res_id`` for this write (every create, a new
    person's golden record), so nothing is stored under it and there is no current version
    to read and lock: on PostgreSQL a round trip less per created resource. Should a random
    id ever repeat, the resource table's unique key refuses the insert. ``index_like``: a
    stored resource whose element values the body shares (``extract_all``'s ``like``).
    """
    current = None if fresh_id else read_current(ctx.session, res_type, res_id, for_update=True)
    if current is not None and not current.deleted:
        ctx.policy.check_modify(current.facility, res_type, res_id)
    owner = _owner(ctx, current)
    if expected_version is not None and (
        current is None or current.deleted or current.version != expected_version
    ):
        have = "none" if current is None or current.deleted else f'W/"{current.version}"'
        raise PreconditionFailed(
            f'If-Match expected version W/"{expected_version}" but the current is {have}'
        )
    if body is None and (current is None or current.deleted):
        ctx.written[(res_type, res_id)] = False
        return WriteResult(stored=current, created=False, changed=False)

    version = 1 if current is None else current.version + 1
    last_updated = now_micros()
    if current is not None and last_updated <= current.last_updated:
        last_updated = current.last_updated + 1
    if body is not None:
        if not built_by_exchange:
            validate_structure(body)
        body = _stamped(body, res_id, version, last_updated, owner)

    change = Change(method=method, res_type=res_type, res_id=res_id, body=body, previous=current)
    for participant in ctx.services.participants:
        participant.before_store(ctx, change)
    if current is not None and _says_the_same(current, change.body):
        # Nothing is stored, so nothing new refers anywhere: no reference check either.
        change.unchanged = True
        ctx.written[(res_type, res_id)] = True
        change.patients = compartment_of(ctx.session, current.rid)
        for participant in ctx.services.participants:
            participant.after_store(ctx, change, current)
        return WriteResult(stored=current, created=False, changed=False)

    if change.body is not None and check_references:
        ctx.pending_references.append((res_type, change.body))
    content = orjson.dumps(change.body) if change.body is not None else None
    entries = extract_all(change.body, ctx.registry, index_like) if change.body is not None else []
    change.entries = entries
    if change.body is not None:
        change.patients = ctx.services.compartment.patients_of(res_type, res_id, entries)
    elif current is not None:
        change.patients = compartment_of(ctx.session, current.rid)
    if current is None and content is not None:
        # A new resource (every create): all its rows in one go, as ``insert_new`` does.
        stored = insert_new(
            ctx.session,
            res_type=res_type,
            res_id=res_id,
            last_updated=last_updated,
            content=content,
            facility=owner,
            entries=entries,
            patients=change.patients,
            method=method,
        )
    else:
        assert current is not None  # a delete of nothing returned above
        with pipelined(ctx.session):  # on PostgreSQL a dozen statements, one round trip
            stored = save_version(
                ctx.session,
                current,
                res_type=res_type,
                res_id=res_id,
                version=version,
                last_updated=last_updated,
                content=content,
                method=method,
                facility=owner,
            )
            replace_index(ctx.session, stored, entries)
            replace_compartment(ctx.session, stored, change.patients)
    ctx.written[(res_type, res_id)] = change.body is not None
    for participant in ctx.services.participants:
        participant.after_store(ctx, change, stored)
    created = current is None or current.deleted
    return WriteResult(stored=stored, created=created and body is not None)


_VERSION_STAMPS = ("versionId", "lastUpdated")
"""What ``_stamped`` sets anew on every version."""


def _says_the_same(current: StoredResource, body: dict[str, Any] | None) -> bool:
    """Whether ``body`` is the current version again, its version stamps aside (a no-op
    update: the write path stores no new version)."""
    if body is None or current.deleted or current.content is None:
        return False
    return same_but_stamps(orjson.loads(current.content), body)


def same_but_stamps(stored: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether two bodies differ in their version stamps at most."""
    return _unstamped(stored) == _unstamped(body)


def _unstamped(resource: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in _VERSION_STAMPS}
    return {**resource, "meta": meta}


@dataclass(frozen=True)
class NewRecord:
    """A record the exchange built, stamped as the version 1 it will be stored as."""

    res_id: str
    last_updated: int
    facility: str | None
    body: dict[str, Any]


def stamp_new(ctx: RequestContext, body: dict[str, Any], last_updated: int) -> NewRecord:
    """``body`` with a fresh id and the ``meta`` of version 1 at ``last_updated``, owned as
    a create by the caller would be (for AuditEvents, ``ehr.audit.pending``)."""
    res_id = new_id()
    owner = _owner(ctx, None)
    return NewRecord(res_id, last_updated, owner, _stamped(body, res_id, 1, last_updated, owner))


def _owner(ctx: RequestContext, current: StoredResource | None) -> str | None:
    """The facility a new version belongs to: the writer's; the exchange's own rewrites
    (patient linking, seeding) keep the owner the resource already had."""
    if ctx.policy.principal is None:
        return current.facility if current is not None else None
    return ctx.policy.facility


def _stamped(
    body: dict[str, Any], res_id: str, version: int, last_updated: int, facility: str | None
) -> dict[str, Any]:
    """``body`` with the server's ``id`` and ``meta``, in FHIR order.

    What a facility writes names it in ``meta.source`` (PRODUCT.md section 5), whatever the
    client put there.
    """
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(last_updated)
    if facility is not None:
        meta["source"] = facility_source(facility)
    stamped: dict[str, Any] = {"resourceType": body["resourceType"], "id": res_id, "meta": meta}
    for key, value in body.items():
        if key not in stamped:
            stamped[key] = value
    return stamped
