"""Builders for differential elements, limited to the subset the validator enforces.

docs/profiles.md ("The StructureDefinition subset") is the contract with
``ehr.profiles``: ``id``/``path``, ``min``/``max``, ``fixed[x]``/``pattern[x]``, required and
extensible ``binding``s to our own ValueSets, ``type[]`` with ``targetProfile``, slicing
with value/pattern discriminators (and type slices of a choice element), and the regex
extension. Nothing here can produce anything else, so a profile cannot silently ask for
a rule no one enforces.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ehr.conformance.common import CORE_SD, FHIR_VERSION, metadata

REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
Strength = Literal["required", "extensible"]
_SLICE = re.compile(r":[^.]+")


def element(element_id: str, **rules: Any) -> dict[str, Any]:
    """One differential element: ``Patient.identifier:cccd.value`` has the path
    ``Patient.identifier.value`` (slice names dropped)."""
    return {"id": element_id, "path": _SLICE.sub("", element_id), **rules}


def required(element_id: str, *, max_: str | None = None, **rules: Any) -> dict[str, Any]:
    """An element that must be present (``min`` 1)."""
    return element(element_id, min=1, **({"max": max_} if max_ else {}), **rules)


def regex(pattern: str) -> dict[str, Any]:
    """The ``extension`` of an element whose value must match ``pattern`` entirely."""
    re.compile(pattern)
    return {"extension": [{"url": REGEX, "valueString": pattern}]}


def binding(value_set: str, strength: Strength = "required") -> dict[str, Any]:
    return {"binding": {"strength": strength, "valueSet": value_set}}


def reference(*target_profiles: str) -> dict[str, Any]:
    """A Reference element that may point only at resources of these profiles."""
    return {"type": [{"code": "Reference", "targetProfile": list(target_profiles)}]}


def sliced(element_id: str, path: str = "system", **rules: Any) -> dict[str, Any]:
    """An element sliced (open) by the fixed value at ``path`` of each slice."""
    slicing = {"discriminator": [{"type": "value", "path": path}], "rules": "open"}
    return element(element_id, slicing=slicing, **rules)


def system_slice(
    base_id: str,
    name: str,
    system: str,
    *,
    min_: int = 1,
    max_: str = "1",
    system_path: str = "",
    **slice_rules: Any,
) -> list[dict[str, Any]]:
    """Slice ``name`` of ``base_id`` (sliced by ``system``): its members carry ``system``.

    ``system_path`` prefixes the element holding the system (``coding`` for a
    CodeableConcept sliced by ``coding.system``); ``slice_rules`` go on the slice itself.
    """
    slice_id = f"{base_id}:{name}"
    holder = f"{slice_id}.{system_path}" if system_path else slice_id
    elements = [element(slice_id, min=min_, max=max_, **slice_rules)]
    if system_path:
        elements.append(required(holder))
    elements.append(required(f"{holder}.system", fixedUri=system))
    return elements


def type_slice(choice_id: str, type_code: str) -> list[dict[str, Any]]:
    """The choice element ``choice_id`` (``Observation.value[x]``) and its slice of one type.

    Returns the sliced base and the slice; rules on the slice's children follow as
    ``<choice_id>:value<Type>.<child>``.
    """
    slice_name = f"{choice_id.rsplit('.', 1)[-1].removesuffix('[x]')}{type_code}"
    base = element(
        choice_id,
        slicing={"discriminator": [{"type": "type", "path": "$this"}], "rules": "open"},
    )
    return [base, element(f"{choice_id}:{slice_name}", type=[{"code": type_code}])]


def structure_definition(
    name: str, resource_type: str, title: str, description: str, elements: list[dict[str, Any]]
) -> dict[str, Any]:
    """A constraint profile ``vn-core-<name>`` on the R4 core ``resource_type``."""
    ids = [e["id"] for e in elements]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"vn-core-{name}: elements defined twice: {sorted(duplicates)}")
    return {
        **metadata("StructureDefinition", f"vn-core-{name}", title, description),
        "fhirVersion": FHIR_VERSION,
        "kind": "resource",
        "abstract": False,
        "type": resource_type,
        "baseDefinition": f"{CORE_SD}/{resource_type}",
        "derivation": "constraint",
        "differential": {"element": [element(resource_type), *elements]},
    }
