"""The terminology CSVs of ``seed/terminology/``, read into typed rows.

One row per code, with an English and a Vietnamese display (the English one is the
code system's own, the Vietnamese one what the portal and dashboard show). Sources and
the choices behind each list are in docs/profiles.md ("Terminology").
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TERMINOLOGY_DIR = "terminology"
ICD10_CSV = "icd10.csv"
LOINC_CSV = "loinc.csv"
VACCINES_CSV = "vaccines.csv"
ENCOUNTER_CLASSES_CSV = "encounter_classes.csv"


@dataclass(frozen=True)
class Code:
    """A code with its English (the code system's own) and Vietnamese displays."""

    code: str
    display_en: str
    display_vi: str


@dataclass(frozen=True)
class LoincCode(Code):
    unit: str
    """The UCUM unit a result is usually reported in (``""`` for a panel or a finding)."""
    category: str
    """``vital-signs`` or ``laboratory`` (the observation-category codes)."""


@dataclass(frozen=True)
class VaccineCode(Code):
    schedule: str
    """When the national expanded programme on immunisation gives it."""
    programme: str
    """``routine`` (every child or pregnant woman) or ``targeted`` (high-risk areas)."""


def _rows(seed_dir: Path, name: str) -> list[dict[str, str]]:
    with (seed_dir / TERMINOLOGY_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_icd10(seed_dir: Path) -> list[Code]:
    return [Code(r["code"], r["display_en"], r["display_vi"]) for r in _rows(seed_dir, ICD10_CSV)]


def read_loinc(seed_dir: Path) -> list[LoincCode]:
    return [
        LoincCode(r["code"], r["display_en"], r["display_vi"], r["ucum_unit"], r["category"])
        for r in _rows(seed_dir, LOINC_CSV)
    ]


def read_vaccines(seed_dir: Path) -> list[VaccineCode]:
    return [
        VaccineCode(r["code"], r["display_en"], r["display_vi"], r["schedule"], r["programme"])
        for r in _rows(seed_dir, VACCINES_CSV)
    ]


def read_encounter_classes(seed_dir: Path) -> list[Code]:
    return [
        Code(r["code"], r["display_en"], r["display_vi"])
        for r in _rows(seed_dir, ENCOUNTER_CLASSES_CSV)
    ]
