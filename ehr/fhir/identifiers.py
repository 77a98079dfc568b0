"""Identifier systems of the Vietnamese national profiles (``http://fhir.hl7.org.vn/core``).

The CCCD system is configurable (PRODUCT.md section 3); code reads it from ``Settings``
(``cccd_system``), whose default is ``CCCD``.
"""

CORE = "http://fhir.hl7.org.vn/core"
CCCD = f"{CORE}/sid/cccd"
"""The 12-digit personal identification number on the citizen identity card."""
FACILITY_CODE = f"{CORE}/sid/facility-code"
"""A facility's code in the exchange registry; also its SMART client id."""
MA_CSKCB = f"{CORE}/sid/ma-cskcb"
"""The 5-digit health insurance (BHYT) facility code."""
BHYT = f"{CORE}/sid/bhyt"
"""A health insurance (BHYT) number: the 15-character legacy card code or the 10-digit
social insurance number printed on cards since 2021 (``ehr.mpi.secondary_ids``)."""
BHXH = f"{CORE}/sid/bhxh"
"""The 10-digit social insurance number (mã số BHXH) on its own."""
CMND = f"{CORE}/sid/cmnd"
"""The retired 9-digit identity card number (chứng minh nhân dân), kept for old records."""
FACILITY_RECORD = f"{CORE}/sid/facility-record"
"""Base of the facilities' own record-number systems: ``facility_record_system(code)``."""


def facility_record_system(facility_code: str) -> str:
    """The identifier system of one facility's medical record numbers."""
    return f"{FACILITY_RECORD}/{facility_code}"
