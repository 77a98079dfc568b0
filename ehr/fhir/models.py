"""The single import point of the FHIR models (``fhir.resources.R4B``).

Keeping one module between the code and the model library pins one FHIR release for
the whole service and lets a future R5 move touch exactly one file.
"""

from __future__ import annotations

from functools import cache, lru_cache

from fhir.resources.R4B import FHIRAbstractModel, get_fhir_model_class

__all__ = ["FHIRAbstractModel", "model_class"]


@cache
def model_class(resource_type: str) -> type[FHIRAbstractModel] | None:
    """The model class of ``resource_type``, or ``None`` if R4B has no such resource."""
    try:
        cls = get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None
    if cls.get_resource_type() != resource_type or not issubclass(cls, _resource_base()):
        return None
    return cls


@lru_cache(maxsize=1)
def _resource_base() -> type[FHIRAbstractModel]:
    return get_fhir_model_class("Resource")
