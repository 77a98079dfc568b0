"""What linking patients to persons adds to bundle ingest (issue 4: target under 10%).

Two databases receive the same transaction bundles from one facility, in-process through
``ehr.interactions.router.dispatch`` (the code ``POST /fhir`` runs, without HTTP): one
with every write participant as ``ehr serve`` runs them, one with the person index
(``PersonLinking``) left out. The bundles alternate between the two, so both see the same
machine load, and each database grows the same way. Each bundle holds ``--patients``
Patients (90% with a CCCD, 10% without, the matcher's case), an Encounter per Patient and
two Observations per Encounter, all linked by ``urn:uuid`` references, as an EMR's
nightly or per-visit push would send them. A tenth of the Patients are people already
sent in an earlier bundle (a second visit), who link to the person they already have.

    .venv/bin/python scripts/bench/ingest_linking.py --bundles 300 \\
        --database-url sqlite:////tmp/ingest-{arm}.db
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_patients import PatientFactory

from ehr.access.policy import AccessPolicy
from ehr.api.app import build_services
from ehr.auth.principal import Principal
from ehr.config import Settings
from ehr.context import RequestContext, Services
from ehr.db.unit_of_work import unit_of_work
from ehr.interactions.messages import FhirRequest
from ehr.interactions.router import dispatch
from ehr.mpi.linking import PersonLinking

BASE_URL = "http://127.0.0.1:8000/fhir"
FACILITY = "79001"


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    full_url = f"urn:uuid:{uuid.uuid4()}"
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def make_bundle(
    factory: PatientFactory, rng: random.Random, patients: int, seen: list[dict[str, Any]]
) -> dict[str, Any]:
    entries = []
    for _ in range(patients):
        if seen and rng.random() < 0.1:
            patient = rng.choice(seen)  # a second visit of someone already sent
        else:
            patient = factory.patient()
            if rng.random() < 0.1:
                patient.pop("identifier")
            seen.append(patient)
        patient_entry = _entry(dict(patient))
        encounter = {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
            },
            "subject": {"reference": patient_entry["fullUrl"]},
            "period": {"start": "2026-11-20T08:00:00+07:00", "end": "2026-11-20T08:30:00+07:00"},
        }
        encounter_entry = _entry(encounter)
        observations = [
            _entry(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "subject": {"reference": patient_entry["fullUrl"]},
                    "encounter": {"reference": encounter_entry["fullUrl"]},
                    "effectiveDateTime": "2026-11-20T08:10:00+07:00",
                    "valueQuantity": {
                        "value": value,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            )
            for code, value, unit in (("29463-7", 61.5, "kg"), ("8867-4", 72, "/min"))
        ]
        entries += [patient_entry, encounter_entry, *observations]
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def arm_services(settings: Settings, linking: bool) -> Services:
    services = build_services(settings)
    if not linking:
        kept = tuple(p for p in services.participants if not isinstance(p, PersonLinking))
        services = replace(services, participants=kept)
    return services


def ingest(services: Services, policy: AccessPolicy, bundle: dict[str, Any]) -> float:
    started = time.perf_counter()
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, BASE_URL, policy)
        response = dispatch(ctx, FhirRequest("POST", "", body=bundle))
        ctx.finish()
    if response.status != 200:
        raise SystemExit(f"the bundle gave {response.status}: {str(response.body)[:500]}")
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="with {arm}: linking or baseline (no person index)"
    )
    parser.add_argument("--bundles", type=int, default=300)
    parser.add_argument("--patients", type=int, default=10, help="Patients per bundle")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    arms = {}
    for arm in ("linking", "baseline"):
        settings = Settings(database_url=args.database_url.format(arm=arm))
        services = arm_services(settings, linking=arm == "linking")
        principal = Principal(
            subject=f"facility-{FACILITY}",
            role="facility",
            scopes=("system/*.cruds",),
            facility=FACILITY,
        )
        policy = AccessPolicy(principal, services.compartment.person_types, settings.cccd_system)
        arms[arm] = (services, policy)
    factory, rng, seen = PatientFactory(args.seed), random.Random(args.seed), []
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for index in range(args.bundles):
        bundle = make_bundle(factory, rng, args.patients, seen)
        order = list(arms) if index % 2 == 0 else list(reversed(arms))
        for arm in order:
            services, policy = arms[arm]
            # A copy each: processing rewrites the urn:uuid references in place.
            times[arm].append(ingest(services, policy, copy.deepcopy(bundle)))
        if (index + 1) % 50 == 0:
            print(f"{index + 1} bundles", file=sys.stderr, flush=True)
    entries = args.patients * 4
    for arm, seconds in times.items():
        measured = seconds[len(seconds) // 10 :]  # the first tenth warms caches
        print(
            f"{arm:>10}: median {1000 * statistics.median(measured):.1f} ms per bundle of "
            f"{entries} entries, {entries * len(measured) / sum(measured):,.0f} resources/s"
        )
    with_linking = statistics.median(times["linking"][args.bundles // 10 :])
    without = statistics.median(times["baseline"][args.bundles // 10 :])
    print(f"linking adds {100 * (with_linking / without - 1):.1f}% to the median bundle")
    for services, _ in arms.values():
        services.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
