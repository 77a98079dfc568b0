"""OperationDefinitions of the terminology operations served here (``CodeSystem/$lookup``).

Ours narrow the standard definitions to what the exchange does: ``$lookup`` answers from
the codes it ships (``ehr.terminology``), by ``system`` and ``code`` or a ``coding``.
"""

from __future__ import annotations

from typing import Any

from ehr.conformance.common import metadata

LOOKUP_ID = "CodeSystem-lookup"


def _param(name: str, use: str, min_: int, max_: str, type_: str | None, doc: str) -> dict:
    param: dict[str, Any] = {"name": name, "use": use, "min": min_, "max": max_}
    if type_:
        param["type"] = type_
    param["documentation"] = doc
    return param


def lookup_definition() -> dict[str, Any]:
    return {
        **metadata(
            "OperationDefinition",
            LOOKUP_ID,
            "Look up a code",
            "The display of a code in the exchange's terminology (ICD-10 codes common in "
            "Vietnam, LOINC vital signs and labs, the national immunisation programme's "
            "vaccines, encounter classes, provinces, facility levels), in Vietnamese or "
            "English. GET with query parameters or POST a Parameters resource. Any "
            "authenticated caller may use it: it reads no person's data. Errors: 400 when "
            "neither system and code nor coding is given, 404 for a code not known.",
        ),
        "kind": "operation",
        "affectsState": False,
        "code": "lookup",
        "base": "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
        "resource": ["CodeSystem"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            _param("code", "in", 0, "1", "code", "The code to look up (with system)."),
            _param("system", "in", 0, "1", "uri", "The code system's canonical URL."),
            _param("version", "in", 0, "1", "string", "Accepted and ignored: one version."),
            _param("coding", "in", 0, "1", "Coding", "A coding instead of system and code."),
            _param(
                "displayLanguage",
                "in",
                0,
                "1",
                "code",
                "vi or en: the language of the returned display.",
            ),
            _param("name", "out", 1, "1", "string", "The code system's name."),
            _param("display", "out", 1, "1", "string", "The display, in displayLanguage."),
            {
                **_param(
                    "designation", "out", 0, "*", None, "The code's display in each language."
                ),
                "part": [
                    _param("language", "out", 0, "1", "code", "vi or en."),
                    _param("value", "out", 1, "1", "string", "The display in that language."),
                ],
            },
        ],
    }


def operation_definitions() -> list[dict[str, Any]]:
    return [lookup_definition()]
