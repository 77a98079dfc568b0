"""POST /fhir/Patient/$match: candidates with score and grade, nothing written."""

from __future__ import annotations

from fhir_helpers import outcome_issue, patient
from sqlalchemy import delete, select
from test_linking import HANOI_MAN_1990, _person_like, _person_of, _push, _with_cccd

from ehr.db.schema import MatchFeatures
from ehr.fhir.identifiers import CCCD
from ehr.mpi.cccd import make_cccd


def _match(client, resource: dict | None, headers=None, **extra):  # type: ignore[no-untyped-def]
    parameters: list[dict] = (
        [] if resource is None else [{"name": "resource", "resource": resource}]
    )
    parameters += [{"name": k, **v} for k, v in extra.items()]
    body = {"resourceType": "Parameters", "parameter": parameters}
    return client.post("/fhir/Patient/$match", json=body, headers=headers or {})


def test_match_by_national_id_is_certain(client, token_for):
    pushed = _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    result = _match(client, _with_cccd(HANOI_MAN_1990)).json()
    assert result["type"] == "searchset" and result["total"] == 1
    entry = result["entry"][0]
    assert entry["resource"]["id"] == _person_of(pushed)
    assert entry["search"]["score"] == 1.0
    assert entry["search"]["extension"][0]["valueCode"] == "certain"


def test_match_without_national_id_scores_candidates_and_writes_nothing(
    client, token_for, store_counts
):
    pushed = _push(client, token_for, "79001", _person_like())
    before = store_counts()
    result = _match(client, _person_like(telecom=[], address=[])).json()
    assert [e["resource"]["id"] for e in result["entry"]] == [_person_of(pushed)]
    assert 0 < result["entry"][0]["search"]["score"] <= 1
    assert result["entry"][0]["search"]["extension"][0]["valueCode"] in ("certain", "probable")
    after = store_counts()
    assert after.resources - before.resources == 1  # only the AuditEvent of the access
    certain_only = _match(
        client,
        _person_like(birthDate="1987-11-21", telecom=[], address=[]),
        onlyCertainMatches={"valueBoolean": True},
    ).json()
    assert certain_only["total"] == 0


def test_match_shows_only_persons_the_caller_may_see(client, token_for):
    _push(client, token_for, "79001", _with_cccd(HANOI_MAN_1990))
    stranger = token_for("facility", facility="48003")
    result = _match(client, _with_cccd(HANOI_MAN_1990), headers=stranger).json()
    assert result["total"] == 0
    ministry = token_for("ministry")
    assert _match(client, _with_cccd(HANOI_MAN_1990), headers=ministry).status_code == 403


def test_match_without_a_patient_is_a_clear_400(client, store_counts):
    before = store_counts()
    for response in (
        _match(client, None),
        client.post("/fhir/Patient/$match", json=patient()),
        _match(client, {"resourceType": "Observation"}),
        _match(client, patient(), count={"valueInteger": 0}),
        _match(client, patient(), onlyCertainMatches={"valueBoolean": "yes"}),
        _match(client, patient(), colour={"valueString": "red"}),  # unknown: refused
    ):
        assert response.status_code == 400, response.text
        outcome_issue(response)
    assert store_counts() == before
    assert _match(client, _with_cccd("12345")).status_code == 422
    assert client.post("/fhir/Observation/$match", json={}).status_code == 404


def test_a_block_too_large_to_read_is_narrowed_to_the_same_birth_date(
    client, token_for, monkeypatch
):
    """Eleven Phạm women born in 1987 fill the ``by`` block past the cap (2 here), so the
    lookup reads the narrower ``bf`` block (same birth date) instead: only the one born on
    the probe's date is scored, where a capped read of ``by`` would add an arbitrary two."""
    import ehr.mpi.candidates

    monkeypatch.setattr(ehr.mpi.candidates, "MAX_PER_KEY", 2)
    for day in range(10, 20):
        others = [{"family": "Phạm", "given": ["Thị", "Lan", f"Hoa{day}"]}]
        _push(
            client,
            token_for,
            "79001",
            _person_like(birthDate=f"1987-03-{day}", name=others, telecom=[]),
        )
    target = _push(client, token_for, "79001", _person_like(telecom=[]))
    scored: list[str] = []
    real_score = ehr.mpi.candidates.score

    def counting_score(record, candidate, rules):  # type: ignore[no-untyped-def]
        scored.append(candidate.birth)
        return real_score(record, candidate, rules)

    monkeypatch.setattr(ehr.mpi.candidates, "score", counting_score)
    typo = [{"family": "Phạm", "given": ["Thị", "Ngọc", "Anhh"]}]  # in the called name
    result = _match(client, _person_like(name=typo, telecom=[])).json()
    assert [e["resource"]["id"] for e in result["entry"]] == [_person_of(target)]
    assert len(scored) == 1
    monkeypatch.setattr(ehr.mpi.candidates, "MAX_PER_KEY", 200)  # the block fits: read whole
    scored.clear()
    _match(client, _person_like(name=typo, telecom=[]))
    assert len(scored) == 11


def test_candidates_are_scored_from_stored_features_or_from_the_patient_without_them(
    client, app, token_for
):
    """Each facility Patient's features are kept (national ID only as its keyed hash) and
    the matcher scores from them; a Patient stored before the features table is scored
    from its own JSON, with the same result."""
    pushed = _push(client, token_for, "79001", _person_like(identifier=[_cccd_of_like()]))
    with app.state.services.engine.connect() as connection:
        stored = connection.execute(
            select(MatchFeatures.features).where(MatchFeatures.patient_id == pushed["id"])
        ).scalar_one()
    assert _cccd_of_like()["value"].encode() not in stored
    probe = _person_like(telecom=[], address=[])
    with_features = _match(client, probe).json()["entry"]
    with app.state.services.engine.begin() as connection:
        connection.execute(delete(MatchFeatures))
    without = _match(client, probe).json()["entry"]
    assert [e["resource"]["id"] for e in with_features] == [_person_of(pushed)]
    assert [(e["resource"]["id"], e["search"]) for e in without] == [
        (e["resource"]["id"], e["search"]) for e in with_features
    ]


def _cccd_of_like() -> dict:
    return {"system": CCCD, "value": make_cccd("079", "female", 1987, 424242)}
