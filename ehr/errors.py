"""The one error hierarchy of the service, each error carrying its HTTP status.

Every error a client can provoke is a ``FhirError`` and leaves the service as an
``OperationOutcome`` through one exception handler (``ehr.api.errors``)::

    FhirError                      (500 only for our own bugs)
    ├── BadRequest                 400  invalid / structure / not-supported
    │   └── InvalidSearch          400  unknown or malformed search parameter
    ├── Unauthorized               401  security
    ├── Forbidden                  403  forbidden
    ├── NotFound                   404  not-found
    ├── MethodNotAllowed           405  not-supported
    ├── NotAcceptable              406  not-supported (XML asked for)
    ├── Conflict                   409  conflict / duplicate
    ├── Gone                       410  deleted
    ├── PreconditionFailed         412  conflict (stale If-Match, ambiguous condition)
    ├── PayloadTooLarge            413  too-costly
    ├── UnsupportedMediaType       415  not-supported
    ├── Unprocessable              422  processing / invariant / value
    └── TooManyRequests            429  throttled
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One ``OperationOutcome.issue``: what went wrong and, if known, where."""

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()

    def to_fhir(self) -> dict:
        issue: dict = {"severity": self.severity, "code": self.code}
        if self.diagnostics:
            issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue]) -> dict:
    """An ``OperationOutcome`` resource holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


@dataclass
class FhirError(Exception):
    """Base of every client-visible error; ``issues`` become the OperationOutcome."""

    diagnostics: str = ""
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 500
    code: str = "exception"

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)
        if not self.issues:
            self.issues = [Issue("error", self.code, self.diagnostics, tuple(self.expression))]

    def outcome(self) -> dict:
        return operation_outcome(self.issues)


@dataclass
class BadRequest(FhirError):
    """The request is malformed (400)."""

    status: int = 400
    code: str = "invalid"


@dataclass
class InvalidSearch(BadRequest):
    """A search parameter is unknown (under strict handling) or its value is malformed."""

    code: str = "invalid"


@dataclass
class Unauthorized(FhirError):
    """No or an invalid access token (401)."""

    status: int = 401
    code: str = "security"


@dataclass
class Forbidden(FhirError):
    """Authenticated, but not allowed (403)."""

    status: int = 403
    code: str = "forbidden"


@dataclass
class NotFound(FhirError):
    """No such resource, type or route (404)."""

    status: int = 404
    code: str = "not-found"


@dataclass
class MethodNotAllowed(FhirError):
    """The interaction is not supported on this path (405)."""

    status: int = 405
    code: str = "not-supported"


@dataclass
class Conflict(FhirError):
    """The request conflicts with the current state (409)."""

    status: int = 409
    code: str = "conflict"


@dataclass
class Gone(FhirError):
    """The resource existed but is deleted (410)."""

    status: int = 410
    code: str = "deleted"


@dataclass
class PreconditionFailed(FhirError):
    """``If-Match`` is stale or a conditional request matched more than one resource (412)."""

    status: int = 412
    code: str = "conflict"


@dataclass
class NotAcceptable(FhirError):
    """The client asked for a format other than FHIR JSON (406)."""

    status: int = 406
    code: str = "not-supported"


@dataclass
class PayloadTooLarge(FhirError):
    """The body exceeds the configured limit (413)."""

    status: int = 413
    code: str = "too-costly"


@dataclass
class UnsupportedMediaType(FhirError):
    """The body is not FHIR JSON (415)."""

    status: int = 415
    code: str = "not-supported"


@dataclass
class Unprocessable(FhirError):
    """The resource is well-formed JSON but not a valid FHIR resource (422)."""

    status: int = 422
    code: str = "processing"


@dataclass
class TooManyRequests(FhirError):
    """The client exceeded its rate limit (429)."""

    status: int = 429
    code: str = "throttled"
