"""HTTP routes of authorization: the token endpoint, the JWKS, SMART discovery.

- ``POST /auth/token``: SMART Backend Services (client credentials with a signed client
  assertion); responses are RFC 6749 JSON, never cached.
- ``GET /auth/jwks``: the public keys that verify this service's tokens.
- ``GET /fhir/.well-known/smart-configuration``: SMART App Launch 2.x discovery, JSON
  whatever the ``Accept`` header says, with absolute URLs.

This router must be included *before* the FHIR router: ``/fhir/{type}/{id}`` would
otherwise take ``/fhir/.well-known/smart-configuration`` for a read.

The public URL of the token endpoint comes from ``Settings.base_url`` when it is set (its
``/fhir`` suffix replaced by ``/auth/token``), otherwise from the request. With a
configured base URL, assertions must name exactly that URL as ``aud``: a ``Host`` header
chosen by the caller must not make an assertion meant for another server acceptable here.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from ehr.auth.assertions import OAuthError
from ehr.auth.keys import ALGORITHMS
from ehr.auth.service import AuthService
from ehr.auth.token_endpoint import TokenGrant, grant_client_credentials
from ehr.config import Settings
from ehr.db.unit_of_work import run_in_unit_of_work
from ehr.errors import TooManyRequests

TOKEN_PATH = "/auth/token"
JWKS_PATH = "/auth/jwks"
SMART_CONFIGURATION_PATH = "/fhir/.well-known/smart-configuration"
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 32
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
SCOPES_SUPPORTED = (
    "system/*.cruds",
    "system/*.rs",
    "system/*.cud",
    "system/*.read",
    "system/*.write",
)
CAPABILITIES = ("client-confidential-asymmetric", "permission-v2", "permission-v1")


def auth_router() -> APIRouter:
    """The authorization routes (include before the FHIR router)."""
    router = APIRouter(tags=["Authorization"])
    router.add_api_route(
        TOKEN_PATH,
        token,
        methods=["POST"],
        summary="SMART Backend Services token (client_credentials + private_key_jwt)",
        response_class=JSONResponse,
    )
    router.add_api_route(
        JWKS_PATH, jwks, methods=["GET"], summary="public keys of the service's tokens"
    )
    router.add_api_route(
        SMART_CONFIGURATION_PATH,
        smart_configuration,
        methods=["GET"],
        summary="SMART configuration (discovery)",
    )
    return router


def auth_service(request: Request) -> AuthService:
    """The app's ``AuthService`` (``Services.auth``)."""
    service = request.app.state.services.auth
    if not isinstance(service, AuthService):
        raise RuntimeError("no AuthService configured for the app")
    return service


def public_root(request: Request, settings: Settings) -> str:
    """The public URL the service is served from, without a trailing slash."""
    if settings.base_url:
        return settings.base_url.rstrip("/").removesuffix("/fhir")
    return str(request.base_url).rstrip("/")


async def token(request: Request) -> Response:
    services = request.app.state.services
    auth = auth_service(request)
    audiences = (public_root(request, services.settings) + TOKEN_PATH,)
    lifetime = services.settings.access_token_lifetime_s
    caller = request.client.host if request.client else "unknown"
    try:
        services.limiter.check(f"token-endpoint:{caller}")
    except TooManyRequests as limited:
        body = {"error": "invalid_request", "error_description": limited.diagnostics}
        return JSONResponse(body, status_code=429, headers={**NO_STORE, **limited.headers})
    try:
        form = await _read_form(request)

        def work(session: Session) -> TokenGrant:
            return grant_client_credentials(
                session, services.registry, auth, form, audiences, lifetime_s=lifetime
            )

        grant = await run_in_threadpool(run_in_unit_of_work, services.engine, work, write=True)
    except OAuthError as error:
        return JSONResponse(error.body(), status_code=error.status, headers=NO_STORE)
    return JSONResponse(grant.body(), headers=NO_STORE)


async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(auth_service(request).jwks(), headers={"Cache-Control": "max-age=300"})


async def smart_configuration(request: Request) -> JSONResponse:
    root = public_root(request, request.app.state.services.settings)
    issuer = request.app.state.services.settings.token_issuer
    document: dict[str, object] = {
        "jwks_uri": root + JWKS_PATH,
        "token_endpoint": root + TOKEN_PATH,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "capabilities": list(CAPABILITIES),
    }
    if issuer.startswith(("https://", "http://")):
        document = {"issuer": issuer, **document}
    return JSONResponse(document)


async def _read_form(request: Request) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` body, within limits."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise OAuthError("invalid_request", "the request body is too large")
    try:
        return parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError included
        raise OAuthError("invalid_request", "the request body is not a valid form") from exc
