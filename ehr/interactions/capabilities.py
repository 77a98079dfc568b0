"""capabilities: ``GET [base]/metadata`` (https://hl7.org/fhir/R4/http.html#capabilities).

The CapabilityStatement is generated from what is registered (the router's table, the
search parameter registry, the national profiles of ``fhir_profiles/``), never written by
hand, so it lists exactly what works. It is built once per base URL and served from memory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson

from ehr import __version__
from ehr.context import RequestContext
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.profiles.definitions import load_profiles
from ehr.search.registry import SearchRegistry

_TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")
_RESULT_PARAMETERS = (
    ("_count", "number", "Page size"),
    ("_sort", "string", "Sort keys, '-' for descending"),
    ("_total", "token", "none | estimate | accurate"),
    ("_include", "special", "Include referenced resources"),
    ("_revinclude", "special", "Include referencing resources"),
    ("_summary", "token", "true | false | text | data | count"),
    ("_elements", "string", "Top-level elements to return"),
)


def capabilities(ctx: RequestContext, req: FhirRequest) -> FhirResponse:
    routed = {route.interaction for route in _routes()}
    operations = tuple(
        dict.fromkeys(  # an operation routed at type and instance level is listed once
            (route.interaction.removeprefix("$"), route.definition, route.types)
            for route in _routes()
            if route.interaction.startswith("$")
        )
    )
    profiles = _national_profiles(ctx.settings.profiles_dir)
    content = _statement(ctx.registry, ctx.base_url, frozenset(routed), operations, profiles)
    return FhirResponse(status=200, body=content)


@lru_cache(maxsize=8)
def _national_profiles(profiles_dir: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(type, profile urls)`` for each type the national profiles constrain."""
    profiles = load_profiles(profiles_dir)
    types = sorted({p.type for p in profiles.profiles.values()})
    found = ((t, tuple(p.url for p in profiles.national(t))) for t in types)
    return tuple((t, urls) for t, urls in found if urls)


def _routes():  # type: ignore[no-untyped-def]
    from ehr.interactions.router import ROUTES

    return ROUTES


@lru_cache(maxsize=8)
def _statement(
    registry: SearchRegistry,
    base_url: str,
    routed: frozenset[str],
    operations: tuple[tuple[str, str, tuple[str, ...]], ...],
    profiles: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> bytes:
    resources = [_resource(registry, t, routed) for t in registry.resource_types()]
    national = dict(profiles)
    for resource in resources:
        supported = national.get(resource["type"])
        if supported:
            # Every resource of the type is validated against them (ehr.profiles).
            if len(supported) == 1:
                resource["profile"] = supported[0]
            resource["supportedProfile"] = list(supported)
        served = [
            {"name": name, "definition": definition}
            for name, definition, types in operations
            if not types or resource["type"] in types
        ]
        if served:
            resource["operation"] = served
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "publisher": "ehr — Vietnam national EHR exchange",
        "kind": "instance",
        "software": {"name": "ehr", "version": __version__},
        "implementation": {"description": "Vietnam national EHR exchange", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(base_url),
                "resource": resources,
                "interaction": [{"code": c} for c in _SYSTEM_INTERACTIONS if c in routed],
            }
        ],
    }
    return orjson.dumps(statement)


def _security(base_url: str) -> dict:
    """SMART on FHIR: where to get a token (the same URLs as the well-known document)."""
    root = base_url.removesuffix("/fhir")
    return {
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": "token", "valueUri": f"{root}/auth/token"}],
            }
        ],
        "description": "SMART Backend Services (private_key_jwt) for facility systems; "
        "every request needs a Bearer token.",
    }


def _resource(registry: SearchRegistry, res_type: str, routed: frozenset[str]) -> dict:
    params = registry.params_for(res_type)
    references = sorted(code for code, p in params.items() if p.type == "reference")
    search = [
        {"name": code, "definition": p.url, "type": p.type} for code, p in sorted(params.items())
    ]
    search += [{"name": n, "type": t, "documentation": d} for n, t, d in _RESULT_PARAMETERS]
    return {
        "type": res_type,
        "interaction": [{"code": c} for c in _TYPE_INTERACTIONS if c in routed],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "modified-since",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical", "enforced", "local"],
        "searchInclude": [f"{res_type}:{code}" for code in references],
        "searchRevInclude": sorted(
            f"{other}:{code}"
            for other in registry.resource_types()
            for code, p in registry.params_for(other).items()
            if p.type == "reference" and (not p.targets or res_type in p.targets)
        ),
        "searchParam": search,
    }
