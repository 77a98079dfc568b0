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


def test_a_patient_sent_again_unchanged_leaves_the_golden_record_at_its_version(client, token_for):
    """Facilities re-send Patients with every visit; the person's history should not grow
    with copies. A real change to a source still makes a new golden version."""
    headers = token_for("facility", facility="79001")
    pushed = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    person = _person_of(pushed)
    version = client.get(f"/fhir/Patient/{person}").json()["meta"]["versionId"]
    again = {k: v for k, v in pushed.items() if k != "meta"}
    assert (
        client.put(f"/fhir/Patient/{pushed['id']}", json=again, headers=headers).status_code == 200
    )
    assert client.get(f"/fhir/Patient/{person}").json()["meta"]["versionId"] == version
    changed = {**again, "telecom": [{"system": "phone", "value": "0912 000 111"}]}
    assert (
        client.put(f"/fhir/Patient/{pushed['id']}", json=changed, headers=headers).status_code
        == 200
    )
    golden = client.get(f"/fhir/Patient/{person}").json()
    assert golden["meta"]["versionId"] != version
    assert golden["telecom"] == changed["telecom"]
