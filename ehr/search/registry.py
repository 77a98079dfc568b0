"""The search parameters the server supports, loaded from ``fhir_profiles/`` as data.

The definitions are the official FHIR R4 ``SearchParameter`` resources (fetched by
``scripts/fetch_fhir_definitions.py``). A parameter is supported for a resource type only
when its expression compiles (``ehr.search.fhirpath``); the CapabilityStatement is built
from this registry, so it lists exactly what works.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SearchParamDef:
    """One search parameter as it applies to one resource type."""

    code: str
    """The name used in the query string, e.g. ``identifier``."""
    type: str
    """token | string | date | number | quantity | reference | uri | composite | special."""
    resource_type: str
    expression: str
    """The FHIRPath expression restricted to ``resource_type`` (the ``|`` parts that apply)."""
    url: str
    targets: tuple[str, ...] = ()
    """For reference parameters: the resource types the reference may point at."""
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = field(default=())
    """For composite parameters: (definition url, expression) of each component."""
    description: str = ""
