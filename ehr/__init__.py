"""ehr: Vietnam's national electronic health record exchange on HL7 FHIR R4.

The package is layered the way the best FHIR servers are (see STYLE.md):

- ``ehr.api``           HTTP: turns requests into ``FhirRequest`` and responses back.
- ``ehr.interactions``  FHIR semantics: one module per RESTful interaction / operation.
- ``ehr.storage``       the generic resource store and the single write path.
- ``ehr.search``        search parameters as data: extraction, parsing, SQL building.
- ``ehr.db``            tables, engine and the one unit-of-work function that commits.
"""

__version__ = "0.1.0"
