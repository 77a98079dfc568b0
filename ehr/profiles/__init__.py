"""Validation against the national profiles (``fhir_profiles/StructureDefinition-*.json``).

- ``definitions``: the StructureDefinitions, ValueSets and CodeSystems of a directory,
  read once and compiled into rules (``load_profiles``).
- ``terminology``: whether a code is in a ValueSet (bindings).
- ``paths``: element paths walked over a resource's JSON, with FHIRPath expressions.
- ``checks`` / ``validator``: the rules of the supported StructureDefinition subset, and
  which profiles apply to a resource.
- ``policy``: ``EHR_PROFILE_POLICY``, reject or accept-and-flag, per profile.
- ``participant``: the write participant that validates every write and flags what fails.
- ``exchangeability``: which records are valid against the national profiles (the
  interoperability indicator).
"""
