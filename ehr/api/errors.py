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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FhirError)
    async def _fhir_error(_request: Request, exc: FhirError) -> Response:
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        return outcome_response(exc.status_code, [Issue("error", code, str(exc.detail))])

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        return outcome_response(400, [Issue("error", "invalid", "invalid request parameters")])

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, exc: IntegrityError) -> Response:
        return error_response(Conflict("the request conflicts with a concurrent change; retry"))

    @app.exception_handler(DBAPIError)
    async def _database_error(_request: Request, exc: DBAPIError) -> Response:
        log.error("database error: %s", type(exc.orig).__name__)
        return outcome_response(
            503,
            [Issue("error", "transient", "the database is busy; retry shortly")],
            {"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled %s", type(exc).__name__)
        return outcome_response(500, [Issue("fatal", "exception", "internal server error")])
