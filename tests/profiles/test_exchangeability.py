"""A flagged Encounter counts as not exchangeable, and turns exchangeable when a corrected
version is pushed through the API. On SQLite and PostgreSQL."""

from __future__ import annotations

import time

from profile_examples import valid_encounter, valid_patient
from sqlmodel import Session

from ehr.profiles.exchangeability import ExchangeCounts, encounter_counts, is_exchangeable

FACILITY = "01001"
OTHER = "79002"


def _now() -> int:
    return time.time_ns() // 1000


def test_a_flagged_encounter_is_not_exchangeable_until_corrected(app, client, token_for):
    engine = app.state.services.engine
    headers = token_for("facility", facility=FACILITY)
    start = _now()
    patient = client.post("/fhir/Patient", json=valid_patient(), headers=headers).json()
    invalid = valid_encounter(f"Patient/{patient['id']}")
    del invalid["period"]
    flagged = client.post("/fhir/Encounter", json=invalid, headers=headers).json()
    valid = client.post(
        "/fhir/Encounter", json=valid_encounter(f"Patient/{patient['id']}"), headers=headers
    ).json()
    other = token_for("facility", facility=OTHER)
    client.post("/fhir/Patient", json=valid_patient(), headers=other).raise_for_status()
    end = _now() + 1

    with Session(engine) as session:
        assert encounter_counts(session, FACILITY, start, end) == ExchangeCounts(2, 1)
        assert encounter_counts(session, OTHER, start, end) == ExchangeCounts(0, 0)
        assert encounter_counts(session, FACILITY, end, end + 10**9) == ExchangeCounts(0, 0)
        assert not is_exchangeable(session, "Encounter", flagged["id"])
        assert is_exchangeable(session, "Encounter", valid["id"])
        assert is_exchangeable(session, "Patient", patient["id"])
        assert not is_exchangeable(session, "Encounter", "no-such-id")

    corrected = {**flagged, "period": {"start": "2026-11-20T08:00:00+07:00"}}
    response = client.put(f"/fhir/Encounter/{flagged['id']}", json=corrected, headers=headers)
    assert response.status_code == 200, response.text

    with Session(engine) as session:
        # Counted in the period it was submitted in, now as exchangeable.
        assert encounter_counts(session, FACILITY, start, end) == ExchangeCounts(2, 2)
        assert is_exchangeable(session, "Encounter", flagged["id"])
