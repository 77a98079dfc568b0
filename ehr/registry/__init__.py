"""The facility registry and the province table, as FHIR resources the exchange serves.

Facilities are ``Organization`` resources (id ``fac-<facility code>``) with one site
``Location`` each (``loc-<facility code>``); provinces (the 34 of the 2025 scheme) are
jurisdiction ``Location`` resources (``prov-<code>``). Other code (access control, the
indicators, SMART client registration) reads these shapes, so the systems and extension
URLs below are part of the contract and live in one place.

- ``ehr.registry.provinces``: the province CSV as typed rows, and the province Locations.
- ``ehr.registry.facilities``: the synthetic national registry and its resources.
- ``ehr.registry.seeding``: idempotent loading through the one write path.
"""

from __future__ import annotations

from ehr.fhir.identifiers import CORE, FACILITY_CODE, MA_CSKCB

__all__ = [
    "CORE",
    "EXT_CCCD_BIRTH_PREFIXES",
    "EXT_JWKS",
    "EXT_LEGACY_PROVINCE_CODES",
    "EXT_POPULATION_ESTIMATE",
    "EXT_PROVINCE_CODE",
    "EXT_SCOPE_POLICY",
    "FACILITY_CODE",
    "FACILITY_KIND_SYSTEM",
    "FACILITY_LEVEL_SYSTEM",
    "JURISDICTION",
    "LEGACY_PROVINCE_SYSTEM",
    "MA_CSKCB",
    "OPERATOR_EXTENSIONS",
    "PROVINCE_SID",
    "PROVINCE_SYSTEM",
]

PROVINCE_SID = f"{CORE}/sid/province"
"""Identifier system of a province ``Location``: the 2-digit 2025 province code."""
PROVINCE_SYSTEM = f"{CORE}/CodeSystem/province"
"""CodeSystem of the 34 provinces (2025 scheme), ``fhir_profiles/CodeSystem-province.json``."""
LEGACY_PROVINCE_SYSTEM = f"{CORE}/CodeSystem/legacy-province"
"""CodeSystem of the 63 provinces before 1 July 2025 (their 2-digit codes, which CCCD
prefixes and health-insurance codes still carry); mapped to ``PROVINCE_SYSTEM`` by the
ConceptMap ``legacy-province-to-province``."""
FACILITY_LEVEL_SYSTEM = f"{CORE}/CodeSystem/facility-level"
"""central | provincial | regional | commune | private (``Organization.type[0]``)."""
FACILITY_KIND_SYSTEM = f"{CORE}/CodeSystem/facility-kind"
"""hospital | health-station | clinic (``Organization.type[1]``): the EMR deadlines differ
for hospitals and for everything else, and level ``private`` holds both."""

_SD = f"{CORE}/StructureDefinition"
EXT_PROVINCE_CODE = f"{_SD}/province-code"
"""On an ``Address``: valueCoding of the province (``PROVINCE_SYSTEM``) it lies in."""
EXT_JWKS = f"{_SD}/jwks"
"""On a facility ``Organization``: valueString, the public JWKS of its SMART client."""
EXT_SCOPE_POLICY = f"{_SD}/scope-policy"
"""On a facility ``Organization``: valueString, the SMART scopes its client may be granted."""
EXT_POPULATION_ESTIMATE = f"{_SD}/population-estimate"
EXT_LEGACY_PROVINCE_CODES = f"{_SD}/legacy-province-codes"
EXT_CCCD_BIRTH_PREFIXES = f"{_SD}/cccd-birth-prefixes"

OPERATOR_EXTENSIONS = frozenset({EXT_JWKS, EXT_SCOPE_POLICY})
"""Extensions an operator registers on a facility after seeding; re-seeding keeps them."""

JURISDICTION = {
    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
    "code": "jdn",
    "display": "Jurisdiction",
}
