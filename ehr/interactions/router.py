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
    code_lookup,
    create,
    delete,
    everything,
    history,
    link_history,
    patch,
    patient_match,
    person_links,
    read,
    resource_validate,
    review_decisions,
    search,
    transaction,
    update,
    vread,
)
from ehr.interactions.messages import FhirRequest, FhirResponse

Handler = Callable[..., FhirResponse]
MPI_OPERATIONS = "http://fhir.hl7.org.vn/core/OperationDefinition"
"""The person index's review and link operations (``ehr.interactions.person_links``)."""
VALIDATE = "http://hl7.org/fhir/OperationDefinition/Resource-validate"
LOOKUP = "http://fhir.hl7.org.vn/core/OperationDefinition/CodeSystem-lookup"


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
    affects_state: bool | None = None
    """Whether the route may write more than its audit records (its OperationDefinition's
    ``affectsState``); unset: every method but GET may."""

    @property
    def writes_only_audit(self) -> bool:
        if self.affects_state is not None:
            return not self.affects_state
        return self.method == "GET"


def _person_index(
    method: str, shape: tuple[str, ...], handler: Handler, res_type: str = "Patient"
) -> Route:
    """A review or link operation of the person index (admins only, ``ehr.access.policy``)."""
    name = shape[-1]
    definition = f"{MPI_OPERATIONS}/{name.removeprefix('$')}"
    return Route(method, shape, handler, name, types=(res_type,), definition=definition)


ROUTES: tuple[Route, ...] = (
    Route("GET", ("metadata",), capabilities.capabilities, "capabilities"),
    Route("POST", (), transaction.process_bundle, "transaction"),
    Route("POST", (), transaction.process_bundle, "batch"),
    *(
        Route(
            method,
            ("{type}", "$lookup"),
            code_lookup.lookup_code,
            "$lookup",
            types=("CodeSystem",),
            definition=LOOKUP,
            affects_state=False,
        )
        for method in ("GET", "POST")
    ),
    Route(
        "POST",
        ("{type}", "$match"),
        patient_match.patient_match,
        "$match",
        types=("Patient",),
        definition="http://hl7.org/fhir/OperationDefinition/Patient-match",
        affects_state=False,
    ),
    Route(
        "GET",
        ("{type}", "{id}", "$everything"),
        everything.everything,
        "$everything",
        types=("Patient",),
        definition="http://hl7.org/fhir/OperationDefinition/Patient-everything",
    ),
    _person_index("POST", ("{type}", "{id}", "$link"), person_links.link_patient),
    _person_index("POST", ("{type}", "{id}", "$unlink"), person_links.unlink_patient),
    _person_index("POST", ("{type}", "$merge"), person_links.merge_persons),
    _person_index("POST", ("{type}", "$not-duplicate"), person_links.not_duplicate),
    _person_index("POST", ("{type}", "$undo"), person_links.undo_change),
    _person_index("GET", ("{type}", "{id}", "$link-history"), link_history.link_history),
    _person_index("POST", ("{type}", "{id}", "$confirm"), review_decisions.confirm, "Task"),
    _person_index("POST", ("{type}", "{id}", "$reject"), review_decisions.reject, "Task"),
    Route(
        "POST",
        ("{type}", "$validate"),
        resource_validate.validate_type,
        "$validate",
        definition=VALIDATE,
        affects_state=False,
    ),
    Route(
        "GET",
        ("{type}", "{id}", "$validate"),
        resource_validate.validate_instance,
        "$validate",
        definition=VALIDATE,
    ),
    Route(
        "POST",
        ("{type}", "{id}", "$validate"),
        resource_validate.validate_instance,
        "$validate",
        definition=VALIDATE,
        affects_state=False,
    ),
    Route("GET", ("{type}",), search.search_type, "search-type"),
    Route("POST", ("{type}", "_search"), search.search_type, "search-type", affects_state=False),
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

_ROUTES_BY_LENGTH: dict[int, tuple[Route, ...]] = {
    length: tuple(route for route in ROUTES if len(route.shape) == length)
    for length in {len(route.shape) for route in ROUTES}
}
"""``ROUTES`` by the number of path segments they take, in their order: only those can
match a path (a type search tried all 31, 2.1 us; now the 7 of one segment, 1.1 us)."""


def writes_only_audit(method: str, path: str) -> bool:
    """Whether ``method /path`` writes nothing but its audit records, so that its unit of
    work may share a transaction with others (``ehr.db.group_commit``). A request no route
    takes is answered with an error and writes nothing."""
    if method in _AUDIT_ONLY_METHODS:
        return True
    segments = tuple(s for s in path.strip("/").split("/") if s)
    for route in _ROUTES_BY_LENGTH.get(len(segments), ()):
        args = _match(route.shape, segments)
        if args is None or (route.types and args[:1] and args[0] not in route.types):
            continue
        if route.method == method:
            return route.writes_only_audit
    return True


_AUDIT_ONLY_METHODS = frozenset(
    method
    for method in {route.method for route in ROUTES}
    if all(route.writes_only_audit for route in ROUTES if route.method == method)
)
"""Methods all of whose routes write only audit records (GET): no need to find which."""


def dispatch(ctx: RequestContext, req: FhirRequest) -> FhirResponse:
    """Run the handler for ``req``; raise ``NotFound``/``MethodNotAllowed`` when none fits."""
    segments = tuple(s for s in req.path.strip("/").split("/") if s)
    head = segments[0] if segments else ""
    is_type = head and head not in ("_history", "metadata") and not head.startswith(("$", "_"))
    if is_type and head not in ctx.registry.resource_types():
        raise NotFound(f"unknown resource type {head!r}", code="not-supported")
    allowed: set[str] = set()
    for route in _ROUTES_BY_LENGTH.get(len(segments), ()):
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
