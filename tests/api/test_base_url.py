"""The FHIR base as the client reached us is Starlette's ``base_url`` and ``/fhir``, whatever
the request's host, port, scheme and root path (it is worked out once per host)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from ehr.api.fhir_routes import base_url


def _scope(scheme: str, host: bytes | None, server: tuple | None, root: str) -> dict:
    headers = [(b"accept", b"*/*")] + ([] if host is None else [(b"host", host)])
    return {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "server": server,
        "root_path": root,
        "path": f"{root}/fhir/Patient/p1",
        "query_string": b"_format=json",
        "headers": headers,
    }


@pytest.mark.parametrize(
    ("scheme", "host", "server", "root", "expected"),
    [
        ("http", b"127.0.0.1:8000", ("127.0.0.1", 8000), "", "http://127.0.0.1:8000/fhir"),
        ("https", b"ehr.moh.gov.vn", ("10.0.0.5", 443), "", "https://ehr.moh.gov.vn/fhir"),
        ("http", None, ("10.0.0.5", 80), "", "http://10.0.0.5/fhir"),
        ("http", None, ("::1", 8000), "", "http://[::1]:8000/fhir"),
        ("https", b"exchange:8443", None, "/api", "https://exchange:8443/api/fhir"),
        ("http", b"bad host:x", ("10.0.0.5", 8080), "", None),
        ("http", b"testserver", ["testserver", 80], "", "http://testserver/fhir"),
    ],
)
def test_the_base_is_starlettes_base_url_and_the_fhir_prefix(scheme, host, server, root, expected):
    services = SimpleNamespace(settings=SimpleNamespace(base_url=None))
    request = Request(_scope(scheme, host, server, root))
    starlette = str(Request(_scope(scheme, host, server, root)).base_url).rstrip("/") + "/fhir"
    assert base_url(request, services) == starlette  # type: ignore[arg-type]
    if expected is not None:
        assert base_url(request, services) == expected  # type: ignore[arg-type]


def test_a_configured_base_wins():
    services = SimpleNamespace(settings=SimpleNamespace(base_url="https://ehr.gov.vn/fhir/"))
    request = Request(_scope("http", b"internal:8000", None, ""))
    assert base_url(request, services) == "https://ehr.gov.vn/fhir"  # type: ignore[arg-type]
