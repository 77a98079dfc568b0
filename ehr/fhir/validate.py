"""Structural validation of incoming resources against the ``fhir.resources`` R4B models.

The models know every element, its type, cardinality and primitive format, so we let them
judge structure and translate their complaints into ``OperationOutcome`` issues whose
``expression`` names the element (``Patient.birthDate``, ``Patient.name[0].family``).
Profile rules (the national profiles) are a separate, later step on top of this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
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


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether JSON ``value`` nests arrays and objects deeper than ``limit`` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


def validate_structure(body: dict[str, Any]) -> None:
    """Raise ``Unprocessable`` naming each element that breaks the R4B model of ``body``."""
    resource_type = require_resource_type(body)
    cls = model_class(resource_type)
    assert cls is not None
    issues = list(islice(_json_issues(body, resource_type), MAX_ISSUES))
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues=issues)
    try:
        model = cls.model_validate(body)
    except ValidationError as exc:
        issues = [_issue(resource_type, err) for err in exc.errors()[:MAX_ISSUES]]
        raise Unprocessable(issues[0].diagnostics, issues=issues) from None
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
        # The models fail on some wrong-typed input this way instead of with a
        # ValidationError (``"extension": [{"url": true}]`` is an AttributeError).
        raise Unprocessable(f"invalid {resource_type}: {exc}") from None
    issues = list(_code_issues(model, resource_type))[:MAX_ISSUES]
    if issues:
        raise Unprocessable(issues[0].diagnostics, issues=issues)


def _json_issues(value: Any, path: str, *, nested: bool = False) -> Iterator[Issue]:
    """What the models cannot be trusted with, found before they see it.

    Text holding U+0000 (no FHIR string needs it, PostgreSQL cannot store it); an inline
    resource (contained, in a Bundle or Parameters) of an unknown type, on which the models
    fail with a ``KeyError``; and a primitive's ``_element`` that is not an object, or an
    array of objects and nulls that pairs with the element's own array
    (https://hl7.org/fhir/R4/json.html#primitive): the models parse a string there as JSON
    and fail on what it holds (``"_active": "1"``), and fail on a null that pairs with no
    value.
    """
    if isinstance(value, str):
        if "\x00" in value:
            yield Issue("error", "value", f"{path}: the text contains a NUL character", (path,))
    elif isinstance(value, dict):
        inline = value.get("resourceType", "")
        if nested and "resourceType" in value and _model_of(inline) is None:
            yield Issue(
                "error", "structure", f"{path}: unknown resource type {str(inline)[:64]!r}", (path,)
            )
            return
        for key, item in value.items():
            child = f"{path}.{key}"
            if "\x00" in key:
                yield Issue("error", "structure", f"{path}: an element name contains NUL", (path,))
            elif key.startswith("_") and not _extension_shaped(item, value.get(key[1:])):
                yield Issue(
                    "error",
                    "structure",
                    f"{child}: must be an object, or an array of objects and nulls as long as "
                    f"the array {key[1:]!r} with a value or an object at each position",
                    (child,),
                )
            else:
                yield from _json_issues(item, child, nested=True)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_issues(item, f"{path}[{index}]", nested=True)


def _model_of(resource_type: Any) -> type[FHIRAbstractModel] | None:
    return model_class(resource_type) if isinstance(resource_type, str) else None


def _extension_shaped(value: Any, primitive: Any) -> bool:
    """The JSON form of a primitive's id and extensions (``_birthDate``), single or repeated."""
    if not isinstance(value, list):
        return value is None or isinstance(value, dict)
    return (
        isinstance(primitive, list)
        and len(primitive) == len(value)
        and all(
            isinstance(item, dict) or (item is None and own is not None)
            for item, own in zip(value, primitive, strict=True)
        )
    )


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
