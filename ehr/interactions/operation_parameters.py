"""Reading an operation's parameters against what its OperationDefinition declares.

https://hl7.org/fhir/R4/parameters.html, https://hl7.org/fhir/R4/operations.html. The one
reader of every operation's input: a ``Parameters`` body (``read_parameters``) or, for an
operation called with ``GET`` (or one taking URL parameters), the query string
(``read_query``: primitive types only, as the spec allows).

The rule for every operation: each parameter is declared (``Param``), may be given at most
once, and must carry the value type declared. An unknown parameter, a repeated one, a value
of the wrong type, a reference to another resource type or a missing required parameter is
a 400 ``OperationOutcome`` naming the parameter (``Parameters.parameter[2]``, or the query
parameter's name), raised before the operation reads or writes anything. Unknown
parameters are refused rather than ignored, so a misspelt ``onlyCertainMatches`` cannot
silently change what an answer means; query parameters starting with ``_`` (``_format``)
belong to the HTTP interface, not the operation, and are skipped.

Declared by type (``Param.type``; ``Param.accepts`` lists further types a parameter also
takes, e.g. ``$validate``'s ``profile`` as ``uri`` or ``canonical``):

- ``reference``: ``valueReference`` to ``<target>/<id>``; the id is returned;
- ``resource``: ``resource``, a JSON object whose ``resourceType`` is ``target`` (any
  type when ``target`` is ``None``); the object is returned;
- ``string``, ``code``, ``uri``, ``canonical``: ``value<Type>``, 1 to ``max_length``
  characters, returned stripped; a ``code`` may be limited to ``codes``;
- ``boolean``: ``valueBoolean`` (``true``/``false`` in a query);
- ``integer``: ``valueInteger`` from ``minimum`` to ``maximum``;
- ``Coding``: ``valueCoding`` with a ``system`` and a ``code``; ``{"system", "code"}`` is
  returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ehr.errors import BadRequest

MAX_TEXT = 500
TEXT_TYPES = ("string", "code", "uri", "canonical")
QUERY_TYPES = (*TEXT_TYPES, "boolean", "integer")
"""The types a query string can carry (FHIR: only primitive parameters go in a URL)."""
_INTEGER = re.compile(r"-?[0-9]{1,19}")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    """reference, resource, string, code, uri, canonical, boolean, integer or Coding."""
    required: bool = False
    target: str | None = "Patient"
    """For a reference: the resource type it points at; for a resource: its resourceType
    (``None``: any)."""
    accepts: tuple[str, ...] = ()
    """Further value types taken for this parameter, tried after ``type``."""
    max_length: int = MAX_TEXT
    """For the text types and a Coding's system and code."""
    codes: tuple[str, ...] = ()
    """For a code (or any text type): the values allowed; empty for any."""
    minimum: int = 1
    maximum: int = 2**62 - 1
    """For an integer: the bounds, both included."""

    @property
    def types(self) -> tuple[str, ...]:
        return (self.type, *self.accepts)


def read_parameters(body: Any, operation: str, declared: tuple[Param, ...]) -> dict[str, Any]:
    """The values of ``declared`` parameters in ``body`` (absent optional ones are missing)."""
    if body is None and not any(p.required for p in declared):
        return {}
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest(f"{operation} takes a Parameters resource")
    parameters = body.get("parameter") or []
    if not isinstance(parameters, list):
        raise BadRequest("Parameters.parameter must be an array", ("Parameters.parameter",))
    values: dict[str, Any] = {}
    for index, parameter in enumerate(parameters):
        where = f"Parameters.parameter[{index}]"
        name = parameter.get("name") if isinstance(parameter, dict) else None
        spec = _declared(name, operation, declared, where)
        _once(values, spec, where)
        values[spec.name] = _from_body(parameter, spec, where)
    _required(values, operation, declared)
    return values


def read_query(
    params: Iterable[tuple[str, str]], operation: str, declared: tuple[Param, ...]
) -> dict[str, Any]:
    """The values of ``declared`` primitive parameters given as query parameters."""
    in_url = tuple(p for p in declared if p.type in QUERY_TYPES)
    values: dict[str, Any] = {}
    for name, text in params:
        if name.startswith("_"):
            continue  # _format and the like: the HTTP interface's, not the operation's
        spec = _declared(name, operation, in_url, name)
        _once(values, spec, name)
        values[spec.name] = _check(spec, spec.type, _from_text(spec.type, text), name)
    _required(values, operation, declared)
    return values


