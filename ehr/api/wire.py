"""Reading request bodies and writing response bodies in FHIR JSON.

Limits are enforced before parsing: a declared or actual body over ``max_body_bytes`` is
413, JSON nested deeper than ``max_json_depth`` is 400. Only JSON is spoken
(``application/fhir+json``, ``application/json``, ``application/json-patch+json``, and form
bodies for ``POST _search``); asking for XML gets 406/415 with an explanation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from fastapi.responses import Response

from ehr.api.errors import FHIR_JSON
from ehr.errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType
from ehr.fhir.validate import depth_exceeds
from ehr.interactions.messages import FhirResponse, small_int

JSON_TYPES = (
    "application/fhir+json",
    "application/json",
    "application/json-patch+json",
    "text/json",
)
FORM_TYPE = "application/x-www-form-urlencoded"
_JSON_FORMATS = {"json", "application/json", "application/fhir+json", "application/json+fhir"}


async def read_body(
    request: Request, max_bytes: int, max_depth: int
) -> tuple[Any, list[tuple[str, str]]]:
    """The parsed JSON body (or ``None``) and any form parameters of the request."""
    declared = small_int(request.headers.get("content-length", ""))
    if declared is not None and declared > max_bytes:
        raise PayloadTooLarge(f"the body is larger than the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the body is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None, []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == FORM_TYPE:
        try:
            return None, parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise BadRequest("the form body is not UTF-8") from None
    if content_type and content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not supported; send application/fhir+json"
        )
    return parse_json(raw, max_depth), []


def parse_json(raw: bytes, max_depth: int) -> Any:
    """``raw`` parsed, or a 400 that says where the JSON is broken."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="structure") from None
    if depth_exceeds(value, max_depth):
        raise BadRequest(f"the JSON is nested deeper than {max_depth} levels", code="structure")
    return value


def check_acceptable(request: Request) -> None:
    """406 when ``_format`` or ``Accept`` asks only for something other than JSON."""
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt.strip().lower() not in _JSON_FORMATS:
        raise NotAcceptable(f"_format {fmt!r} is not supported; this server speaks FHIR JSON")
    accept = request.headers.get("accept", "").lower()
    if accept and "xml" in accept and "json" not in accept and "*/*" not in accept:
        raise NotAcceptable("this server speaks FHIR JSON only; accept application/fhir+json")


def render(response: FhirResponse, pretty: bool) -> Response:
    """The HTTP response of an interaction's ``FhirResponse``."""
    body = response.body
    if body is None:
        content = b""
    elif isinstance(body, bytes) and not pretty:
        content = body
    else:
        if isinstance(body, bytes):
            body = orjson.loads(body)
        content = orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
    media_type = FHIR_JSON if response.body is not None else None
    return Response(
        content=content,
        status_code=response.status,
        headers=response.headers,
        media_type=media_type,
    )
