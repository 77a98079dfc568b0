"""Linking every facility Patient to exactly one golden person, inside the Patient's write.

A write participant (``ehr.storage.participants``). For each Patient a facility writes:

1. ``before_store``: read its identity (``ehr.mpi.patient_identity``; a malformed national
   ID rejects the write), decide its person (``ehr.mpi.link_decision``) and give the
   Patient a ``refer`` link to it.
2. ``after_store``: record the change and its history (``ehr.mpi.link_changes``); when a
   national ID proves the record's former person is another known person, merge the two
   (AUTO, reason ``national-id``); rebuild the golden records (``ehr.mpi.person_records``);
   open the review tasks the decision calls for (``ehr.mpi.review_tasks``).

The exchange's own rewrite of a record's ``refer`` link (after a merge, say) is not new
evidence and passes through untouched (``ehr.mpi.person_records.rewriting``); nor is a
record the facility sends again as it is stored (a returning visit's Patient), which keeps
its link without a decision and is stored as no new version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from ehr.db.driver_write import pipelined
from ehr.mpi.candidates import index_for_matching, record_of
from ehr.mpi.golden import is_golden
from ehr.mpi.link_changes import AUTO, Move, record_move, start_change
from ehr.mpi.link_decision import LinkDecision, decide_person
from ehr.mpi.link_management import ChangeResult, merge_into, settle
from ehr.mpi.patient_identity import identity_of
from ehr.mpi.person_records import referred_person, refresh_golden, rewriting, with_refer_link
from ehr.mpi.persons import link_of
from ehr.mpi.review_tasks import (
    open_duplicate_review,
    open_identity_review,
    open_national_id_review,
)
from ehr.profiles.participant import drop_status_tag
from ehr.search.extract import Indexed
from ehr.storage.participants import Change
from ehr.storage.write import same_but_stamps

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.mpi.features import MatchRecord
    from ehr.storage.repository import StoredResource


class PersonLinking:
    """Links facility Patients to golden persons (see the module docstring)."""

    def before_store(self, ctx: RequestContext, change: Change) -> None:
        if change.res_type != "Patient" or change.body is None or rewriting():
            return
        if is_golden(change.body) or _sent_again(change):
            return
        settings = ctx.settings
        identity = identity_of(change.body, settings.cccd_system, seed_dir=settings.seed_dir)
        record = record_of(ctx, change.body)
        # A Patient never stored has no link yet (deleting one removes its link).
        link = link_of(ctx, change.res_id) if change.previous is not None else None
        decision = decide_person(ctx, change, identity, link, record)
        with_refer_link(change.body, decision.person_id)
        change.notes["person"] = decision
        change.notes["record"] = record

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        if change.res_type != "Patient" or rewriting() or change.unchanged:
            return
        if change.body is None:
            _forget(ctx, change.res_id)
            return
        decision: LinkDecision | None = change.notes.get("person")
        if decision is None:
            return
        record = change.notes["record"]
        person_id = decision.person_id
        if decision.merge_from is None and decision.previous != person_id:
            _move(ctx, change, decision, record)
        else:
            index_for_matching(ctx, change.res_id, record, fresh=change.previous is None)
            if decision.merge_from is not None:
                result = ChangeResult(
                    start_change(ctx, "merge", AUTO, decision.reason), decision.reason
                )
                merge_into(ctx, result, decision.merge_from, person_id, AUTO, decision.reason)
                settle(ctx, result)
            else:
                refresh_golden(ctx, person_id)
        _open_reviews(ctx, change.res_id, decision)


def _move(ctx: RequestContext, change: Change, decision: LinkDecision, record: MatchRecord) -> None:
    """Link the record to its decided person (a new record, or one the evidence moved):
    its rows for matching, the change and the link go in two round trips, not five."""
    with pipelined(ctx.session):
        # ``fresh``: a new id, with nothing filed under it yet
        index_for_matching(ctx, change.res_id, record, fresh=change.previous is None)
        change_id = start_change(ctx, "link", AUTO, decision.reason)
        move = Move(
            change.res_id,
            decision.person_id,
            decision.previous,
            grade=decision.grade,
            score=decision.score,
            explanation=decision.explanation,
        )
        record_move(ctx, change_id, move, "link", AUTO, decision.reason)
    sole_source = None
    if decision.new_person and change.body is not None:
        sole_source = Indexed(change.body, change.entries)
    refresh_golden(ctx, decision.person_id, sole_source=sole_source)
    if decision.previous is not None:
        refresh_golden(ctx, decision.previous)


def _sent_again(change: Change) -> bool:
    """Whether the facility sent the stored version again (the Patient of a returning
    visit, say): it then keeps its ``refer`` link, the exchange's own, and no decision is
    made, since nothing new is known. The write path stores no new version for it.

    The stored version is compared as the facility sent it: without the exchange's own
    parts, the ``refer`` link and the profiles' status tag (which validation sets again).
    """
    previous = change.previous
    if previous is None or previous.deleted or previous.content is None:
        return False
    sent = orjson.loads(previous.content)
    person_id = referred_person(sent)
    if person_id is None:
        return False
    drop_status_tag(sent)
    assert change.body is not None
    # Setting the link is harmless when the answer is no: a decision sets it again.
    return same_but_stamps(sent, with_refer_link(change.body, person_id))


def _forget(ctx: RequestContext, patient_id: str) -> None:
    """A deleted facility Patient leaves the index; its person is rebuilt without it."""
    index_for_matching(ctx, patient_id, None)
    link = link_of(ctx, patient_id)
    if link is None:
        return
    reason = "the facility Patient was deleted"
    change_id = start_change(ctx, "unlink", AUTO, reason)
    record_move(ctx, change_id, Move(patient_id, None, link.person_id), "unlink", AUTO, reason)
    refresh_golden(ctx, link.person_id)


def _open_reviews(ctx: RequestContext, patient_id: str, decision: LinkDecision) -> None:
    if decision.identity.review_flags:
        open_identity_review(ctx, patient_id, decision.person_id, decision.identity.review_flags)
    if decision.matching.review:
        open_duplicate_review(ctx, patient_id, decision.person_id, decision.matching.review)
    if decision.kept_apart is not None:
        open_national_id_review(
            ctx,
            patient_id,
            decision.kept_apart,
            decision.kept_apart_why,
            other_person=decision.person_id,
        )
