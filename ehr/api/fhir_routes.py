"""The FHIR REST endpoints under ``/fhir``: every path hands over to ``ehr.interactions.router``.

The FastAPI routes exist for the OpenAPI documentation (``/docs``); requests reach
``handle`` through ``serve_fhir``, which the application calls before FastAPI's middleware
and routing (``ehr.api.app.ExchangeApp``), because which interaction runs is decided by the
router alone (so HTTP and bundle entries cannot drift apart) and matching a request against
FastAPI's routes first cost a tenth of a read's CPU. Each request runs in one unit of work,
committed before the response is sent: what a client is told was stored, was stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import lru_cache, partial
from weakref import WeakKeyDictionary

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import Receive, Scope, Send

from ehr.access.policy import ANONYMOUS, AccessPolicy
from ehr.api.errors import response_for
from ehr.api.wire import check_acceptable, read_body, render
from ehr.audit.trail import record_denial
from ehr.context import RequestContext, Services
from ehr.db.group_commit import GroupCommit
from ehr.db.unit_of_work import run_in_unit_of_work
from ehr.errors import Forbidden
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.router import dispatch, writes_only_audit

FHIR_PREFIX = "/fhir"
BREAK_GLASS_HEADER = "x-break-glass-reason"
"""Emergency access: a facility states why it must read a person it has not treated."""


def base_url(request: Request, services: Services) -> str:
    """The public FHIR base: configured, or as the client reached us."""
    configured = services.settings.base_url
    if configured:
        return configured.rstrip("/")
    scope = request.scope
    root = scope.get("app_root_path", scope.get("root_path", ""))
    host = next((value for key, value in scope["headers"] if key == b"host"), None)
    server = scope.get("server")
    server = tuple(server) if server is not None else None  # a list from some servers
    return _base_as_reached(scope.get("scheme", "http"), host, server, root)


@lru_cache(maxsize=64)
def _base_as_reached(
    scheme: str, host: bytes | None, server: tuple[str, int] | None, root: str
) -> str:
    """Starlette's ``request.base_url`` for these parts, and the FHIR prefix: worked out
    once per host a client names, not per request (it took a twentieth of a read's CPU)."""
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "root_path": root,
        "path": root if root.endswith("/") else f"{root}/",
        "query_string": b"",
        "headers": [] if host is None else [(b"host", host)],
    }
    return str(Request(scope).base_url).rstrip("/") + FHIR_PREFIX


async def handle(request: Request) -> Response:
    """Turn an HTTP request into a ``FhirRequest``, run it in a unit of work, render the result."""
    services: Services = request.app.state.services
    settings = services.settings
    path = request.scope["path"][len(FHIR_PREFIX) :].strip("/")  # as ``is_fhir_request``
    # Who is calling is settled before the body is read: strangers get no parsing work.
    policy = access_policy(request, services, public=path == "metadata")
    check_acceptable(request)
    body, form = await read_body(request, settings.max_body_bytes, settings.max_json_depth)
    req = FhirRequest(
        method=request.method,
        path=path,
        params=list(request.query_params.multi_items()) + form,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    base = base_url(request, services)

    def work(session: Session) -> FhirResponse:
        ctx = RequestContext(services, session, base, policy)
        response = dispatch(ctx, req)
        ctx.finish()
        return response

    try:
        if path == "metadata":
            response = await to_thread.run_sync(
                partial(run_in_unit_of_work, services.engine, work, write=False),
                limiter=_database_threads(),
            )
        elif writes_only_audit(request.method, path):
            # Reads write only their AuditEvent: they share transactions and COMMITs, and
            # on PostgreSQL a batch's SELECTs go together (ehr.db.interleaved).
            response = await _group_commit(services).run(work)
        else:
            response = await to_thread.run_sync(
                partial(run_in_unit_of_work, services.engine, work),
                limiter=_database_threads(),
            )
    except Forbidden as denied:
        await to_thread.run_sync(
            partial(_audit_denial, services, base, policy, denied),
            limiter=_database_threads(),
        )
        raise
    return render(response, pretty=request.query_params.get("_pretty") == "true")


DATABASE_THREADS = 4
"""Units of work one worker process runs at once; more requests wait for a thread.

AnyIO's default pool has 40 threads. Under load they all hold a database connection and
take turns on the GIL with the event loop (and on SQLite all but one wait for the write
lock anyway), which costs CPU in hand-offs and stretches the latency tail; a few threads
keep the database busy, and the rest wait cheaply in the event loop."""


@dataclass
class _LoopState:
    """What one event loop (a worker process serves one) keeps for its requests."""

    threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(DATABASE_THREADS))
    groups: dict[Engine, GroupCommit] = field(default_factory=dict)


