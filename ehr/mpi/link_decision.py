"""Which person a pushed facility Patient belongs to (the decision; ``ehr.mpi.linking`` acts).

In order:

1. A MANUAL link (an admin decided) holds as long as the record's national ID is the one
   it had: the matcher never overrides a reviewer, only new evidence does.
2. With a national ID, the person registered for its keyed hash, found deterministically:
   the hash is inserted into ``person_national_id`` *ignoring a duplicate* and read back,
   so two facilities pushing one CCCD at the same instant meet on a primary key and end with
   one person, never two. A national ID seen for the first time is registered to a person
   that holds none yet: the record's own person, else the person the matcher would
   auto-link it to, else a new one. That makes the partition independent of whether the
   card or the cardless records of one person arrive first (docs/matching.md).
3. When the national ID's person is not the record's former person, and that former person
   holds no national ID, the ID proves the two are one: merge them (AUTO, ``national-id``).
   If a reviewer marked them not the same, or the former person holds another national
   ID, only the record moves, and a ``national-id-conflict`` task is opened.
4. Without one, the record keeps its person; a new record is matched (``ehr.mpi.candidates``):
   auto-link to the sole plausible person, or a new person (with a review task in the grey
   zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import bindparam, select

from ehr.db.driver_select import DriverSelect
from ehr.db.locks import serialize_on
from ehr.db.schema import PersonNationalId
from ehr.db.upsert import inserted_unless_present
from ehr.mpi.candidates import (
    Matching,
    candidates,
    candidates_that_may_adopt,
    decide,
)
from ehr.mpi.features import MatchRecord
from ehr.mpi.link_changes import MANUAL
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.patient_identity import PatientIdentity
from ehr.mpi.persons import Link, distinct_mark, members, national_id_hashes, resolve
from ehr.storage.participants import Change

if TYPE_CHECKING:
    from ehr.context import RequestContext

_NATIONAL = PersonNationalId.__table__  # type: ignore[attr-defined]
NO_MATCH = Matching(link_to=None, review=())


@dataclass(frozen=True)
class LinkDecision:
    person_id: str
    previous: str | None
    identity: PatientIdentity
    reason: str
    grade: str = "certain"
    """certain (national ID, or nobody alike), probable (matcher), possible (grey zone)."""
    score: float | None = None
    explanation: Any = None
    matching: Matching = NO_MATCH
    merge_from: str | None = None
    """The former person, to merge into ``person_id`` (the national ID proves them one)."""
    kept_apart: str | None = None
    """The former person, left apart although the national ID links the record elsewhere."""
    kept_apart_why: str = ""
    new_person: bool = False
    """``person_id`` was made for this record: no other record is linked to it yet and no
    person was merged into it, so its golden record is built from this record alone."""


def decide_person(
    ctx: RequestContext,
    change: Change,
    identity: PatientIdentity,
    link: Link | None,
    record: MatchRecord,
) -> LinkDecision:
    current = link.person_id if link is not None else None
    if (
        link is not None
        and link.link_type == MANUAL
        and not _national_id_changed(ctx, change, identity)
    ):
        return LinkDecision(current, current, identity, "kept: decided by an admin")  # type: ignore[arg-type]
    if identity.cccd is not None:
        return _by_national_id(ctx, change.res_id, identity, current, record)
    if current is not None:
        # a record keeps its person until evidence or a reviewer moves it
        return LinkDecision(current, current, identity, "kept")
    matching = decide(candidates(ctx, record, exclude=change.res_id))
    if matching.link_to is not None:
        best = matching.link_to.score
        return LinkDecision(
            matching.link_to.person_id,
            None,
            identity,
            "probabilistic match",
            grade="probable",
            score=best.score,
            explanation=best.to_json(),
            matching=matching,
        )
    from ehr.mpi.link_management import new_person_id

    if matching.review:
        explanation = [m.score.to_json() for m in matching.review]
        return LinkDecision(
            new_person_id(),
            None,
            identity,
            "grey zone: new person, review opened",
            grade="possible",
            explanation=explanation,
            matching=matching,
            new_person=True,
        )
    return LinkDecision(
        new_person_id(), None, identity, "no candidate: new person", new_person=True
    )


def _by_national_id(
    ctx: RequestContext,
    patient_id: str,
    identity: PatientIdentity,
    current: str | None,
    record: MatchRecord,
) -> LinkDecision:
    from ehr.mpi.link_management import new_person_id
    from ehr.storage.write import now_micros

    assert identity.cccd is not None
    id_hash = national_id_hmac(ctx.services.national_id_secret, identity.cccd.number)
    registered = _registered(ctx, id_hash)
    reason, explanation, minted = "same national ID", None, None
    if registered is None:
        proposal = None
        if current is not None:
            if _holds_no_national_id(ctx, current, patient_id):
                proposal, reason = current, "national ID first seen: registered to its person"
        else:
            matching = decide(candidates_that_may_adopt(ctx, record, exclude=patient_id))
            adopt = matching.link_to
            if adopt is not None and _holds_no_national_id(ctx, adopt.person_id, None):
                proposal = adopt.person_id
                reason = "national ID first seen: registered to the matching person"
                explanation = adopt.score.to_json()
        if proposal is None:
            proposal = minted = new_person_id()
        row = {"id_hash": id_hash, "person_id": proposal, "created": now_micros()}
        if inserted_unless_present(ctx.session, _NATIONAL, row):
            registered = proposal
        else:  # another push of the ID won: its person it is
            registered = _registered(ctx, id_hash)
            assert registered is not None
    new_person = registered == minted
    person_id = registered if new_person else resolve(ctx, registered)
    decision = LinkDecision(
        person_id,
        current,
        identity,
        reason,
        score=1.0,
        explanation=explanation,
        new_person=new_person,
    )
    if current is None or current == person_id or members(ctx, current) == [patient_id]:
        return decision
    if not _holds_no_national_id(ctx, current, patient_id):
        why = "the record's national ID differs from the one its former person holds"
        return _replace(decision, kept_apart=current, kept_apart_why=why)
    mark = distinct_mark(ctx, current, person_id)
    if mark is not None:
        why = f"the national ID links the record to a person marked not the same (change {mark})"
        return _replace(decision, kept_apart=current, kept_apart_why=why)
    return _replace(decision, merge_from=current, reason="national-id: proves the persons one")


def _replace(decision: LinkDecision, **changes: Any) -> LinkDecision:
    from dataclasses import replace

    return replace(decision, **changes)


_REGISTERED = DriverSelect(
    select(_NATIONAL.c.person_id).where(_NATIONAL.c.id_hash == bindparam("id_hash"))
)
"""Built once: every Patient write with a national ID looks it up (twice when it is new)."""


def _registered(ctx: RequestContext, id_hash: str) -> str | None:
    row = _REGISTERED.first(ctx.session, {"id_hash": id_hash})
    return row[0] if row is not None else None


def _holds_no_national_id(ctx: RequestContext, person_id: str, patient_id: str | None) -> bool:
    """Whether ``person_id`` holds no national ID (but the record's own), under its lock, so
    two first-seen national IDs cannot both be registered to one person concurrently."""
    serialize_on(ctx.session, f"person:{person_id}")
    return not national_id_hashes(ctx, person_id, exclude_patient=patient_id)


def _national_id_changed(ctx: RequestContext, change: Change, identity: PatientIdentity) -> bool:
    """Whether the national ID differs from the stored version's (new evidence)."""
    before = None
    previous = change.previous
    if previous is not None and not previous.deleted and previous.content is not None:
        for identifier in orjson.loads(previous.content).get("identifier") or []:
            if (
                isinstance(identifier, dict)
                and identifier.get("system") == ctx.settings.cccd_system
            ):
                before = identifier.get("value")
    after = identity.cccd.number if identity.cccd is not None else None
    return before != after
