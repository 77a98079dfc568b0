"""The master patient index: one golden person behind the Patients many facilities push.

PRODUCT.md section 3.

Identifiers (pure code):

- ``ehr.mpi.cccd``: the 12-digit national ID (CCCD), parsed and checked against the
  birth-province prefixes of the old 63-province scheme.
- ``ehr.mpi.secondary_ids``: the health insurance (BHYT / BHXH) numbers and the retired CMND.
- ``ehr.mpi.national_id_hash``: the keyed hash the ID is stored under, and masking for any
  human-facing text, because a national ID must never reach a log.
- ``ehr.mpi.patient_identity``: what a pushed Patient says about who it is, with the
  identifier errors that reject it and the conflicts that only flag it for review.

Probabilistic matching (pure code, rules as data in ``fhir_profiles/mpi-rules.json``):

- ``ehr.mpi.features``: a Patient as a normalised ``MatchRecord``.
- ``ehr.mpi.blocking``: the keys under which records are indexed and candidates found.
- ``ehr.mpi.comparators``, ``ehr.mpi.scoring``: field agreement levels and Fellegi-Sunter
  weights to a score, a decision (auto-link, review, new person) and a match grade.
- ``ehr.mpi.rules``: loading and checking the rules.

Linking (in the write transaction): ``ehr.mpi.linking`` (the write participant),
``ehr.mpi.link_decision`` (which person), ``ehr.mpi.golden`` and ``ehr.mpi.person_records``
(golden records and ``refer`` links).

Review and link management (docs/matching.md): ``ehr.mpi.persons`` (reading the index),
``ehr.mpi.link_changes`` (recording changes), ``ehr.mpi.link_management`` (link, unlink,
merge, not-duplicate), ``ehr.mpi.undo``, ``ehr.mpi.review_tasks`` and
``ehr.mpi.review_queue`` (the admins' tasks).
"""
