"""The canonical URLs of the external code systems the exchange uses.

They are the official ``system`` values (https://hl7.org/fhir/R4/terminologies-systems.html),
never our own: a record coded with them is understood by any FHIR server. The exchange's
own systems (provinces, facility levels) live in ``ehr.registry``.
"""

from __future__ import annotations

ICD10 = "http://hl7.org/fhir/sid/icd-10"
"""WHO ICD-10, the classification Vietnamese facilities and health insurance code with."""
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
"""CDC vaccine codes (CVX), which name the national EPI vaccines by their type."""
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
"""HL7 v3 ActCode: ``Encounter.class`` (AMB, EMER, IMP ...)."""