_LOOPS: WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = WeakKeyDictionary()
"""Each event loop's state, found by the loop itself, as AnyIO's ``RunVar`` finds it, but
without asking which async library runs it on every request (a twentieth of the event
loop's CPU on a search)."""


def _loop_state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _LOOPS.get(loop)
    if state is None:
        state = _LOOPS[loop] = _LoopState()
    return state


def _group_commit(services: Services) -> GroupCommit:
    """The group commit of this event loop for the service's database."""
    state = _loop_state()
    group = state.groups.get(services.engine)
    if group is None:
        group = state.groups[services.engine] = GroupCommit(services.engine, state.threads)
    return group


def _database_threads() -> CapacityLimiter:
    """The limiter of this event loop's database threads (``DATABASE_THREADS``)."""
    return _loop_state().threads


def access_policy(request: Request, services: Services, *, public: bool) -> AccessPolicy:
    """The caller's policy: authenticated (401 otherwise), rate-limited (429), break-glass noted."""
    person_types = services.compartment.person_types
    cccd_system = services.settings.cccd_system
    if public:
        return AccessPolicy(ANONYMOUS, person_types, cccd_system)
    assert services.auth is not None, "the auth service is built with the app"
    principal = services.auth.authenticate(request.headers.get("authorization"))
    services.limiter.check(principal.subject)
    reason = (request.headers.get(BREAK_GLASS_HEADER) or principal.break_glass or "").strip()
    break_glass = reason if reason and principal.role == "facility" else None
    return AccessPolicy(principal, person_types, cccd_system, break_glass=break_glass)


def _audit_denial(services: Services, base: str, policy: AccessPolicy, denied: Forbidden) -> None:
    """A refused access rolled its unit of work back: audit it in a unit of its own."""
    access = getattr(denied, "access", None)
    if access is None or policy.principal is None or policy.principal is ANONYMOUS:
        return

    def work(session: Session) -> None:
        record_denial(RequestContext(services, session, base, policy), access, denied.diagnostics)

    run_in_unit_of_work(services.engine, work)


WELL_KNOWN = f"{FHIR_PREFIX}/.well-known/"
"""Served by the auth routes (SMART configuration), not by the FHIR router."""


def is_fhir_request(scope: Scope) -> bool:
    """Whether ``scope`` is an HTTP request for the FHIR router (``serve_fhir``)."""
    if scope["type"] != "http":
        return False
    path = scope["path"]
    fhir = path == FHIR_PREFIX or path.startswith(f"{FHIR_PREFIX}/")
    return fhir and not path.startswith(WELL_KNOWN)


async def serve_fhir(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one FHIR request; errors with the same ``response_for`` as FastAPI's
    exception handlers."""
    request = Request(scope, receive)
    try:
        response = await handle(request)
    except Exception as exc:
        response = response_for(exc)
    await response(scope, receive, send)


def fhir_router() -> APIRouter:
    """The ``/fhir`` routes, documented per interaction for ``/docs``."""
    router = APIRouter(prefix=FHIR_PREFIX, tags=["FHIR R4"])
    routes = [
        ("/metadata", ["GET"], "capabilities: the CapabilityStatement"),
        ("", ["POST"], "batch or transaction bundle"),
        ("/_history", ["GET"], "history of the whole server"),
        ("/{resource_type}", ["GET"], "search"),
        ("/{resource_type}", ["POST"], "create (If-None-Exist for conditional create)"),
        ("/{resource_type}", ["PUT", "PATCH", "DELETE"], "conditional update, patch or delete"),
        ("/{resource_type}/_search", ["POST"], "search with form-encoded parameters"),
        ("/{resource_type}/_history", ["GET"], "history of a type"),
        ("/{resource_type}/{resource_id}", ["GET"], "read (or a type-level $operation)"),
        ("/{resource_type}/{resource_id}", ["POST"], "type-level $operation"),
        ("/{resource_type}/{resource_id}", ["PUT"], "update (If-Match for version-aware)"),
        ("/{resource_type}/{resource_id}", ["PATCH"], "JSON Patch"),
        ("/{resource_type}/{resource_id}", ["DELETE"], "delete"),
        ("/{resource_type}/{resource_id}/_history", ["GET"], "history of a resource"),
        ("/{resource_type}/{resource_id}/_history/{version_id}", ["GET"], "vread"),
        ("/{resource_type}/{resource_id}/{operation}", ["GET", "POST"], "instance $operation"),
    ]
    for path, methods, summary in routes:
        router.add_api_route(
            path,
            handle,
            methods=methods,
            summary=summary,
            name=f"{'-'.join(methods).lower()} {path or '/'}",
            response_class=Response,
        )
    return router
