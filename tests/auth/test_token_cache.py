"""A token verified once is remembered while valid: no second signature check, same caller."""

from __future__ import annotations

import time

import pytest
from auth_helpers import own_token, tampered

import ehr.auth.service as service_module
import ehr.auth.tokens as tokens_module
from ehr.auth.service import AuthService
from ehr.auth.token_cache import TokenCache
from ehr.auth.tokens import CLOCK_SKEW_S, InvalidToken


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full signature verification the service makes, by token."""
    checked: list[str] = []
    real = service_module.verify

    def counting(token: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(service_module, "verify", counting)
    return checked


def test_a_token_is_verified_once_and_then_remembered(service: AuthService, signature_checks):
    token = own_token(service)
    first, second = service.verify(token), service.verify(token)
    assert first == second
    assert signature_checks == [token]


def test_a_remembered_token_is_refused_once_it_has_expired(
    service: AuthService, signature_checks, monkeypatch: pytest.MonkeyPatch
):
    token = service.mint(subject="s", role="admin", scopes="system/*.rs", lifetime_s=60)
    service.verify(token)
    later = time.time() + 60 + CLOCK_SKEW_S + 1
    monkeypatch.setattr(tokens_module.time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        service.verify(token)
    with pytest.raises(InvalidToken, match="expired"):
        service.verify(token)
    assert signature_checks == [token, token]  # the expired token was forgotten


def test_a_refused_token_is_never_remembered(service: AuthService, signature_checks):
    bad = tampered(own_token(service), sub="someone-else")
    for _ in range(2):
        with pytest.raises(InvalidToken):
            service.verify(bad)
    assert signature_checks == [bad, bad]


def test_the_memory_is_bounded_and_forgets_the_least_recently_used(service: AuthService):
    cache = TokenCache(capacity=2)
    tokens = [own_token(service, sub=f"client-{n}") for n in range(3)]
    calls: list[str] = []

    def verify(token: str):  # type: ignore[no-untyped-def]
        calls.append(token)
        return service._verify_signed(token)

    for token in [tokens[0], tokens[1], tokens[0], tokens[2], tokens[0], tokens[1]]:
        cache.principal(token, verify)
    assert len(cache) == 2
    assert calls == [tokens[0], tokens[1], tokens[2], tokens[1]]
