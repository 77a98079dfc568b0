"""Finding the person of a Patient without a national ID: blocking, scoring, deciding.

Candidates are the facility Patients that share a blocking key with the record
(``match_block``), at most ``MAX_PER_KEY`` per key so that a common key (a Nguyễn born in
1990) cannot make one write scan half a million rows. Each candidate is scored with the
rules of ``fhir_profiles/mpi-rules.json`` and the best score kept per person. The record
auto-links only when exactly one person scores in the review zone or above and that
person's score is an auto-link: two plausible persons is a question for a reviewer, never
a coin toss (a common name and birth date are shared by several people nationally).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    CompoundSelect,
    and_,
    bindparam,
    delete,
    exists,
    func,
    select,
    union_all,
)

from ehr.db.driver_select import DriverSelect
from ehr.db.driver_write import DriverWrite, insert_of
from ehr.db.schema import MatchBlock, MatchFeatures, PersonLink, PersonNationalId, Resource
from ehr.mpi.blocking import blocking_keys
from ehr.mpi.features import (
    MatchRecord,
    default_province_index,
    match_record,
    record_from_json,
    record_to_json,
)
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.rules import MatchRules, default_rules
from ehr.mpi.scoring import MatchScore, score

if TYPE_CHECKING:
    from ehr.context import RequestContext

MAX_PER_KEY = 200
KEY_LENGTH = 128
"""The width of ``match_block.key``."""
_BLOCK = MatchBlock.__table__  # type: ignore[attr-defined]
_LINK = PersonLink.__table__  # type: ignore[attr-defined]
_R = Resource.__table__  # type: ignore[attr-defined]
_NATIONAL = PersonNationalId.__table__  # type: ignore[attr-defined]
_FEATURES = MatchFeatures.__table__  # type: ignore[attr-defined]


def _block_rows(skippable: tuple[bool, ...], cap: int) -> CompoundSelect:
    """The rows of one block per key (bound as ``k0``, ``k1``...), at most ``cap`` each,
    in one statement: one round trip, not one per key. A block marked ``skippable`` (its
    rule is narrowed by another key the record has) gives no rows at all when it holds more
    than ``cap``: the database counts that, instead of sending ``cap`` rows to be dropped.
    Part of ``_candidate_rows``, which is built once per shape."""
    parts = []
    for i, skip in enumerate(skippable):
        key = bindparam(f"k{i}")
        block = (
            select(_BLOCK.c.key, _BLOCK.c.patient_id)
            .where(_BLOCK.c.key == key)
            .limit(cap)
            .subquery(f"b{i}")
        )
        part = select(block.c.key, block.c.patient_id)
        if skip:
            sample = select(_BLOCK.c.patient_id).where(_BLOCK.c.key == key).limit(cap + 1)
            size = select(func.count()).select_from(sample.subquery(f"n{i}")).scalar_subquery()
            part = part.where(size <= cap)
        parts.append(part)
    return union_all(*parts)


def _registered(link: Any) -> Any:
    """Whether the person of a ``person_link`` row has a registered national ID."""
    return exists().where(_NATIONAL.c.person_id == link.c.person_id).label("registered")


@lru_cache(maxsize=64)
def _candidate_rows(skippable: tuple[bool, ...], cap: int) -> DriverSelect:
    """Each Patient of the record's blocks (``_block_rows``) once, with its precomputed
    features, its person (``NULL`` where it has none) and whether that person has a
    registered national ID, in one statement: matching asks the database once, not for
    the blocks, then their persons, then their features (on PostgreSQL each a round trip).
    Built once per shape: every Patient write without a national ID, every first-seen
    national ID and every ``$match`` runs it."""
    blocked = _block_rows(skippable, cap).subquery("blocked")
    ids = select(blocked.c.patient_id).distinct().subquery("ids")
    joined = ids.outerjoin(_FEATURES, _FEATURES.c.patient_id == ids.c.patient_id).outerjoin(
        _LINK, _LINK.c.patient_id == ids.c.patient_id
    )
    columns = (ids.c.patient_id, _FEATURES.c.features, _LINK.c.person_id, _registered(_LINK))
    return DriverSelect(select(*columns).select_from(joined))


@dataclass(frozen=True)
class _Candidate:
    """A facility Patient sharing a block with the record, as the matcher compares it."""

    person_id: str
    registered: bool
    """Whether its person has a registered national ID."""
    record: MatchRecord


@dataclass(frozen=True)
class PersonMatch:
    """The best score of one candidate person."""

    person_id: str
    score: MatchScore


@dataclass(frozen=True)
class Matching:
    """The outcome for one record: the person to link to, if any, and who else is close."""

    link_to: PersonMatch | None
    review: tuple[PersonMatch, ...]


def record_of(ctx: RequestContext, patient: dict) -> MatchRecord:
    return match_record(
        patient,
        provinces=default_province_index(ctx.settings.seed_dir),
        national_id_system=ctx.settings.cccd_system,
    )


def rules_of(ctx: RequestContext) -> MatchRules:
    return default_rules(ctx.settings.profiles_dir)


def candidates(ctx: RequestContext, record: MatchRecord, exclude: str) -> list[PersonMatch]:
    """Every candidate person of ``record``, best first, with its best score."""
    rules = rules_of(ctx)
    return _ranked(ctx, record, _candidates_of(ctx, record, exclude, rules), rules)


def candidates_that_may_adopt(
    ctx: RequestContext, record: MatchRecord, exclude: str
) -> list[PersonMatch]:
    """``candidates``, for a national ID seen for the first time: none at all when every
    candidate's person already has a registered national ID.

    Most people, once cards are common: none of them can take another ID, so scoring them
    would decide nothing. A person without a registered row may still hold an ID through a
    manually linked record or an alias; for those the candidates are scored as usual and
    the caller checks.
    """
    rules = rules_of(ctx)
    found = _candidates_of(ctx, record, exclude, rules)
    if all(candidate.registered for candidate in found):
        return []
    return _ranked(ctx, record, found, rules)


def _candidates_of(
    ctx: RequestContext, record: MatchRecord, exclude: str, rules: MatchRules
) -> list[_Candidate]:
    """The linked facility Patients sharing a block with ``record``, ``exclude`` aside."""
    blocks = _blocks_of(ctx, record, rules)
    if blocks is None:
        return []
    found, missing = [], set()
    rows = _candidate_rows(blocks.skippable, MAX_PER_KEY).rows(ctx.session, blocks.params)
    for patient_id, features, person_id, registered in rows:
        if patient_id == exclude or person_id is None:
            continue
        if features is None:
            missing.add(patient_id)
        else:
            found.append(_Candidate(person_id, registered, record_from_json(features)))
    return [*found, *_from_patients(ctx, missing)]


def _ranked(
    ctx: RequestContext, record: MatchRecord, found: list[_Candidate], rules: MatchRules
) -> list[PersonMatch]:
    """The persons of ``found``, best first, each with its best score for ``record``."""
    probe = comparable(ctx, record)
    best: dict[str, MatchScore] = {}
    for candidate in found:
        result = score(probe, candidate.record, rules)
        person_id = candidate.person_id
        if person_id not in best or result.weight > best[person_id].weight:
            best[person_id] = result
    ranked = sorted(best.items(), key=lambda item: item[1].weight, reverse=True)
    return [PersonMatch(person_id, result) for person_id, result in ranked]


def _from_patients(ctx: RequestContext, patient_ids: set[str]) -> Iterator[_Candidate]:
    """Candidates without ``match_features`` (Patients stored before that table existed),
    compared from the Patients themselves."""
    if not patient_ids:
        return
    rows = ctx.session.execute(
        select(_R.c.content, _LINK.c.person_id, _registered(_LINK))
        .select_from(_R.join(_LINK, and_(_R.c.res_id == _LINK.c.patient_id)))
        .where(_R.c.res_type == "Patient", _R.c.res_id.in_(patient_ids), _R.c.deleted.is_(False))
    )
    for row in rows:
        candidate = comparable(ctx, record_of(ctx, orjson.loads(row.content)))
        yield _Candidate(row.person_id, bool(row.registered), candidate)


def comparable(ctx: RequestContext, record: MatchRecord) -> MatchRecord:
    """``record`` with its national ID as the keyed hash, as ``match_features`` keeps it
    (the matcher only tests national IDs for equality)."""
    if record.national_id is None:
        return record
    hashed = national_id_hmac(ctx.services.national_id_secret, record.national_id)
    return replace(record, national_id=hashed)


@dataclass(frozen=True)
class _Blocks:
    """The blocks of one record as ``_block_rows`` takes them."""

    skippable: tuple[bool, ...]
    params: dict[str, str]


def _blocks_of(ctx: RequestContext, record: MatchRecord, rules: MatchRules) -> _Blocks | None:
    """The record's blocks (``None``: it has no key).

    A block over the cap whose rule is ``narrowed_by`` another is skipped when the record
    has a key of that narrower rule: its rows are the part of the block that can matter
    (the same birth date rather than the same birth year), where the cap alone would keep
    an arbitrary slice.
    """
    keys = record_keys(ctx, record)
    rules_with_keys = {key.split(":", 1)[0] for key in keys}
    narrowed = {
        rule.name
        for rule in rules.blocking
        if rule.narrowed_by is not None and rule.narrowed_by in rules_with_keys
    }
    ordered = sorted(keys)
    if not ordered:
        return None
    skippable = tuple(key.split(":", 1)[0] in narrowed for key in ordered)
    return _Blocks(skippable, {f"k{i}": key for i, key in enumerate(ordered)})


def decide(matches: list[PersonMatch]) -> Matching:
    """Link only to a sole plausible person whose score is an auto-link (module docstring)."""
    plausible = tuple(m for m in matches if m.score.decision in ("auto-link", "review"))
    if len(plausible) == 1 and plausible[0].score.decision == "auto-link":
        return Matching(link_to=plausible[0], review=())
    return Matching(link_to=None, review=plausible)


def record_keys(ctx: RequestContext, record: MatchRecord) -> set[str]:
    """The blocking keys of ``record`` that fit the key column (longer ones cannot be shared)."""
    return {key for key in blocking_keys(record, rules_of(ctx)) if len(key) <= KEY_LENGTH}


_DELETE_BLOCKS = DriverWrite(delete(_BLOCK).where(_BLOCK.c.patient_id == bindparam("patient_id")))
_DELETE_FEATURES = DriverWrite(
    delete(_FEATURES).where(_FEATURES.c.patient_id == bindparam("patient_id"))
)
_INSERT_BLOCK = DriverWrite(insert_of(_BLOCK, ("key", "patient_id")))
_INSERT_FEATURES = DriverWrite(insert_of(_FEATURES, ("patient_id", "features")))
"""Built once and run on the driver: every facility Patient write files the Patient
(``ehr.db.driver_write``)."""


def index_for_matching(
    ctx: RequestContext, patient_id: str, record: MatchRecord | None, *, fresh: bool = False
) -> None:
    """File the facility Patient under its blocking keys with its precomputed features
    (``None``: it is gone, take it out). ``fresh``: the Patient was never stored before, so
    it has no rows to replace."""
    if not fresh:
        params = {"patient_id": patient_id}
        _DELETE_BLOCKS.execute(ctx.session, params)
        _DELETE_FEATURES.execute(ctx.session, params)
    if record is None:
        return
    keys = record_keys(ctx, record)
    if keys:
        _INSERT_BLOCK.execute(
            ctx.session, [{"key": key, "patient_id": patient_id} for key in sorted(keys)]
        )
    features = record_to_json(comparable(ctx, record))
    _INSERT_FEATURES.execute(ctx.session, {"patient_id": patient_id, "features": features})
