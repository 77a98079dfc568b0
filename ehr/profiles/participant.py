"""Profile validation on every write: reject, or store and flag as not exchangeable.

A write participant (``ehr.storage.participants``), after the model validation of the write
path. For each create, update and patch of a resource a national profile covers (or that
declares profiles in ``meta.profile``):

1. ``before_store``: drop any ``exchange-status`` tag the client sent (the tag is the
   server's), validate, and if the resource fails a profile either refuse the write
   (``reject`` policy: 422 with every issue) or tag it ``not-exchangeable``.
2. ``after_store``: record the failing version's issues in ``profile_flag``, or remove the
   flag when the new version is valid (or the resource is deleted).

Out of scope: golden records (the exchange builds them from facility records), and the
exchange's own types (AuditEvent, Task, conformance resources).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import delete

from ehr.db.schema import ProfileFlag
from ehr.db.upsert import upsert
from ehr.errors import Unprocessable, operation_outcome
from ehr.fhir.identifiers import CORE
from ehr.mpi.golden import is_golden
from ehr.profiles.definitions import ProfileSet, load_profiles
from ehr.profiles.policy import REJECT, ProfilePolicy
from ehr.profiles.validator import Report, validate
from ehr.storage.participants import Change

if TYPE_CHECKING:
    from ehr.context import RequestContext
    from ehr.storage.repository import StoredResource

EXCHANGE_STATUS = f"{CORE}/CodeSystem/exchange-status"
NOT_EXCHANGEABLE = {"system": EXCHANGE_STATUS, "code": "not-exchangeable"}
"""The ``meta.tag`` of a stored version that fails a national profile (``_tag`` searchable)."""
UNCHECKED_TYPES = frozenset(
    {
        "AuditEvent",
        "Task",
        "Bundle",
        "CapabilityStatement",
        "CodeSystem",
        "ConceptMap",
        "NamingSystem",
        "OperationDefinition",
        "SearchParameter",
        "StructureDefinition",
        "ValueSet",
    }
)
"""Types the exchange writes or serves itself: never validated against the profiles."""
_FLAG = ProfileFlag.__table__  # type: ignore[attr-defined]


class ProfileValidation:
    """Validates writes against the national profiles (see the module docstring)."""

    def __init__(self, profiles: ProfileSet, policy: ProfilePolicy) -> None:
        self.profiles = profiles
        self.policy = policy

    def in_scope(self, res_type: str, body: dict[str, Any]) -> bool:
        if res_type in UNCHECKED_TYPES or is_golden(body):
            return False
        meta = body.get("meta")
        declared = isinstance(meta, dict) and bool(meta.get("profile"))
        return declared or bool(self.profiles.national(res_type))

    def before_store(self, ctx: RequestContext, change: Change) -> None:
        if change.body is None or change.res_type in UNCHECKED_TYPES:
            return
        drop_status_tag(change.body)  # the server's tag, whatever the type
        if not self.in_scope(change.res_type, change.body):
            return
        report = validate(change.body, self.profiles)
        change.notes["profiles"] = report
        if report.valid:
            return
        if ctx.policy.principal is not None and self._rejects(report):
            first = next(i for i in report.issues if i.severity in ("error", "fatal"))
            raise Unprocessable(first.diagnostics, issues=report.issues)
        meta = change.body.setdefault("meta", {})
        meta["tag"] = [*(meta.get("tag") or []), dict(NOT_EXCHANGEABLE)]

    def _rejects(self, report: Report) -> bool:
        """Whether the policy refuses ``report``'s resource; an error that is no profile's
        (a declared profile of another type) falls under the default action."""
        if self.policy.rejects(report.failing_profiles(), self.profiles):
            return True
        unattributed = any(
            f.profile is None and f.issue.severity == "error" for f in report.findings
        )
        return unattributed and self.policy.default == REJECT

    def after_store(self, ctx: RequestContext, change: Change, stored: StoredResource) -> None:
        if change.res_type in UNCHECKED_TYPES or change.unchanged:
            return
        report: Report | None = change.notes.get("profiles")
        if change.body is None or report is None or report.valid:
            if not _may_be_flagged(change.previous):
                return  # nothing to clear: most writes are creates or of valid records
            ctx.session.execute(
                delete(_FLAG).where(
                    _FLAG.c.res_type == change.res_type, _FLAG.c.res_id == change.res_id
                )
            )
            return
        from ehr.storage.write import now_micros

        row = {
            "res_type": change.res_type,
            "res_id": change.res_id,
            "version": stored.version,
            "profiles": " ".join(report.failing_profiles()),
            "outcome": orjson.dumps(operation_outcome(report.issues)),
            "flagged_at": now_micros(),
        }
        upsert(ctx.session, _FLAG, row, key=("res_type", "res_id"))


def _may_be_flagged(previous: StoredResource | None) -> bool:
    """Whether the version being replaced may have a ``profile_flag`` row: only a flagged
    version carries the ``not-exchangeable`` tag, so without the code in its bytes there
    is no row to delete (the check may say yes needlessly, never no wrongly)."""
    if previous is None or previous.content is None:
        return False
    return NOT_EXCHANGEABLE["code"].encode() in previous.content


def drop_status_tag(body: dict[str, Any]) -> None:
    """Remove the server's exchange-status tag from ``body`` (in place): profile validation
    sets it anew on every write, whatever a client sent."""
    meta = body.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("tag"), list):
        return
    kept = [
        t for t in meta["tag"] if not (isinstance(t, dict) and t.get("system") == EXCHANGE_STATUS)
    ]
    if kept:
        meta["tag"] = kept
    else:
        del meta["tag"]
    if not meta:
        del body["meta"]


def profile_validation(profiles_dir: Path, policy_setting: str) -> ProfileValidation:
    """The participant for a profile directory and ``EHR_PROFILE_POLICY``; a policy naming a
    profile that does not exist is a start-up error, not a rule that silently never applies."""
    profiles = load_profiles(profiles_dir)
    policy = ProfilePolicy.parse(policy_setting)
    unknown = policy.unknown_names(profiles)
    if unknown:
        raise ValueError(f"EHR_PROFILE_POLICY names unknown profiles: {', '.join(unknown)}")
    return ProfileValidation(profiles, policy)
