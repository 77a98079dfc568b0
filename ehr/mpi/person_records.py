"""The resources that show the person index: golden Patients and the ``refer`` links back.

When links change, two kinds of resource follow, in the same unit of work: the golden
``Patient`` of each person involved is rebuilt from its sources (``ehr.mpi.golden``), and
each facility Patient that moved gets a new version whose ``refer`` link names its new
person. That rewrite is the exchange's own and only touches ``link``, so the linking
participant must not treat it as new evidence: it runs under ``rewriting()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson

from ehr.db.locks import serialize_on
from ehr.mpi.golden import golden_patient, replaced_golden
from ehr.mpi.persons import replaced_by, replaced_persons, sources

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.search.extract import Indexed

_REWRITING: ContextVar[bool] = ContextVar("mpi_rewriting", default=False)


def rewriting() -> bool:
    """Whether the write in progress is the exchange relabelling a facility Patient."""
    return _REWRITING.get()


@contextmanager
def _rewriting() -> Iterator[None]:
    token = _REWRITING.set(True)
    try:
        yield
    finally:
        _REWRITING.reset(token)


def with_refer_link(body: dict[str, Any], person_id: str) -> dict[str, Any]:
    """``body`` with exactly one ``refer`` link, to ``person_id`` (other links kept)."""
    links = [link for link in body.get("link") or [] if link.get("type") != "refer"]
    links.append({"other": {"reference": f"Patient/{person_id}"}, "type": "refer"})
    body["link"] = links
    return body


def referred_person(body: dict[str, Any]) -> str | None:
    """The person id that ``body``'s one ``refer`` link names (None: no such single link)."""
    refer = [link for link in body.get("link") or [] if link.get("type") == "refer"]
    if len(refer) != 1 or not isinstance(other := refer[0].get("other"), dict):
        return None
    reference = other.get("reference")
    if not isinstance(reference, str) or not reference.startswith("Patient/"):
        return None
    return reference.removeprefix("Patient/")


def relabel(ctx: RequestContext, patient_id: str, person_id: str) -> None:
    """Point the stored facility Patient's ``refer`` link at ``person_id`` (a new version)."""
    from ehr.storage.repository import read_current
    from ehr.storage.write import write_resource

    stored = read_current(ctx.session, "Patient", patient_id)
    if stored is None or stored.deleted or stored.content is None:
        return
    body = orjson.loads(stored.content)
    if referred_person(body) == person_id:
        return
    with _rewriting():
        write_resource(
            ctx.as_exchange(),
            method="PUT",
            res_type="Patient",
            res_id=patient_id,
            body=with_refer_link(body, person_id),
            check_references=False,
        )


def refresh_golden(ctx: RequestContext, person_id: str, sole_source: Indexed | None = None) -> None:
    """Rebuild the golden Patient of ``person_id`` from its sources.

    A person with no sources left is deleted, unless it was merged away: then it stays as
    an inactive record pointing at the survivor. Rebuilds of one person are serialised
    (``ehr.db.locks``): a rebuild waits for the one before it to commit, so it reads every
    source that transaction added. ``sole_source``: the person was just made for this
    stored record (``LinkDecision.new_person``), which is all there is to read; no other
    transaction can know its id before this one commits, so there is nothing to wait for.
    Its golden record takes whole elements from it, and with them their index values.
    """
    from ehr.storage.write import write_resource

    system = ctx.settings.cccd_system
    body: dict[str, Any] | None = None
    if sole_source is not None:
        body = golden_patient(person_id, [sole_source.resource], system)
    else:
        serialize_on(ctx.session, f"person:{person_id}")
        found = sources(ctx, person_id)
        if found:
            replaces = replaced_persons(ctx, person_id)
            body = golden_patient(person_id, found, system, replaces=replaces)
        elif (merged := replaced_by(ctx, person_id)) is not None:
            body = replaced_golden(person_id, merged.replaced_by)
    # A source sent again as it was rebuilds the same record, which the write path stores
    # as no new version.
    write_resource(
        ctx.as_exchange(),
        method="PUT" if body is not None else "DELETE",
        res_type="Patient",
        res_id=person_id,
        body=body,
        check_references=False,
        built_by_exchange=True,
        fresh_id=sole_source is not None,
        index_like=sole_source,
    )
