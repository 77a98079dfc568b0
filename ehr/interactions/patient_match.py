"""$match: ``POST [base]/Patient/$match`` (https://hl7.org/fhir/R4/patient-operation-match.html).

Finds the persons a Patient resource may be, without writing a link or a person: by the
national ID when the resource carries one (a ``certain`` match), otherwise by the
probabilistic matcher (``ehr.mpi.candidates``). Each candidate is its golden Patient with
``search.score`` and the ``match-grade`` extension; only persons the caller may see are
returned (the access policy applies in the query, as everywhere).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ehr.context import RequestContext
from ehr.db.schema import PersonNationalId
from ehr.fhir.validate import validate_structure
from ehr.interactions.bundles import bundle, embedded
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters
from ehr.mpi.candidates import candidates, record_of
from ehr.mpi.national_id_hash import national_id_hmac
from ehr.mpi.patient_identity import identity_of
from ehr.search.query import parse_search

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
_NATIONAL = PersonNationalId.__table__  # type: ignore[attr-defined]
MATCH_PARAMETERS = (
    Param("resource", "resource", required=True, target="Patient"),
    Param("onlyCertainMatches", "boolean"),
    Param("count", "integer", maximum=100),
)
"""What ``$match`` takes (the R4 OperationDefinition ``Patient-match``)."""


def patient_match(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    values = read_parameters(req.body, "$match", MATCH_PARAMETERS)
    resource = values["resource"]
    only_certain, count = values.get("onlyCertainMatches", False), values.get("count", 10)
    validate_structure(resource)
    settings = ctx.settings
    identity = identity_of(resource, settings.cccd_system, seed_dir=settings.seed_dir)
    found: list[tuple[str, float, str]] = []
    if identity.cccd is not None:
        id_hash = national_id_hmac(ctx.services.national_id_secret, identity.cccd.number)
        row = ctx.session.execute(
            select(_NATIONAL.c.person_id).where(_NATIONAL.c.id_hash == id_hash)
        ).first()
        if row is not None:
            found.append((row.person_id, 1.0, "certain"))
    else:
        for match in candidates(ctx, record_of(ctx, resource), exclude=""):
            if match.score.grade != "certainly-not":
                found.append((match.person_id, match.score.score, match.score.grade))
    if only_certain:
        found = [f for f in found if f[2] == "certain"]
    found = found[:count]
    entries = _entries(ctx, found) if found else []
    return FhirResponse(status=200, body=bundle("searchset", entries, total=len(entries)))


def _entries(ctx: RequestContext, found: list[tuple[str, float, str]]) -> list[dict[str, Any]]:
    query = parse_search(
        "Patient",
        [("_id", ",".join(person for person, _, _ in found)), ("_count", str(len(found)))],
        ctx.registry,
        strict=True,
    )
    page = ctx.store.search(query, interaction="search-type")
    rows = {row.res_id: row for row in page.matches}
    entries = []
    for person, score, grade in found:
        row = rows.get(person)
        if row is None:
            continue  # not visible to this caller
        entries.append(
            {
                "fullUrl": f"{ctx.base_url}/Patient/{person}",
                "resource": embedded(row.content),
                "search": {
                    "extension": [{"url": MATCH_GRADE, "valueCode": grade}],
                    "mode": "match",
                    "score": round(score, 4),
                },
            }
        )
    return entries
