"""What a search expression finds: a JSON value and, when known, its FHIR data type.

FHIR JSON does not carry types, but search needs them (a token reads a Coding differently
from an Identifier). The type comes from the expression when it tells (a choice key such
as ``valueQuantity``, ``as Type``), and otherwise ``data_type`` infers it from the JSON
shape. The tables here are the R4 facts the compiler (``ehr.search.fhirpath``) and the
extractors (``ehr.search.extract``) share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

__all__ = ["CHOICE_NAMES", "SUBTYPES", "SUFFIX_TYPES", "Node", "data_type", "unwrap_extension"]


@dataclass(frozen=True, slots=True)
class Node:
    """A JSON value found by an expression and its FHIR type name when the path tells it."""

    value: Any
    type: str | None = None


def _words(text: str) -> list[str]:
    return text.split()


# The R4 data types (StructureDefinition kind primitive-type/complex-type): a choice element
# ``value[x]`` appears in JSON as ``value`` + the type name with a capital first letter.
_TYPES = _words(
    "Address Age Annotation Attachment CodeableConcept Coding ContactDetail ContactPoint "
    "Contributor Count DataRequirement Distance Dosage Duration Expression Extension HumanName "
    "Identifier Meta Money ParameterDefinition Period Quantity Range Ratio Reference "
    "RelatedArtifact SampledData Signature Timing TriggerDefinition UsageContext base64Binary "
    "boolean canonical code date dateTime decimal id instant integer markdown oid positiveInt "
    "string time unsignedInt uri url uuid"
)
SUFFIX_TYPES: Mapping[str, str] = MappingProxyType({t[0].upper() + t[1:]: t for t in _TYPES})
"""The FHIR type of a choice key's suffix: ``valueDateTime`` -> ``DateTime`` -> ``dateTime``."""

CHOICE_NAMES = frozenset(
    _words(
        "abatement additive age allowed amount answer asNeeded author born bounds characteristic "
        "chargeItem code collected content created date deceased defaultValue definingSubstance "
        "definition detail diagnosis dose doseNumber due effective entity event example "
        "fastingStatus fixed identified indication item legallyBinding location manufacturer "
        "maxValue medication minValue minimumVolume module multipleBirth name occurred occurrence "
        "offset onset participantEffective pattern performed probability procedure product "
        "quantity rate reported scheduled seriesDoses serviced source start statusReason "
        "studyEffective subject substance target time timing topic used value when"
    )
)
"""Every element name that is a choice ``name[x]`` somewhere in R4.

Only these names are looked up as ``name<Type>`` keys, so a plain element such as
``Goal.status`` never picks up its sibling ``Goal.statusDate``. Checked against the R4
StructureDefinitions: no parent has a choice ``name[x]`` and a plain ``name<Type>``
sibling that could be mistaken for it, except the required
``OperationDefinition.parameter.referencedFrom.source`` beside ``sourceId``.
"""

SUBTYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "Quantity": frozenset({"Quantity", "Age", "Count", "Distance", "Duration"}),
        "string": frozenset({"string", "code", "id", "markdown"}),
        "uri": frozenset({"uri", "url", "canonical", "oid", "uuid"}),
        "integer": frozenset({"integer", "positiveInt", "unsignedInt"}),
    }
)
"""FHIRPath ``as``/``ofType`` accept specialisations: an Age *is* a Quantity."""

CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_ADDRESS_KEYS = ("line", "city", "district", "state", "postalCode", "country")
_NAME_KEYS = ("family", "given", "prefix", "suffix")


def unwrap_extension(node: Node) -> Node:
    """An Extension stands for its ``value[x]``: searching an extension searches its value."""
    obj = node.value
    if node.type not in ("Extension", None) or not isinstance(obj, dict) or "url" not in obj:
        return node
    for key, value in obj.items():
        fhir_type = SUFFIX_TYPES.get(key[5:]) if key.startswith("value") else None
        if fhir_type is not None:
            return Node(value, fhir_type)
    return node


def data_type(node: Node) -> str | None:
    """The node's FHIR type: the one the expression gave, else a guess from the JSON shape.

    Only complex types are guessed; the order settles the overlaps (a Quantity and an
    Identifier both have ``value``, told apart by its JSON type).
    """
    if node.type is not None:
        return node.type
    obj = node.value
    if not isinstance(obj, dict):
        return None
    if "coding" in obj:
        return "CodeableConcept"
    if "reference" in obj:
        return "Reference"
    if "currency" in obj:
        return "Money"
    if "low" in obj or "high" in obj:
        return "Range"
    if "start" in obj or "end" in obj:
        return "Period"
    if "event" in obj or "repeat" in obj:
        return "Timing"
    if any(key in obj for key in _NAME_KEYS):
        return "HumanName"
    if any(key in obj for key in _ADDRESS_KEYS):
        return "Address"
    if "value" in obj:
        return _valued_type(obj)
    if "code" in obj or "system" in obj:
        return "Coding"
    if "text" in obj:
        return "CodeableConcept"
    return None


def _valued_type(obj: dict[str, Any]) -> str:
    value = obj["value"]
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return "Quantity"
    if obj.get("system") in CONTACT_SYSTEMS or "rank" in obj:
        return "ContactPoint"
    return "Identifier"
