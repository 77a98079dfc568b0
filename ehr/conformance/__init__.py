"""The national conformance resources, as data generated into ``fhir_profiles/``.

``scripts/build_profiles.py`` writes every resource below as one JSON file; a test checks
the committed files equal what it generates, so they never drift from these definitions
and from the ``seed/`` tables they read. Canonical base ``http://fhir.hl7.org.vn/core``
(the VN Core community guide); docs/profiles.md explains each choice.

- ``common`` / ``elements``: resource metadata and differential-element builders.
- ``profiles`` / ``clinical_profiles``: the StructureDefinitions (``vn-core-<name>``), in
  the StructureDefinition subset the validator (``ehr.profiles``) enforces.
- ``naming_systems``: CCCD, BHYT, BHXH, CMND, facility code, ma-cskcb, record numbers.
- ``code_systems`` / ``value_sets``: the terminology fragments, the ValueSets the
  profiles bind to, and the 63 -> 34 province ConceptMap.
- ``operations``: the OperationDefinitions of operations this package serves.
- ``examples``: one conforming example per profile (``fhir_profiles/examples/``).
- ``build``: everything above, by file name; ``files``: what ``ehr seed`` loads.
"""
