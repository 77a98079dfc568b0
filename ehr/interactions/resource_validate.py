"""$validate: ``POST [base]/[type]/$validate``, ``POST|GET [base]/[type]/[id]/$validate``
(https://hl7.org/fhir/R4/resource-operation-validate.html).

Checks a resource against the R4 model and the profiles that apply to it (or the nominated
``profile``) and answers 200 with an OperationOutcome: every issue found, or one
``information`` issue when there is none. Nothing is written. The body is the resource
itself or a ``Parameters`` with ``resource``, ``profile`` and ``mode``
(``create``/``update``/``delete``); ``profile`` and ``mode`` may also be URL parameters
(read by ``operation_parameters``: one unknown, repeated or of the wrong type is a 400).
``GET [type]/[id]/$validate`` validates the stored current version, read through the
guarded store (access rules and audit apply), so a facility sees why a record is flagged.
A profile the server does not know cannot be validated against: 400.
"""

from __future__ import annotations

from typing import Any

import orjson

from ehr.context import RequestContext
from ehr.errors import BadRequest, Gone, Issue, NotFound, Unprocessable, operation_outcome
from ehr.fhir.validate import require_resource_type, validate_structure
from ehr.interactions.messages import FhirRequest, FhirResponse
from ehr.interactions.operation_parameters import Param, read_parameters, read_query
from ehr.profiles.definitions import Profile, load_profiles
from ehr.profiles.validator import validate

MODES = ("create", "update", "delete")
PROFILE = Param("profile", "uri", accepts=("canonical",))
MODE = Param("mode", "code", accepts=("string",), codes=MODES)
"""``$validate``'s parameters besides the resource (R4 declares ``profile`` a uri; R5 a
canonical, so both are read; ``mode`` is read from a ``valueString`` too)."""


def validate_type(ctx: RequestContext, req: FhirRequest, res_type: str) -> FhirResponse:
    """``POST [type]/$validate``: the resource in the body."""
    resource, profile, mode = _parameters(req, res_type)
    return _answer(ctx, resource, res_type, profile, mode, res_id=None)


def validate_instance(
    ctx: RequestContext, req: FhirRequest, res_type: str, res_id: str
) -> FhirResponse:
    """``GET [type]/[id]/$validate``: the stored version; ``POST``: the body as its update."""
    if req.method == "POST":
        resource, profile, mode = _parameters(req, res_type, default_mode="update")
        return _answer(ctx, resource, res_type, profile, mode, res_id=res_id)
    profile, mode = _url_parameters(req, "update")
    stored = ctx.store.current(res_type, res_id, "read")
    if stored is None:
        raise NotFound(f"{res_type}/{res_id} does not exist")
    if stored.deleted or stored.content is None:
        raise Gone(f"{res_type}/{res_id} is deleted")
    return _answer(ctx, orjson.loads(stored.content), res_type, profile, mode, res_id=res_id)


def _answer(
    ctx: RequestContext,
    resource: Any,
    res_type: str,
    profile_url: str | None,
    mode: str,
    res_id: str | None,
) -> FhirResponse:
    require_resource_type(resource, res_type)
    profiles = load_profiles(ctx.settings.profiles_dir)
    nominated = _nominated(
        profiles.get(profile_url) if profile_url else None, profile_url, res_type
    )
    issues: list[Issue] = []
    checked: list[str] = []
    if mode == "update":
        issues.extend(_update_issues(resource, res_type, res_id))
    if mode != "delete":
        try:
            validate_structure(resource)
        except Unprocessable as invalid:
            issues.extend(invalid.issues)
        report = validate(resource, profiles, only=nominated)
        issues.extend(report.issues)
        checked = report.profiles
    if not issues:
        against = ", ".join(checked) or "the R4 base specification"
        issues = [Issue("information", "informational", f"valid against {against}")]
    return FhirResponse(status=200, body=operation_outcome(issues))


def _nominated(profile: Profile | None, url: str | None, res_type: str) -> Profile | None:
    if url is None:
        return None
    if profile is None:
        raise BadRequest(
            f"unknown profile {url[:200]}: this server cannot validate against it",
            code="not-supported",
        )
    if profile.type != res_type:
        raise BadRequest(f"{profile.url} is a profile of {profile.type}, not {res_type}")
    return profile


def _update_issues(resource: dict[str, Any], res_type: str, res_id: str | None) -> list[Issue]:
    """An update needs the resource's id, and it must be the one in the URL."""
    given = resource.get("id")
    if given is None:
        return [
            Issue(
                "error", "required", f"{res_type}.id: an update needs the id", (f"{res_type}.id",)
            )
        ]
    if res_id is not None and given != res_id:
        return [
            Issue(
                "error",
                "invalid",
                f"{res_type}.id: {str(given)[:64]!r} is not the id in the URL ({res_id})",
                (f"{res_type}.id",),
            )
        ]
    return []


def _parameters(
    req: FhirRequest, res_type: str, default_mode: str = "create"
) -> tuple[Any, str | None, str]:
    """The resource, nominated profile and mode of a POST: the body's parameters, else the
    URL's."""
    profile, mode = _url_parameters(req, default_mode)
    body = req.body
    if body is None:
        raise BadRequest("$validate needs the resource (or a Parameters holding it) in the body")
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return body, profile, mode
    resource = Param("resource", "resource", required=True, target=res_type)
    values = read_parameters(body, "$validate", (resource, PROFILE, MODE))
    return values["resource"], values.get("profile", profile), values.get("mode", mode)


def _url_parameters(req: FhirRequest, default_mode: str) -> tuple[str | None, str]:
    values = read_query(req.params, "$validate", (PROFILE, MODE))
    return values.get("profile"), values.get("mode", default_mode)
