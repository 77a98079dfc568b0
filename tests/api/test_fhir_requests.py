"""``/fhir`` requests reach the FHIR router through ``serve_fhir`` (not FastAPI's routing):
every failure is still an OperationOutcome with the right status, and the other paths are
still FastAPI's."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

import ehr.api.fhir_routes as fhir_routes


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path, _sqlite_template):  # type: ignore[no-untyped-def]
    """One database is enough: nothing here depends on it."""
    import shutil

    path = tmp_path / "ehr.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


def _outcome(response) -> dict:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def test_a_bug_in_an_interaction_is_a_500_outcome_that_logs_no_request_data(
    client, monkeypatch, caplog
):
    def broken(ctx, request):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"bug while handling {request.path}")

    monkeypatch.setattr(fhir_routes, "dispatch", broken)
    with caplog.at_level(logging.ERROR, logger="ehr.api"):
        response = client.get("/fhir/Patient", params={"name": "Nguyễn Văn An"})
    assert response.status_code == 500
    assert _outcome(response)["code"] == "exception"
    assert "unhandled RuntimeError" in caplog.text
    assert "Nguy" not in caplog.text


def test_a_database_that_cannot_answer_is_a_503_with_retry_after(client, monkeypatch):
    def busy(ctx, request):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT", None, Exception("database is locked"))

    monkeypatch.setattr(fhir_routes, "dispatch", busy)
    response = client.post("/fhir/Organization", json={"resourceType": "Organization"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert _outcome(response)["code"] == "transient"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/fhir/Patient/x/_history"),
        ("OPTIONS", "/fhir/Patient"),
        ("DELETE", "/fhir/metadata"),
        ("GET", "/fhir/Patient/x/_history/1/extra"),
    ],
)
def test_requests_the_fhir_api_does_not_have_are_client_errors(client, method, path):
    response = client.request(method, path)
    assert 400 <= response.status_code < 500
    assert _outcome(response)["severity"] == "error"


def test_paths_outside_fhir_are_still_served_by_fastapi(client):
    assert client.get("/docs").status_code == 200
    assert client.get("/fhir/.well-known/smart-configuration").json()["token_endpoint"]
    home = client.get("/", follow_redirects=False)
    assert home.status_code in (302, 307) and home.headers["location"] == "/fhir/metadata"
