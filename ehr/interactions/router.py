"""The router: one table from (method, path shape) to handler, shared by HTTP and bundles.

Path shapes are matched segment by segment; ``{type}`` must be a supported resource type
(else 404), ``$name`` segments select registered operations. Keeping routing in one table
means a bundle entry ``GET Patient?name=x`` runs exactly the code ``GET /fhir/Patient?name=x``
runs, and the CapabilityStatement can be generated from what is routed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ehr.audit.trail import Access
from ehr.context import RequestContext
from ehr.errors import Forbidden, MethodNotAllowed, NotFound
from ehr.interactions import (
    capabilities,
    create,
    delete,
    history,
    patch,
    patient_match,
    read,
    search,
    transaction,
    update,
    vread,
)
from ehr.interactions.messages import FhirRequest, FhirResponse

Handler = Callable[..., FhirResponse]


@dataclass(frozen=True)
class Route:
    method: str
    shape: tuple[str, ...]
    """Segments: literals, ``{type}``, ``{id}``, ``{vid}``."""
    handler: Handler
    interaction: str
    """The CapabilityStatement interaction code this route implements (``$name``: operation)."""
    types: tuple[str, ...] = ()
    """The resource types the route serves (empty: every type)."""
    definition: str = ""
    """For an operation: the canonical URL of its OperationDefinition."""


ROUTES: tuple[Route, ...] = (
    Route("GET", ("metadata",), capabilities.capabilities, "capabilities"),
    Route("POST", (), transaction.process_bundle, "transaction"),
    Route("POST", (), transaction.process_bundle, "batch"),
    Route(
        "POST",
        ("{type}", "$match"),
        patient_match.patient_match,
        "$match",
        types=("Patient",),
        definition="http://hl7.org/fhir/OperationDefinition/Patient-match",
    ),
    Route("GET", ("{type}",), search.search_type, "search-type"),
    Route("POST", ("{type}", "_search"), search.search_type, "search-type"),
    Route("POST", ("{type}",), create.create, "create"),
    Route("PUT", ("{type}",), update.conditional_update, "update"),
    Route("PATCH", ("{type}",), patch.conditional_patch, "patch"),
    Route("DELETE", ("{type}",), delete.conditional_delete, "delete"),
    Route("GET", ("{type}", "_history"), history.history, "history-type"),
    Route("GET", ("{type}", "{id}"), read.read, "read"),
    Route("PUT", ("{type}", "{id}"), update.update, "update"),
    Route("PATCH", ("{type}", "{id}"), patch.patch, "patch"),
    Route("DELETE", ("{type}", "{id}"), delete.delete, "delete"),
    Route("GET", ("{type}", "{id}", "_history"), history.history, "history-instance"),
    Route("GET", ("{type}", "{id}", "_history", "{vid}"), vread.vread, "vread"),
    Route("GET", ("_history",), history.history, "history-system"),
)


def dispatch(ctx: RequestContext, req: FhirRequest) -> FhirResponse:
    """Run the handler for ``req``; raise ``NotFound``/``MethodNotAllowed`` when none fits."""
    segments = tuple(s for s in req.path.strip("/").split("/") if s)
    head = segments[0] if segments else ""
    is_type = head and head not in ("_history", "metadata") and not head.startswith(("$", "_"))
    if is_type and head not in ctx.registry.resource_types():
        raise NotFound(f"unknown resource type {head!r}", code="not-supported")
    allowed: set[str] = set()
    for route in ROUTES:
        args = _match(route.shape, segments)
        if args is None or (route.types and args[:1] and args[0] not in route.types):
            continue
        if route.method != req.method:
            allowed.add(route.method)
            continue
        res_type = args[0] if route.shape[:1] == ("{type}",) else None
        try:
            ctx.policy.check(route.interaction, res_type)
        except Forbidden as denied:
            denied.access = Access(route.interaction, res_type)  # type: ignore[attr-defined]
            raise
        if "{id}" in route.shape:
            # No resource can have another id: 400 before any lookup (NUL, 65+ chars...).
            update.check_id(args[1])
        return route.handler(ctx, req, *args)
    if allowed:
        raise MethodNotAllowed(
            f"{req.method} is not allowed on /{req.path}",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    raise NotFound(f"no FHIR interaction at /{req.path}")


def _match(shape: tuple[str, ...], segments: tuple[str, ...]) -> list[str] | None:
    if len(shape) != len(segments):
        return None
    args: list[str] = []
    for pattern, segment in zip(shape, segments, strict=True):
        if pattern.startswith("{"):
            if segment.startswith(("_", "$")):
                return None
            args.append(segment)
        elif pattern != segment:
            return None
    return args
