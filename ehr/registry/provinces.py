"""The 34 provinces of the 2025 scheme: typed rows from ``seed/`` and their ``Location`` resources.

Since 1 July 2025 Vietnam has 34 provinces; most of them merge two or three of the old 63.
History never goes away: CCCD numbers keep encoding the *old* birth province (PRODUCT.md
section 3) and health-insurance facility codes keep their old 2-digit prefix, so every
province row carries its legacy codes, names and CCCD prefixes next to the 2025 code.
The CSV is the source of truth (``population_estimate`` is the indicator denominator,
PRODUCT.md section 4); nothing here hard-codes a province.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehr.registry import (
    EXT_CCCD_BIRTH_PREFIXES,
    EXT_LEGACY_PROVINCE_CODES,
    EXT_POPULATION_ESTIMATE,
    EXT_PROVINCE_CODE,
    JURISDICTION,
    PROVINCE_SID,
    PROVINCE_SYSTEM,
)

PROVINCES_CSV = "provinces_34.csv"
CCCD_CODES_CSV = "cccd_birth_province_codes.csv"
CITY = "thành phố trung ương"
"""``division_type`` of a centrally governed city (the others are ``tỉnh``)."""


@dataclass(frozen=True)
class Province:
    """One row of ``provinces_34.csv``."""

    code: str
    """2-digit 2025 province code, e.g. ``79``."""
    name: str
    """Official name with its division, e.g. ``Thành phố Hồ Chí Minh``."""
    division_type: str
    codename: str
    phone_code: str
    wards_2025: int
    """Communes and wards after the 2025 reform (each has a health station)."""
    legacy_communes: int
    """Communes and wards before the reform (the old stations mostly still operate)."""
    old_codes: tuple[str, ...]
    """2-digit codes of the old provinces merged into this one (itself included)."""
    old_names: tuple[str, ...]
    cccd_birth_prefixes: tuple[str, ...]
    population: int
    population_basis: str
    population_estimate: int
    """The denominator of the EHR coverage rate."""

    @property
    def short_name(self) -> str:
        """The name without its division word: ``Hồ Chí Minh``."""
        return strip_division(self.name)

    @property
    def is_city(self) -> bool:
        return self.division_type == CITY

    @property
    def aliases(self) -> tuple[str, ...]:
        """Old names that differ from the current one (what people still write on forms)."""
        return tuple(old for old in self.old_names if old != self.name)


@dataclass(frozen=True)
class CccdBirthCode:
    """One row of ``cccd_birth_province_codes.csv``: a CCCD prefix and where it lives now."""

    prefix: str
    old_code: str
    old_province: str
    new_code: str
    new_province: str


def strip_division(name: str) -> str:
    """``Tỉnh Hà Giang`` -> ``Hà Giang``; ``Thành phố Huế`` -> ``Huế``."""
    for word in ("Thành phố ", "Tỉnh "):
        if name.startswith(word):
            return name[len(word) :]
    return name


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(";") if part.strip())


def read_provinces(seed_dir: Path) -> list[Province]:
    """The provinces of ``seed_dir/provinces_34.csv``, in file (code) order."""
    with (seed_dir / PROVINCES_CSV).open(encoding="utf-8", newline="") as handle:
        return [
            Province(
                code=row["code"],
                name=row["name"],
                division_type=row["division_type"],
                codename=row["codename"],
                phone_code=row["phone_code"],
                wards_2025=int(row["wards_2025"]),
                legacy_communes=int(row["legacy_communes_pre2025"]),
                old_codes=_split(row["old_codes"]),
                old_names=_split(row["old_names"]),
                cccd_birth_prefixes=_split(row["cccd_birth_prefixes"]),
                population=int(row["population"]),
                population_basis=row["population_basis"],
                population_estimate=int(row["population_estimate"]),
            )
            for row in csv.DictReader(handle)
        ]


def read_cccd_birth_codes(seed_dir: Path) -> dict[str, CccdBirthCode]:
    """CCCD birth-province prefixes (old 63-province scheme) by prefix, e.g. ``"002"``."""
    with (seed_dir / CCCD_CODES_CSV).open(encoding="utf-8", newline="") as handle:
        rows = [
            CccdBirthCode(
                prefix=row["cccd_prefix"],
                old_code=row["old_gso_code"],
                old_province=row["old_province"],
                new_code=row["new_code_2025"],
                new_province=row["new_province"],
            )
            for row in csv.DictReader(handle)
        ]
    return {row.prefix: row for row in rows}


def province_coding(province: Province) -> dict[str, str]:
    return {"system": PROVINCE_SYSTEM, "code": province.code, "display": province.name}


def province_address(province: Province) -> dict[str, Any]:
    """The address element every registry resource carries: the province, coded.

    ``state`` holds the name for people and for the standard ``address-state`` search; the
    extension holds the code that indicators group by, so a renamed province does not
    split a series.
    """
    return {
        "extension": [{"url": EXT_PROVINCE_CODE, "valueCoding": province_coding(province)}],
        "state": province.name,
        "country": "VN",
    }


def province_location_id(code: str) -> str:
    return f"prov-{code}"


def province_location(province: Province) -> dict[str, Any]:
    """The jurisdiction ``Location`` of a province, with its history and denominator."""
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": province_location_id(province.code),
        "extension": [
            {"url": EXT_POPULATION_ESTIMATE, "valueInteger": province.population_estimate},
            {"url": EXT_LEGACY_PROVINCE_CODES, "valueString": ";".join(province.old_codes)},
            {
                "url": EXT_CCCD_BIRTH_PREFIXES,
                "valueString": ";".join(province.cccd_birth_prefixes),
            },
        ],
        "identifier": [{"system": PROVINCE_SID, "value": province.code}],
        "status": "active",
        "name": province.name,
        **({"alias": list(province.aliases)} if province.aliases else {}),
        "mode": "instance",
        "physicalType": {"coding": [dict(JURISDICTION)]},
        "address": province_address(province),
    }
    return location