def _declared(name: Any, operation: str, declared: tuple[Param, ...], where: str) -> Param:
    for spec in declared:
        if spec.name == name:
            return spec
    known = ", ".join(p.name for p in declared) or "none"
    shown = name[:64] if isinstance(name, str) else name
    raise BadRequest(f"{where}: {operation} has no parameter {shown!r} (known: {known})", (where,))


def _once(values: dict[str, Any], spec: Param, where: str) -> None:
    if spec.name in values:
        raise BadRequest(f"{where}: parameter {spec.name!r} is given twice", (where,))


def _required(values: dict[str, Any], operation: str, declared: tuple[Param, ...]) -> None:
    for spec in declared:
        if spec.required and spec.name not in values:
            raise BadRequest(
                f"{operation} needs the parameter {spec.name!r}", ("Parameters.parameter",)
            )


def _from_body(parameter: dict[str, Any], spec: Param, where: str) -> Any:
    """The value of the first of ``spec.types`` present, checked (the declared type's error
    when none is)."""
    for value_type in spec.types:
        key = _key(value_type)
        if key in parameter:
            return _check(spec, value_type, parameter[key], f"{where}.{key}")
    return _check(spec, spec.type, None, f"{where}.{_key(spec.type)}")


def _key(value_type: str) -> str:
    return (
        "resource" if value_type == "resource" else f"value{value_type[0].upper()}{value_type[1:]}"
    )


def _from_text(value_type: str, text: str) -> Any:
    """A query parameter's text as the JSON value its type would have in a body."""
    if value_type == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if value_type == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _check(spec: Param, value_type: str, value: Any, where: str) -> Any:
    """``value`` as a ``value_type`` of ``spec``, or a 400 naming ``where``."""
    if value_type in TEXT_TYPES:
        return _text(spec, value, where, f"a {_key(value_type)}")
    if value_type == "boolean":
        if not isinstance(value, bool):
            raise BadRequest(f"{where}: {spec.name!r} must be true or false", (where,))
        return value
    if value_type == "integer":
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not spec.minimum <= value <= spec.maximum
        ):
            raise BadRequest(
                f"{where}: {spec.name!r} must be an integer from {spec.minimum} to {spec.maximum}",
                (where,),
            )
        return value
    if value_type == "reference":
        return _reference(spec, value, where)
    if value_type == "resource":
        return _resource(spec, value, where)
    if value_type == "Coding":
        if not isinstance(value, dict):
            raise BadRequest(f"{where}: {spec.name!r} must be a Coding", (where,))
        return {
            "system": _text(spec, value.get("system"), f"{where}.system", "a uri"),
            "code": _text(spec, value.get("code"), f"{where}.code", "a code"),
        }
    raise ValueError(f"parameter type {value_type!r} is not one the reader knows")


def _text(spec: Param, value: Any, where: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > spec.max_length:
        raise BadRequest(
            f"{where}: {spec.name!r} must be {what} of 1 to {spec.max_length} characters",
            (where,),
        )
    value = value.strip()
    if spec.codes and value not in spec.codes:
        raise BadRequest(
            f"{where}: {spec.name!r} must be one of {', '.join(spec.codes)}, not {value[:32]!r}",
            (where,),
        )
    return value


def _reference(spec: Param, value: Any, where: str) -> str:
    from ehr.interactions.update import check_id

    reference = value.get("reference") if isinstance(value, dict) else None
    prefix = f"{spec.target}/"
    if not isinstance(reference, str) or not reference.startswith(prefix):
        raise BadRequest(
            f"{where}: {spec.name!r} must be a valueReference to {spec.target}/<id>", (where,)
        )
    return check_id(reference.removeprefix(prefix))


def _resource(spec: Param, value: Any, where: str) -> dict[str, Any]:
    resource_type = value.get("resourceType") if isinstance(value, dict) else None
    if not isinstance(resource_type, str) or not resource_type:
        wanted = f"a {spec.target}" if spec.target else "a resource"
        raise BadRequest(f"{where}: {spec.name!r} must hold {wanted}", (where,))
    if spec.target is not None and resource_type != spec.target:
        raise BadRequest(
            f"{where}: {spec.name!r} must hold a {spec.target}, not {resource_type[:64]!r}",
            (f"{where}.resourceType",),
        )
    assert isinstance(value, dict)
    return value
