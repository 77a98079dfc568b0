"""Golden records are stored without a second model validation (``built_by_exchange``):
what ``ehr.mpi.golden`` assembles must therefore be a valid R4 Patient by construction."""

from __future__ import annotations

from test_linking import HANOI_MAN_1990, _person_of, _push, _with_cccd

from ehr.fhir.identifiers import BHYT
from ehr.fhir.validate import validate_structure


def test_a_golden_record_built_from_rich_sources_is_a_valid_patient(client, token_for):
    first = _with_cccd(
        HANOI_MAN_1990,
        telecom=[{"system": "phone", "value": "0912 345 678", "use": "mobile"}],
        address=[{"use": "home", "line": ["12 Lê Lợi"], "city": "Phường Bến Nghé"}],
    )
    second = _with_cccd(HANOI_MAN_1990, maritalStatus={"text": "Đã kết hôn"})
    second["identifier"].append({"system": BHYT, "value": "DN4797915051307"})
    person = _person_of(_push(client, token_for, "79001", first))
    assert _person_of(_push(client, token_for, "01001", second)) == person
    golden = client.get(f"/fhir/Patient/{person}").json()
    assert len(golden["link"]) == 2
    validate_structure(golden)  # raises Unprocessable if the assembled record is invalid
