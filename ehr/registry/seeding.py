"""Loading the conformance resources, the province table and the facility registry, idempotently.

Every resource goes through ``ehr.storage.write.write_resource`` (validation, history,
search index, participants), in units of work of ``BATCH_SIZE`` resources, as the
exchange itself (an ``AccessPolicy`` without a principal). What is already stored with the
same content (``meta`` aside) is skipped, so a second ``ehr seed`` writes no new version and
a changed generator or CSV updates exactly what changed. Seeding never deletes: a
facility the generator no longer makes stays as stored, for an operator to deactivate.

After seeding, the registry belongs to its operators: a facility's registered keys and
scope policy (``OPERATOR_EXTENSIONS``), whether it is active, and whether its site is, are
taken from what is stored, so re-seeding never drops a facility's keys nor re-activates a
facility an operator has switched off.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import select
from sqlmodel import Session

from ehr.access.policy import AccessPolicy
from ehr.config import Settings
from ehr.conformance.files import conformance_resources
from ehr.context import RequestContext, Services
from ehr.db.schema import Resource
from ehr.db.unit_of_work import run_in_unit_of_work
from ehr.registry import OPERATOR_EXTENSIONS
from ehr.registry.facilities import generate_registry
from ehr.registry.provinces import province_location, read_provinces
from ehr.registry.resources import facility_resources
from ehr.storage.write import write_resource

BATCH_SIZE = 250
"""Resources per unit of work: large enough to amortise a commit, small enough that a
SQLite writer holds the lock for well under a second and a failure loses little work."""
OPERATOR_FIELDS = {"Organization": ("active",), "Location": ("status",)}
"""Top-level elements an operator owns once a resource exists (see the module docstring)."""

_R = Resource.__table__  # type: ignore[attr-defined]
Progress = Callable[[int, int], None]


@dataclass
class SeedReport:
    """What one seeding run did, per resource type."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values())

    @property
    def total(self) -> int:
        return self.written + sum(self.unchanged.values())

    def lines(self) -> list[str]:
        types = sorted({*self.created, *self.updated, *self.unchanged})
        return [
            f"{res_type:<13} {self.created[res_type]:>6} created {self.updated[res_type]:>6} "
            f"updated {self.unchanged[res_type]:>6} unchanged"
            for res_type in types
        ]


def reference_resources(
    settings: Settings,
    *,
    province_codes: Collection[str] | None = None,
    scale: float = 1.0,
) -> list[dict[str, Any]]:
    """The conformance resources of ``fhir_profiles/`` (profiles, NamingSystems,
    CodeSystems, ValueSets, ConceptMaps, OperationDefinitions: ``ehr.conformance.files``),
    province Locations, then each facility's Organization and Location.

    In the order references need: a site ``Location`` points at its province and its
    ``Organization``. ``province_codes`` limits provinces and facilities to those codes.
    """
    provinces = read_provinces(settings.seed_dir)
    if province_codes is not None:
        unknown = set(province_codes) - {province.code for province in provinces}
        if unknown:
            raise ValueError(f"unknown province codes: {', '.join(sorted(unknown))}")
    chosen = [p for p in provinces if province_codes is None or p.code in province_codes]
    facilities = generate_registry(provinces, scale=scale, province_codes=province_codes)
    return [
        *conformance_resources(settings.profiles_dir),
        *(province_location(province) for province in chosen),
        *facility_resources(facilities),
    ]


def seed_registry(
    services: Services,
    *,
    province_codes: Collection[str] | None = None,
    scale: float = 1.0,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> SeedReport:
    """Load the province table and the facility registry into the store (see module doc)."""
    resources = reference_resources(services.settings, province_codes=province_codes, scale=scale)
    return seed_resources(services, resources, batch_size=batch_size, progress=progress)


def seed_resources(
    services: Services,
    resources: Sequence[dict[str, Any]],
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> SeedReport:
    """Store ``resources`` (each with its ``id``) unless already stored as they are."""
    report = SeedReport()
    started = time.perf_counter()
    done = 0
    for batch in _batches(resources, batch_size):
        outcomes = run_in_unit_of_work(
            services.engine, lambda session, batch=batch: _seed_batch(services, session, batch)
        )
        for outcome, res_type in outcomes:
            getattr(report, outcome)[res_type] += 1
        done += len(batch)
        if progress is not None:
            progress(done, len(resources))
    report.seconds = time.perf_counter() - started
    return report


def system_context(services: Services, session: Session) -> RequestContext:
    """A request context for the exchange itself: no caller, no facility, nothing denied."""
    policy = AccessPolicy(None, services.compartment.person_types, services.settings.cccd_system)
    base = services.settings.base_url.rstrip("/") or "http://localhost/fhir"
    return RequestContext(services, session, base, policy)


def _seed_batch(
    services: Services, session: Session, batch: list[dict[str, Any]]
) -> list[tuple[str, str]]:
    """One unit of work: write what differs, return ``(outcome, type)`` per resource."""
    ctx = system_context(services, session)
    stored = _stored_contents(session, batch)
    outcomes: list[tuple[str, str]] = []
    for body in batch:
        res_type, res_id = body["resourceType"], body["id"]
        current = stored.get((res_type, res_id))
        wanted = _with_operator_state(body, current)
        if current is not None and _without_meta(current) == wanted:
            outcomes.append(("unchanged", res_type))
            continue
        write_resource(ctx, method="PUT", res_type=res_type, res_id=res_id, body=wanted)
        outcomes.append(("created" if current is None else "updated", res_type))
    ctx.finish()
    return outcomes


def _stored_contents(
    session: Session, batch: Iterable[dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The current, not deleted content of the batch's resources, in one query per type."""
    ids: dict[str, list[str]] = {}
    for body in batch:
        ids.setdefault(body["resourceType"], []).append(body["id"])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for res_type, res_ids in ids.items():
        rows = session.execute(
            select(_R.c.res_id, _R.c.content).where(
                _R.c.res_type == res_type, _R.c.res_id.in_(res_ids), _R.c.deleted.is_(False)
            )
        )
        for res_id, content in rows:
            if content is not None:
                found[(res_type, res_id)] = orjson.loads(content)
    return found


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resource.items() if key != "meta"}


def _with_operator_state(body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """``body`` carrying over, from ``current``, what operators own (module docstring)."""
    if current is None:
        return body
    wanted = dict(body)
    for name in OPERATOR_FIELDS.get(body["resourceType"], ()):
        if name in current:
            wanted[name] = current[name]
    kept = [ext for ext in current.get("extension", []) if ext.get("url") in OPERATOR_EXTENSIONS]
    if not kept:
        return wanted
    extensions = [
        *(ext for ext in body.get("extension", []) if ext.get("url") not in OPERATOR_EXTENSIONS),
        *kept,
    ]
    rest = {k: v for k, v in wanted.items() if k not in ("resourceType", "id", "extension")}
    return {"resourceType": body["resourceType"], "id": body["id"], "extension": extensions, **rest}


def _batches(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
