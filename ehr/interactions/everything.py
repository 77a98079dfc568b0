"""``GET Patient/{id}/$everything``: a person's longitudinal record, from every facility.

FHIR R4 ``Patient/$everything`` (https://hl7.org/fhir/R4/patient-operation-everything.html)
gives the Patient and every resource in its compartment as a ``searchset`` Bundle. The
exchange reads "its compartment" as the person's: asked of a golden person or of any
facility Patient linked to one, it gives the golden record, every facility Patient linked
to the person (and the golden records of persons merged into it), and everything in the
compartment of any of them, whichever facility sent it. That is the longitudinal record
PRODUCT.md promises a treating facility and the patient.

The access policy applies inside the query, as for a search (``ehr.access.policy``): a
facility sees what its care relationship with the person allows, a patient their own
records; a Patient the caller may not see at all is a 403, as a read is. The types are
those the caller's scopes let it read. One AuditEvent records the access, naming every
Patient whose records it returned.

AuditEvents are in the patient compartment, but a record of clinical care is not its
access log (which grows with every call, this one included): they come only when asked
for by ``_type``. Parameters: ``_type`` (comma-separated), ``_since`` (changed at or after),
``_count`` (page size) and ``_cursor`` (from a ``next`` link: a keyset on the storage key,
so pages stay right while records arrive). The care-date range ``start``/``end`` is not
supported and is refused (400) rather than ignored.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ColumnElement, select, union

from ehr.audit.pending import AUDIT_EVENT
from ehr.audit.trail import Access
from ehr.auth.scopes import allows
from ehr.context import RequestContext
from ehr.db.schema import Compartment, Resource
from ehr.errors import InvalidSearch, NotFound
from ehr.interactions.bundles import bundle, embedded
from ehr.interactions.history import page_key, page_links, page_size, since_bound
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.shaping import shape
from ehr.mpi.golden import is_golden
from ehr.mpi.persons import aliases, linked_person, members, resolve
from ehr.storage.repository import patients_column, patients_from

_R = Resource.__table__  # type: ignore[attr-defined]
_C = Compartment.__table__  # type: ignore[attr-defined]
UNSUPPORTED = ("start", "end")
"""Parameters of the OperationDefinition this server does not take (refused, not ignored)."""


def everything(ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str) -> FhirResponse:
    _check_parameters(req)
    count = page_size(ctx, req)
    types = _types(ctx, req)
    since = since_bound(req)
    after = page_key(req, "$everything")
    stored = ctx.store.current("Patient", res_id, "$everything", audit=False)
    if stored is None or stored.deleted or stored.content is None:
        raise NotFound(f"Patient/{res_id} is not known")
    records = _records_of_person(ctx, res_id, is_golden(orjson.loads(stored.content)))
    ids = sorted(records)
    in_record = union(
        select(_C.c.rid.label("rid")).where(_C.c.patient_id.in_(ids)),
        select(_R.c.rid.label("rid")).where(_R.c.res_type == "Patient", _R.c.res_id.in_(ids)),
    ).subquery("in_record")
    conditions: list[ColumnElement[bool]] = [
        _R.c.deleted.is_(False),
        _R.c.res_type.in_(sorted(types)),
        ctx.store.visible(_R, types),
    ]
    if since is not None:
        conditions.append(_R.c.last_updated >= since)
    if after is not None:
        conditions.append(in_record.c.rid > after)
    # From the person's few rows to the resource table, never the other way round: ordered
    # by the storage key under a LIMIT, PostgreSQL otherwise walks the whole table's key.
    query = (
        select(
            _R.c.rid, _R.c.res_type, _R.c.res_id, _R.c.content, patients_column().label("patients")
        )
        .select_from(in_record.join(_R, _R.c.rid == in_record.c.rid))
        .where(*conditions)
        .order_by(in_record.c.rid)
        .limit(count + 1)
    )
    rows = ctx.session.execute(query).all()
    page, more = rows[:count], len(rows) > count
    patients = set(records).union(*(patients_from(row.patients) for row in page))
    ctx.audit.note(Access("$everything", "Patient", target=f"Patient/{res_id}", patients=patients))
    path = f"Patient/{res_id}/$everything"
    kept = ("_type", "_since", "_count")
    links = page_links(ctx, req, path, kept, page[-1].rid if more else None)
    entries = [_entry(ctx, req, row) for row in page]
    return FhirResponse(status=200, body=bundle("searchset", entries, link=links))


def _records_of_person(ctx: RequestContext, res_id: str, golden: bool) -> set[str]:
    """The Patient ids that make up the person of ``res_id``: its golden record, the golden
    records merged into it, and every facility Patient linked to it (``res_id`` alone when
    it is linked to no one)."""
    person = resolve(ctx, res_id) if golden else linked_person(ctx, res_id)
    if person is None:
        return {res_id}
    person = resolve(ctx, person)
    return {res_id, *aliases(ctx, person), *members(ctx, person)}


def _check_parameters(req: FhirRequest) -> None:
    for name, _ in req.params:
        if name in UNSUPPORTED:
            raise InvalidSearch(
                f"$everything: {name} (care dates) is not supported; use _since or _type",
                expression=(name,),
            )


def _types(ctx: RequestContext, req: FhirRequest) -> set[str]:
    """The types to return: those asked for (default: the compartment's but AuditEvent),
    narrowed to what the caller's scopes let it read."""
    compartment = set(ctx.policy.person_types) | {"Patient"}
    asked = req.param("_type")
    if asked:
        wanted = {name.strip() for name in asked.split(",") if name.strip()}
        unknown = sorted(wanted - compartment)
        if unknown:
            raise InvalidSearch(
                f"$everything: _type {', '.join(unknown)[:200]} is not in the patient compartment",
                expression=("_type",),
            )
    else:
        wanted = compartment - {AUDIT_EVENT}
    principal = ctx.policy.principal
    if principal is None:
        return wanted
    return {name for name in wanted if allows(principal.scopes, name, "r")}


def _entry(ctx: RequestContext, req: FhirRequest, row: Any) -> dict[str, Any]:
    return {
        "fullUrl": f"{ctx.base_url}/{row.res_type}/{row.res_id}",
        "resource": embedded(shape(row.content, req)),
        "search": {"mode": "match"},
    }
