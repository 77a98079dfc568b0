"""NamingSystems of the identifiers the exchange reads: who issues them and what they look like.

The systems are the constants of ``ehr.fhir.identifiers`` (the CCCD system is configurable,
PRODUCT.md section 3; the NamingSystem describes the default). Each carries the ``regex``
extension with the format of its values, which is what ``ehr.mpi`` checks on write; the
identifier type is from the HL7 v2-0203 table.
"""

from __future__ import annotations

from typing import Any

from ehr.conformance.common import metadata
from ehr.conformance.profiles import CCCD_PATTERN, FACILITY_CODE_PATTERN
from ehr.fhir.identifiers import (
    BHXH,
    BHYT,
    CCCD,
    CMND,
    FACILITY_CODE,
    FACILITY_RECORD,
    MA_CSKCB,
)
from ehr.registry import PROVINCE_SID

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
BHYT_PATTERN = "^([A-Z]{2}[1-5][0-9]{12}|[0-9]{10})$"
"""Either form: the 15-character card code or the 10-digit social insurance number."""


def _naming_system(
    res_id: str,
    title: str,
    description: str,
    *,
    responsible: str,
    type_code: str,
    type_display: str,
    unique_id: str,
    pattern: str | None,
    unique_type: str = "uri",
    comment: str | None = None,
) -> dict[str, Any]:
    resource = metadata("NamingSystem", res_id, title, description, url=False)
    del resource["experimental"]  # R4 NamingSystem has neither; its name is for people
    resource["name"] = resource.pop("title")
    if pattern is not None:
        resource["extension"] = [{"url": REGEX, "valueString": pattern}]
    unique: dict[str, Any] = {"type": unique_type, "value": unique_id, "preferred": True}
    if comment:
        unique["comment"] = comment
    resource.update(
        {
            "kind": "identifier",
            "date": "2025-07-01",
            "responsible": responsible,
            "type": {"coding": [{"system": V2_0203, "code": type_code, "display": type_display}]},
            "usage": description,
            "uniqueId": [unique],
        }
    )
    return resource


def naming_systems() -> list[dict[str, Any]]:
    return [
        _naming_system(
            "cccd",
            "Personal identification number (CCCD)",
            "The 12-digit personal identification number printed on the citizen identity "
            "card (căn cước công dân). Digits 1-3: the birth-registration province (old "
            "63-province codes); digit 4: century and sex; digits 5-6: birth year; 7-12: "
            "random. No check digit.",
            responsible="Ministry of Public Security (Bộ Công an)",
            type_code="NI",
            type_display="National unique individual identifier",
            unique_id=CCCD,
            pattern=CCCD_PATTERN,
        ),
        _naming_system(
            "bhyt",
            "Health insurance number (BHYT)",
            "A health insurance number in either form: the 15-character card code "
            "(2-letter beneficiary group, benefit level 1-5, 2-digit issuing office, then "
            "the 10-digit social insurance number), or, on cards issued since 1 April "
            "2021, the 10-digit social insurance number alone.",
            responsible="Vietnam Social Security (Bảo hiểm xã hội Việt Nam)",
            type_code="SN",
            type_display="Subscriber Number",
            unique_id=BHYT,
            pattern=BHYT_PATTERN,
        ),
        _naming_system(
            "bhxh",
            "Social insurance number (mã số BHXH)",
            "The 10-digit social insurance number on its own: the part of a BHYT number "
            "that identifies the person.",
            responsible="Vietnam Social Security (Bảo hiểm xã hội Việt Nam)",
            type_code="SN",
            type_display="Subscriber Number",
            unique_id=BHXH,
            pattern="^[0-9]{10}$",
        ),
        _naming_system(
            "cmnd",
            "Identity card number (CMND, retired)",
            "The 9-digit identity card number (chứng minh nhân dân) the CCCD replaced, kept "
            "on old records. A 12-digit CMND is a personal identification number: send it "
            "under the CCCD system.",
            responsible="Ministry of Public Security (Bộ Công an)",
            type_code="NI",
            type_display="National unique individual identifier",
            unique_id=CMND,
            pattern="^[0-9]{9}$",
        ),
        _naming_system(
            "facility-code",
            "Facility code",
            "A health facility's code in the exchange registry, also its SMART client id "
            "and the id of its Organization (fac-<code>). Today equal to its 5-digit "
            "health-insurance facility code.",
            responsible="Ministry of Health (Bộ Y tế)",
            type_code="XX",
            type_display="Organization identifier",
            unique_id=FACILITY_CODE,
            pattern=FACILITY_CODE_PATTERN,
        ),
        _naming_system(
            "ma-cskcb",
            "Health-insurance facility code (mã cơ sở KCB)",
            "The 5-digit code of a facility under contract with the health insurance: the "
            "2-digit old province code of its registration, then a serial.",
            responsible="Vietnam Social Security (Bảo hiểm xã hội Việt Nam)",
            type_code="PRN",
            type_display="Provider number",
            unique_id=MA_CSKCB,
            pattern=FACILITY_CODE_PATTERN,
        ),
        _naming_system(
            "facility-record",
            "Facility record numbers",
            "A facility's own medical record numbers (mã bệnh nhân / số hồ sơ). Each "
            "facility has its own system: this URI, a slash, and its facility code "
            "(http://fhir.hl7.org.vn/core/sid/facility-record/01001). A facility that "
            "already has an OID for its numbers may keep it. Any Patient identifier "
            "whose system is not a national one is read as a facility record number.",
            responsible="The facility that assigns the number",
            type_code="MR",
            type_display="Medical record number",
            unique_id=f"{FACILITY_RECORD}/{{facility-code}}",
            unique_type="other",
            pattern=None,
            comment="A template: {facility-code} stands for the 5-digit facility code.",
        ),
        _naming_system(
            "province",
            "Province code (2025)",
            "The 2-digit code of one of the 34 provinces since 1 July 2025, identifying the "
            "province's jurisdiction Location (prov-<code>).",
            responsible="General Statistics Office (Tổng cục Thống kê)",
            type_code="XX",
            type_display="Organization identifier",
            unique_id=PROVINCE_SID,
            pattern="^[0-9]{2}$",
        ),
    ]
