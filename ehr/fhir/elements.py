"""Element facts of a resource type that the server needs at run time, read off the models.

``_summary`` and ``_elements`` need to know which top-level elements are summary elements
and which are mandatory; the R4B models carry both, so we derive them instead of keeping
hand-written lists that could drift.
"""

from __future__ import annotations

from functools import cache

from ehr.fhir.models import model_class


@cache
def summary_elements(resource_type: str) -> frozenset[str]:
    """JSON names of the top-level summary elements of ``resource_type``."""
    return _elements(resource_type, "summary_element_property")


@cache
def mandatory_elements(resource_type: str) -> frozenset[str]:
    """JSON names of the top-level elements with minimum cardinality 1."""
    cls = model_class(resource_type)
    if cls is None:
        return frozenset()
    names = {
        field.alias or name
        for name, field in cls.model_fields.items()
        if field.is_required() or (field.json_schema_extra or {}).get("element_required")
    }
    return frozenset(names)


def _elements(resource_type: str, flag: str) -> frozenset[str]:
    cls = model_class(resource_type)
    if cls is None:
        return frozenset()
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        extra = field.json_schema_extra
        if isinstance(extra, dict) and extra.get(flag):
            alias = field.alias or name
            names.add(alias)
            names.add("_" + alias)
    return frozenset(names)


def element_base(json_name: str, resource_type: str) -> str:
    """The element of a JSON key: ``valueQuantity`` -> ``value``, ``_gender`` -> ``gender``."""
    name = json_name.lstrip("_")
    cls = model_class(resource_type)
    if cls is None:
        return name
    for field_name, field in cls.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if (field.alias or field_name) == name and extra.get("one_of_many"):
            return str(extra["one_of_many"])
    return name
