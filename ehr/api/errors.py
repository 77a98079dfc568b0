"""Every error leaves as a FHIR ``OperationOutcome``: the one mapping from exceptions to HTTP.

``FhirError`` carries its own status. Framework errors (unknown route, bad path
parameters) and database errors a client can provoke (a lost race on a unique key, a
locked SQLite file) are translated here too. Anything else is our bug: 500, logged with
the exception type only (never the request body, which may hold personal data).
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException

from ehr.errors import Conflict, FhirError, Issue, operation_outcome

FHIR_JSON = "application/fhir+json; charset=utf-8"
log = logging.getLogger("ehr.api")


def outcome_response(
    status: int, issues: list[Issue], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=orjson.dumps(operation_outcome(issues)),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def error_response(error: FhirError) -> Response:
    return outcome_response(error.status, error.issues, error.headers)


def response_for(exc: Exception) -> Response:
    """The OperationOutcome response for an exception a request raised (module docstring)."""
    if isinstance(exc, FhirError):
        return error_response(exc)
    if isinstance(exc, HTTPException):
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        return outcome_response(exc.status_code, [Issue("error", code, str(exc.detail))])
    if isinstance(exc, RequestValidationError):
        return outcome_response(400, [Issue("error", "invalid", "invalid request parameters")])
    if isinstance(exc, IntegrityError):
        return error_response(Conflict("the request conflicts with a concurrent change; retry"))
    if isinstance(exc, DBAPIError):
        log.error("database error: %s", type(exc.orig).__name__)
        return outcome_response(
            503,
            [Issue("error", "transient", "the database is busy; retry shortly")],
            {"Retry-After": "1"},
        )
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return outcome_response(500, [Issue("fatal", "exception", "internal server error")])


def install_error_handlers(app: FastAPI) -> None:
    """Every exception class above answered by ``response_for``, for the FastAPI routes."""
    for exception in (
        FhirError,
        HTTPException,
        RequestValidationError,
        IntegrityError,
        DBAPIError,
        Exception,
    ):
        app.add_exception_handler(exception, _handler)


async def _handler(_request: Request, exc: Exception) -> Response:
    return response_for(exc)
