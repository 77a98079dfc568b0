"""The master patient index: one golden person behind the Patients many facilities push.

PRODUCT.md section 3. This package starts with the identifier layer, pure code with no
database, so every rule about national and secondary IDs can be tested on its own:

- ``ehr.mpi.cccd``: the 12-digit national ID (CCCD), parsed and checked against the
  birth-province prefixes of the old 63-province scheme.
- ``ehr.mpi.secondary_ids``: the health insurance (BHYT / BHXH) numbers and the retired CMND.
- ``ehr.mpi.national_id_hash``: the keyed hash the ID is stored under, and masking for any
  human-facing text, because a national ID must never reach a log.
- ``ehr.mpi.patient_identity``: what a pushed Patient says about who it is, with the
  identifier errors that reject it and the conflicts that only flag it for review.
"""
