"""Code lookups for people: what a diagnosis, lab test, vaccine or province code means.

- ``systems``: the official URLs of ICD-10, LOINC, UCUM, CVX and v3 ActCode.
- ``seed_codes``: the CSVs of ``seed/terminology/`` as typed rows.
- ``codes``: the index of every known code, loaded once; ``display`` and ``lookup``.

The portal and the dashboard call ``display``; ``CodeSystem/$lookup``
(``ehr.interactions.code_lookup``) serves the same index over FHIR.
"""

from __future__ import annotations

from ehr.terminology.codes import Concept, display, lookup

__all__ = ["Concept", "display", "lookup"]
