"""What linking patients to persons adds to bundle ingest (issue 4: target under 10%).

Two databases receive the same transaction bundles from one facility, in-process through
``ehr.interactions.router.dispatch`` (the code ``POST /fhir`` runs, without HTTP): one
with every write participant as ``ehr serve`` runs them, one with the person index
(``PersonLinking``) left out. The bundles alternate between the two, so both see the same
machine load, and each database grows the same way. In every shape 90% of the new people
carry a CCCD and 10% do not (the matcher's case); references are ``urn:uuid`` fullUrls.

Two shapes of bundle (``--shape``):

- ``register``: ``--patients`` Patients a bundle, each POSTed with an Encounter and two
  Observations; a tenth of them are people sent before, POSTed again. The densest in
  Patients there is: a facility's first pushes of its register.
- ``visit``: one outpatient visit a bundle, as a facility's system sends it when the visit
  closes: the Patient by conditional update on the facility's record number (created on the
  first visit, sent again unchanged on the next), the Encounter, 1-3 Conditions (ICD-10),
  3 vital signs and 0-5 laboratory Observations (LOINC), 2-5 MedicationRequests and
  sometimes a Procedure: the rows of a Vietnamese insurance claim (visit, diagnoses,
  services, drugs, results), built on the national profiles' examples
  (``fhir_profiles/examples``). ``--returning`` of the visits are by people the facility
  has sent before. PRODUCT.md's scale (hundreds of millions of encounters a year for 101
  million people) makes most visits returning ones once the rollout has started; 0.5 is
  the share of its first year, when everyone's first visit still happens. Every resource
  conforms to the national profiles (the Patient's address carries its province's 2025
  code, the Encounter names the facility's Organization, written first in both databases)
  except the Patients without a CCCD, which the Patient profile requires: those are stored
  flagged not exchangeable, as the exchange stores them.

    .venv/bin/python scripts/bench/ingest_linking.py --bundles 300 \\
        --database-url sqlite:////tmp/ingest-{arm}.db [--shape visit --returning 0.5]
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

import orjson
from load_patients import PatientFactory

from ehr.access.policy import AccessPolicy
from ehr.api.app import build_services
from ehr.auth.principal import Principal
from ehr.config import Settings
from ehr.context import RequestContext, Services
from ehr.db.unit_of_work import unit_of_work
from ehr.fhir.identifiers import facility_record_system
from ehr.interactions.messages import FhirRequest
from ehr.interactions.router import dispatch
from ehr.mpi.linking import PersonLinking
from ehr.registry import EXT_PROVINCE_CODE, PROVINCE_SYSTEM
from ehr.registry.provinces import read_cccd_birth_codes
from ehr.storage.write import write_resource
from ehr.terminology.systems import ICD10

BASE_URL = "http://127.0.0.1:8000/fhir"
FACILITY = "01001"  # the national profiles' example facility (Organization/fac-01001)
PROFILES = Path(__file__).resolve().parents[2] / "fhir_profiles"
VITALS = (("8480-6", 90, 170, "mm[Hg]"), ("8867-4", 55, 110, "/min"), ("29463-7", 35, 90, "kg"))
LABS = (
    ("2345-7", 70, 250, "mg/dL"),
    ("2160-0", 0.5, 2.5, "mg/dL"),
    ("1742-6", 10, 120, "U/L"),
    ("1920-8", 10, 120, "U/L"),
    ("718-7", 90, 170, "g/L"),
    ("6690-2", 3, 15, "10*9/L"),
    ("14647-2", 3, 8, "mmol/L"),
)
DRUGS = (
    ("C08CA01", "Amlodipin 5 mg, viên nén"),
    ("A10BA02", "Metformin 500 mg, viên nén"),
    ("C09AA02", "Enalapril 5 mg, viên nén"),
    ("N02BE01", "Paracetamol 500 mg, viên nén"),
    ("J01CA04", "Amoxicilin 500 mg, viên nang"),
    ("A02BC01", "Omeprazol 20 mg, viên nang"),
    ("C10AA05", "Atorvastatin 10 mg, viên nén"),
    ("R06AE07", "Cetirizin 10 mg, viên nén"),
)


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


def _template(res_type: str) -> dict[str, Any]:
    resource = orjson.loads((PROFILES / "examples" / f"{res_type}-example.json").read_bytes())
    resource.pop("id")
    return resource


def _codes(name: str) -> list[str]:
    system = orjson.loads((PROFILES / f"CodeSystem-{name}.json").read_bytes())
    return [concept["code"] for concept in system["concept"]]


class VisitFactory:
    """Outpatient visits at one facility, each a transaction bundle (module docstring)."""

    def __init__(self, seed: int, returning: float) -> None:
        self.patients = PatientFactory(seed)
        self.rng = random.Random(seed)
        self.returning = returning
        self.known: list[dict[str, Any]] = []
        self.templates = {
            t: _template(t)
            for t in ("Encounter", "Condition", "Observation", "MedicationRequest", "Procedure")
        }
        self.diagnoses = _codes("icd-10")
        self.record_system = facility_record_system(FACILITY)
        self.provinces = read_cccd_birth_codes(Settings().seed_dir)

    def _patient(self) -> dict[str, Any]:
        if self.known and self.rng.random() < self.returning:
            return self.rng.choice(self.known)  # sent again as the facility has it
        patient = self.patients.patient()
        # the national Patient profile: the address's province by its 2025 code
        province = self.provinces[patient["identifier"][0]["value"][:3]]
        coding = {"system": PROVINCE_SYSTEM, "code": province.new_code}
        patient["address"][0]["extension"] = [
            {"url": EXT_PROVINCE_CODE, "valueCoding": {**coding, "display": province.new_province}}
        ]
        if self.rng.random() < 0.1:
            patient.pop("identifier")
        record = {"system": self.record_system, "value": f"BN{len(self.known) + 1:08d}"}
        patient["identifier"] = [record, *patient.get("identifier", [])]
        self.known.append(patient)
        return patient

    def _new(self, res_type: str, subject: str, encounter: str | None) -> dict[str, Any]:
        resource = copy.deepcopy(self.templates[res_type])
        resource["subject"] = {"reference": subject}
        if encounter is not None:
            resource["encounter"] = {"reference": encounter}
        return resource

    def bundle(self) -> dict[str, Any]:
        rng = self.rng
        patient = self._patient()
        record = patient["identifier"][0]["value"]
        entries = [
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": dict(patient),
                "request": {
                    "method": "PUT",
                    "url": f"Patient?identifier={self.record_system}|{record}",
                },
            }
        ]
        subject = entries[0]["fullUrl"]
        encounter = self._new("Encounter", subject, None)
        entries.append(_entry(encounter))
        visit = entries[1]["fullUrl"]
        for code in rng.sample(self.diagnoses, rng.randint(1, 3)):
            condition = self._new("Condition", subject, visit)
            condition["code"] = {"coding": [{"system": ICD10, "code": code}]}
            entries.append(_entry(condition))
        tests = list(VITALS) + rng.sample(LABS, rng.randint(0, 5))
        for code, low, high, unit in tests:
            observation = self._new("Observation", subject, visit)
            observation["code"] = {"coding": [{"system": "http://loinc.org", "code": code}]}
            if (code, low, high, unit) not in VITALS:
                observation.pop("category")
            observation["valueQuantity"] = {
                "value": round(rng.uniform(low, high), 1),
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            }
            entries.append(_entry(observation))
        for code, text in rng.sample(DRUGS, rng.randint(2, 5)):
            request = self._new("MedicationRequest", subject, visit)
            request["medicationCodeableConcept"]["coding"][0].update(code=code, display=text)
            request["medicationCodeableConcept"]["text"] = text
            entries.append(_entry(request))
        if rng.random() < 0.3:
            entries.append(_entry(self._new("Procedure", subject, visit)))
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def arm_services(settings: Settings, linking: bool) -> Services:
    services = build_services(settings)
    if not linking:
        kept = tuple(p for p in services.participants if not isinstance(p, PersonLinking))
        services = replace(services, participants=kept)
    return services


def register_facility(services: Services) -> None:
    """The facility's Organization, as the registry holds it, which Encounters name as
    their ``serviceProvider`` (the national Encounter profile requires one)."""
    organization = orjson.loads(
        (PROFILES / "examples" / f"Organization-fac-{FACILITY}.json").read_bytes()
    )
    policy = AccessPolicy(None, services.compartment.person_types, services.settings.cccd_system)
    with unit_of_work(services.engine) as session:
        ctx = RequestContext(services, session, BASE_URL, policy)
        write_resource(
            ctx, method="PUT", res_type="Organization", res_id=organization["id"], body=organization
        )
        ctx.finish()


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
    parser.add_argument("--shape", choices=("register", "visit"), default="register")
    parser.add_argument(
        "--returning", type=float, default=0.5, help="visit: share by people sent before"
    )
    args = parser.parse_args(argv)
    arms = {}
    for arm in ("linking", "baseline"):
        settings = Settings(database_url=args.database_url.format(arm=arm))
        services = arm_services(settings, linking=arm == "linking")
        register_facility(services)
        principal = Principal(
            subject=f"facility-{FACILITY}",
            role="facility",
            scopes=("system/*.cruds",),
            facility=FACILITY,
        )
        policy = AccessPolicy(principal, services.compartment.person_types, settings.cccd_system)
        arms[arm] = (services, policy)
    factory, rng, seen = PatientFactory(args.seed), random.Random(args.seed), []
    visits = VisitFactory(args.seed, args.returning)
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    entries = 0
    for index in range(args.bundles):
        if args.shape == "visit":
            bundle = visits.bundle()
        else:
            bundle = make_bundle(factory, rng, args.patients, seen)
        entries += len(bundle["entry"])
        order = list(arms) if index % 2 == 0 else list(reversed(arms))
        for arm in order:
            services, policy = arms[arm]
            # A copy each: processing rewrites the urn:uuid references in place.
            times[arm].append(ingest(services, policy, copy.deepcopy(bundle)))
        if (index + 1) % 50 == 0:
            print(f"{index + 1} bundles", file=sys.stderr, flush=True)
    per_bundle = entries / args.bundles
    for arm, seconds in times.items():
        measured = seconds[len(seconds) // 10 :]  # the first tenth warms caches
        print(
            f"{arm:>10}: median {1000 * statistics.median(measured):.1f} ms per bundle of "
            f"{per_bundle:.1f} entries, mean {1000 * statistics.mean(measured):.1f} ms, "
            f"{per_bundle * len(measured) / sum(measured):,.0f} resources/s"
        )
    with_linking = statistics.median(times["linking"][args.bundles // 10 :])
    without = statistics.median(times["baseline"][args.bundles // 10 :])
    print(f"linking adds {100 * (with_linking / without - 1):.1f}% to the median bundle")
    with_linking = sum(times["linking"][args.bundles // 10 :])
    without = sum(times["baseline"][args.bundles // 10 :])
    print(f"linking adds {100 * (with_linking / without - 1):.1f}% to the total time")
    for services, _ in arms.values():
        services.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
