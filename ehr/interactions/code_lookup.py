"""$lookup: ``GET|POST [base]/CodeSystem/$lookup`` (https://hl7.org/fhir/R4/codesystem-operation-lookup.html).

What a code means, from the terminology the exchange ships (``ehr.terminology``): the
code system's name, the display (in ``displayLanguage`` if we have it: ``vi`` or ``en``)
and the displays in every language as designations. Parameters come as query parameters
(GET) or a ``Parameters`` resource (POST); the OperationDefinition is
``fhir_profiles/OperationDefinition-CodeSystem-lookup.json``.

Errors: 400 for a malformed request (no code, a code without its system, a parameter
unknown, repeated or of the wrong type), 404 for a system or code we do not know. The
operation reads no person's data, so every authenticated role may call it and nothing is
audited.
"""

from __future__ import annotations

from typing import Any

from ehr.context import RequestContext
from ehr.errors import BadRequest, NotFound
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters, read_query
from ehr.terminology.codes import LANGUAGES, SYSTEMS, default_index

MAX_TEXT = 1000
LOOKUP_PARAMETERS = (
    Param("code", "code", max_length=MAX_TEXT),
    Param("system", "uri", max_length=MAX_TEXT),
    Param("version", "string", max_length=MAX_TEXT),
    Param("coding", "Coding", max_length=MAX_TEXT),
    Param("displayLanguage", "code", max_length=MAX_TEXT),
)
"""The parameters ``$lookup`` takes, as its OperationDefinition declares them."""


def lookup_code(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    if req.method == "POST":
        values = read_parameters(req.body, "$lookup", LOOKUP_PARAMETERS)
    else:
        values = read_query(req.params, "$lookup", LOOKUP_PARAMETERS)
    system, code = _system_and_code(values)
    concept = default_index(ctx.settings.seed_dir).lookup(system, code)
    if concept is None:
        known = "a code system" if system in SYSTEMS else "a code system we do not know"
        raise NotFound(
            f"$lookup: code {code[:64]!r} is not known in {known} ({system[:200]})",
            code="not-found",
        )
    language = values.get("displayLanguage")
    parameters: list[dict[str, Any]] = [
        {"name": "name", "valueString": SYSTEMS[system].name},
        {"name": "display", "valueString": concept.display_in(language)},
    ]
    for lang in LANGUAGES:
        if lang in concept.designations:
            parameters.append(
                {
                    "name": "designation",
                    "part": [
                        {"name": "language", "valueCode": lang},
                        {"name": "value", "valueString": concept.designations[lang]},
                    ],
                }
            )
    return FhirResponse(status=200, body={"resourceType": "Parameters", "parameter": parameters})


def _system_and_code(values: dict[str, Any]) -> tuple[str, str]:
    coding = values.get("coding")
    if coding is not None:
        if "code" in values or "system" in values:
            raise BadRequest("$lookup takes either system and code, or coding, not both")
        return coding["system"], coding["code"]
    if "code" not in values:
        raise BadRequest("$lookup needs a code (with its system) or a coding")
    if "system" not in values:
        raise BadRequest("$lookup needs the system of the code")
    return values["system"], values["code"]
