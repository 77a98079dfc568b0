"""Every code the exchange knows a display for, in one index loaded once from ``seed/``.

The portal and the dashboard show codes to people (a diagnosis, a lab test, a vaccine, a
province, a facility level), in Vietnamese by default and in English on request; the
``CodeSystem/$lookup`` operation answers from the same index. It holds:

- the terminology CSVs of ``seed/terminology/``: common ICD-10 codes, LOINC vital signs
  and labs, the national immunisation programme's vaccines (CVX), encounter classes;
- the registry's own code systems: the 34 provinces and the 63 before them
  (``seed/provinces_34.csv``), facility levels and kinds (``ehr.registry.facilities``).

The generated CodeSystems in ``fhir_profiles/`` (``ehr.conformance``) are built from the
same rows and the same ``SYSTEMS`` metadata, so ``$lookup`` and the served CodeSystems
cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ehr.registry import (
    FACILITY_KIND_SYSTEM,
    FACILITY_LEVEL_SYSTEM,
    LEGACY_PROVINCE_SYSTEM,
    PROVINCE_SYSTEM,
)
from ehr.registry.facilities import KINDS, LEVELS
from ehr.registry.provinces import read_provinces
from ehr.terminology.seed_codes import (
    Code,
    read_encounter_classes,
    read_icd10,
    read_loinc,
    read_vaccines,
)
from ehr.terminology.systems import ACT_CODE, CVX, ICD10, LOINC

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class SystemInfo:
    """A code system as ``$lookup`` names it."""

    url: str
    name: str
    """The ``name`` output parameter of ``$lookup``: the CodeSystem's title."""
    language: str
    """The language of the system's own displays (``en`` for ICD-10, LOINC, CVX)."""


SYSTEMS: dict[str, SystemInfo] = {
    info.url: info
    for info in (
        SystemInfo(ICD10, "ICD-10", "en"),
        SystemInfo(LOINC, "LOINC", "en"),
        SystemInfo(CVX, "CVX", "en"),
        SystemInfo(ACT_CODE, "ActCode", "en"),
        SystemInfo(PROVINCE_SYSTEM, "Provinces of Vietnam (2025)", "vi"),
        SystemInfo(LEGACY_PROVINCE_SYSTEM, "Provinces of Vietnam before 2025 (63)", "vi"),
        SystemInfo(FACILITY_LEVEL_SYSTEM, "Facility level", "vi"),
        SystemInfo(FACILITY_KIND_SYSTEM, "Facility kind", "vi"),
    )
}


@dataclass(frozen=True)
class Concept:
    """One code: its system's own display and its displays by language."""

    system: str
    code: str
    display: str
    designations: Mapping[str, str] = field(default_factory=dict)
    """Language (``vi``, ``en``) -> display in that language."""

    def display_in(self, language: str | None) -> str:
        """The display in ``language`` (``vi-VN`` counts as ``vi``), else the system's own."""
        if language:
            found = self.designations.get(language.split("-", 1)[0].lower())
            if found:
                return found
        return self.display


class CodeIndex:
    """The concepts of every known system, by ``(system, code)``."""

    def __init__(self, concepts: list[Concept]) -> None:
        self._concepts = {(c.system, c.code): c for c in concepts}

    def lookup(self, system: str, code: str) -> Concept | None:
        return self._concepts.get((system, code))

    def __iter__(self) -> Iterator[Concept]:
        return iter(self._concepts.values())

    def __len__(self) -> int:
        return len(self._concepts)


def _bilingual(system: str, codes: list[Code]) -> list[Concept]:
    own = SYSTEMS[system].language
    return [
        Concept(
            system,
            c.code,
            c.display_en if own == "en" else c.display_vi,
            {"vi": c.display_vi, "en": c.display_en},
        )
        for c in codes
    ]


def _vietnamese(system: str, rows: list[tuple[str, str, str | None]]) -> list[Concept]:
    """Concepts named in Vietnamese, with an English display where one exists."""
    return [
        Concept(system, code, vi, {"vi": vi, **({"en": en} if en else {})}) for code, vi, en in rows
    ]


def _english_label(code: str) -> str:
    """``health-station`` -> ``Health station``: the registry codes are English words."""
    return code.replace("-", " ").capitalize()


def build_index(seed_dir: Path) -> CodeIndex:
    """Read every known code from ``seed_dir`` and the registry tables."""
    provinces = read_provinces(seed_dir)
    legacy = sorted(
        {
            (code, name, None)
            for p in provinces
            for code, name in zip(p.old_codes, p.old_names, strict=True)
        }
    )
    return CodeIndex(
        [
            *_bilingual(ICD10, read_icd10(seed_dir)),
            *_bilingual(LOINC, read_loinc(seed_dir)),
            *_bilingual(CVX, read_vaccines(seed_dir)),
            *_bilingual(ACT_CODE, read_encounter_classes(seed_dir)),
            *_vietnamese(PROVINCE_SYSTEM, [(p.code, p.name, None) for p in provinces]),
            *_vietnamese(LEGACY_PROVINCE_SYSTEM, legacy),
            *_vietnamese(
                FACILITY_LEVEL_SYSTEM,
                [(code, vi, _english_label(code)) for code, (vi, _) in LEVELS.items()],
            ),
            *_vietnamese(
                FACILITY_KIND_SYSTEM,
                [(code, vi, _english_label(code)) for code, (vi, _) in KINDS.items()],
            ),
        ]
    )


@lru_cache(maxsize=4)
def default_index(seed_dir: Path | None = None) -> CodeIndex:
    """The index of ``seed_dir`` (default: the configured seed directory), built once."""
    if seed_dir is None:
        from ehr.config import get_settings

        seed_dir = get_settings().seed_dir
    return build_index(seed_dir)


def lookup(system: str, code: str, *, seed_dir: Path | None = None) -> Concept | None:
    """The concept ``system|code``, or ``None`` if the exchange does not know it."""
    return default_index(seed_dir).lookup(system, code)


def display(
    system: str, code: str, language: str = "vi", *, seed_dir: Path | None = None
) -> str | None:
    """How to show ``system|code`` to a person reading ``language`` (``vi`` or ``en``).

    Falls back to the system's own display when there is none in that language (a
    province's name has no English form); ``None`` only for an unknown code.
    """
    concept = lookup(system, code, seed_dir=seed_dir)
    return concept.display_in(language) if concept is not None else None
