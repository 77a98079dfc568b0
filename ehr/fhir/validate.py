"""Structural validation of incoming resources against the ``fhir.resources`` R4B models.

The models know every element, its type, cardinality and primitive format, so we let them
judge structure and translate their complaints into ``OperationOutcome`` issues whose
``expression`` names the element (``Patient.birthDate``, ``Patient.name[0].family``).
Profile rules (the national profiles) are a separate, later step on top of this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from ehr.errors import BadRequest, Issue, Unprocessable
from ehr.fhir.models import FHIRAbstractModel, model_class

MAX_ISSUES = 50
"""Enough to fix a resource; a body with thousands of errors should not echo them all."""


def require_resource_type(body: Any, expected: str | None = None) -> str:
    """The ``resourceType`` of ``body``, checked to be a known type (and ``expected``)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object holding a FHIR resource")
    resource_type = body.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        raise BadRequest("the resource has no resourceType", expression=("resourceType",))
    if expected is not None and resource_type != expected:
        raise BadRequest(
            f"resourceType {resource_type!r} does not match the URL type {expected!r}",
            expression=("resourceType",),
        )
    if model_class(resource_type) is None:
        raise BadRequest(
            f"unknown resource type {resource_type!r}",
            code="not-supported",
            expression=("resourceType",),
        )
    return resource_type


def validate_structure(body: dict[str, Any]) -> None:
    """Raise ``Unprocessable`` naming each element that breaks the R4B model of ``body``."""
    resource_type = require_resource_type(body)
    cls = model_class(resource_type)
    assert cls is not None
    try:
        model = cls.model_validate(body)
    except ValidationError as exc:
        issues = [_issue(resource_type, err) for err in exc.errors()[:MAX_ISSUES]]
        raise Unprocessable(issues[0].diagnostics, issues=issues) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise Unprocessable(f"invalid {resource_type}: {exc}") from None
    issues = list(_code_issues(model, resource_type))[:MAX_ISSUES]
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues=issues)


def _code_issues(model: FHIRAbstractModel, path: str) -> Iterator[Issue]:
    """Codes outside their required value set (the models list them but do not enforce them).

    A list ending in ``+`` is a hierarchy the model abbreviates, so it cannot be checked.
    """
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        child = f"{path}.{field.alias or name}"
        allowed = extra.get("enum_values")
        if allowed and "+" not in allowed:
            for index, code in _items(value):
                if isinstance(code, str) and code not in allowed:
                    where = child if index is None else f"{child}[{index}]"
                    yield Issue(
                        "error",
                        "code-invalid",
                        f"{where}: {code!r} is not one of {', '.join(allowed)}",
                        (where,),
                    )
        for index, item in _items(value):
            if isinstance(item, FHIRAbstractModel):
                yield from _code_issues(item, child if index is None else f"{child}[{index}]")


def _items(value: Any) -> Iterator[tuple[int | None, Any]]:
    if isinstance(value, list):
        yield from enumerate(value)
    else:
        yield None, value


def _issue(resource_type: str, error: Any) -> Issue:
    path = _fhirpath(resource_type, error.get("loc", ()))
    kind = error.get("type", "")
    message = error.get("msg", "invalid value")
    if kind == "extra_forbidden":
        code, message = "structure", "unknown element"
    elif kind == "missing":
        code, message = "required", "required element is missing"
    else:
        code = "value"
    return Issue("error", code, f"{path}: {message}", (path,))


def _fhirpath(resource_type: str, loc: tuple[Any, ...]) -> str:
    """``('name', 0, 'family')`` -> ``Patient.name[0].family``."""
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("__root__",) or str(part).startswith("function-"):
            continue
        else:
            path += f".{part}"
    return path
