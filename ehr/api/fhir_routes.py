"""The FHIR REST endpoints under ``/fhir``: every path hands over to ``ehr.interactions.router``.

The FastAPI routes exist for the OpenAPI documentation (``/docs``) and for reading the
body within limits; which interaction runs is decided by the router alone, so HTTP and
bundle entries cannot drift apart. Each request runs in one unit of work, committed
before the response is sent: what a client is told was stored, was stored.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from ehr.api.wire import check_acceptable, read_body, render
from ehr.context import RequestContext, Services
from ehr.db.unit_of_work import run_in_unit_of_work
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.router import dispatch

FHIR_PREFIX = "/fhir"
_READ_METHODS = {"GET", "HEAD"}


def base_url(request: Request, services: Services) -> str:
    """The public FHIR base: configured, or as the client reached us."""
    configured = services.settings.base_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/") + FHIR_PREFIX


async def handle(request: Request) -> Response:
    """Turn an HTTP request into a ``FhirRequest``, run it in a unit of work, render the result."""
    services: Services = request.app.state.services
    settings = services.settings
    check_acceptable(request)
    body, form = await read_body(request, settings.max_body_bytes, settings.max_json_depth)
    path = request.url.path[len(FHIR_PREFIX) :].strip("/")
    req = FhirRequest(
        method=request.method,
        path=path,
        params=list(request.query_params.multi_items()) + form,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    base = base_url(request, services)

    def work(session: Session) -> FhirResponse:
        ctx = RequestContext(services, session, base)
        response = dispatch(ctx, req)
        ctx.finish()
        return response

    response = await run_in_threadpool(
        run_in_unit_of_work, services.engine, work, write=request.method not in _READ_METHODS
    )
    return render(response, pretty=request.query_params.get("_pretty") == "true")


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
