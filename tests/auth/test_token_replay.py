"""Replay protection of client assertions: a ``jti`` buys one token, even under concurrency.

Runs on SQLite and PostgreSQL: the ``used_assertion`` primary key is what refuses the
second use, so both databases must prove it.
"""

from __future__ import annotations

import threading
import time

from auth_helpers import Facility, assert_error, auth_of, good_assertion, post, token_form
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from ehr.auth.assertions import OAuthError, purge_used
from ehr.auth.token_endpoint import grant_client_credentials
from ehr.db.schema import UsedAssertion
from ehr.db.unit_of_work import run_in_unit_of_work

USED = UsedAssertion.__table__  # type: ignore[attr-defined]


def test_a_replayed_assertion_is_invalid_client(
    token_client: TestClient, facility: Facility
) -> None:
    form = token_form(good_assertion(facility))
    assert post(token_client, form).status_code == 200
    body = assert_error(post(token_client, form), "invalid_client")
    assert "already used" in body["error_description"]


def test_a_refused_request_does_not_use_up_the_jti(
    token_client: TestClient, facility: Facility
) -> None:
    assertion = good_assertion(facility)
    assert_error(post(token_client, token_form(assertion, "system/*.cruds")), "invalid_scope")
    assert post(token_client, token_form(assertion, "system/*.rs")).status_code == 200


def test_concurrent_uses_of_one_assertion_issue_one_token(app: FastAPI, facility: Facility) -> None:
    services = app.state.services
    form = list(token_form(good_assertion(facility)).items())
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        try:
            run_in_unit_of_work(
                services.engine,
                lambda session: grant_client_credentials(
                    session,
                    services.registry,
                    auth_of(app),
                    form,
                    ("http://testserver/auth/token",),
                ),
            )
            outcomes.append("token")
        except OAuthError as error:
            outcomes.append(error.error)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["invalid_client"] * 3 + ["token"]


def test_expired_jtis_are_purged_and_live_ones_kept(app: FastAPI) -> None:
    engine = app.state.services.engine
    now = time.time()
    rows = [
        {"jti_hash": "old", "client_id": "c", "expires_at": int((now - 10) * 1e6)},
        {"jti_hash": "live", "client_id": "c", "expires_at": int((now + 100) * 1e6)},
    ]
    run_in_unit_of_work(engine, lambda session: session.execute(insert(USED), rows))
    assert run_in_unit_of_work(engine, lambda session: purge_used(session, now=now)) == 1
    left = run_in_unit_of_work(
        engine, lambda session: session.execute(select(USED.c.jti_hash)).scalars().all()
    )
    assert left == ["live"]
    count = run_in_unit_of_work(
        engine, lambda s: s.execute(select(func.count()).select_from(USED)).scalar_one()
    )
    assert count == 1
