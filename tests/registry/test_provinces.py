"""The province table from ``seed/`` and the province ``Location`` resources built from it."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from ehr.config import REPO_ROOT, Settings
from ehr.fhir.validate import validate_structure
from ehr.registry import (
    EXT_CCCD_BIRTH_PREFIXES,
    EXT_LEGACY_PROVINCE_CODES,
    EXT_POPULATION_ESTIMATE,
    EXT_PROVINCE_CODE,
    PROVINCE_SID,
)
from ehr.registry.provinces import province_location, read_cccd_birth_codes

SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference"


def _extension(resource: dict, url: str) -> object:
    (value,) = [e for e in resource["extension"] if e["url"] == url]
    return next(v for k, v in value.items() if k.startswith("value"))


def test_the_34_provinces_of_2025_with_the_63_old_ones_behind_them(provinces):
    assert len(provinces) == 34
    assert len({p.code for p in provinces}) == 34
    old = [code for p in provinces for code in p.old_codes]
    assert len(old) == len(set(old)) == 63
    assert all(len(p.old_codes) == len(p.old_names) for p in provinces)
    assert 100_000_000 < sum(p.population_estimate for p in provinces) < 103_000_000
    assert sum(p.wards_2025 for p in provinces) == 3321


def test_cccd_prefixes_agree_with_the_province_table(provinces):
    codes = read_cccd_birth_codes(Settings().seed_dir)
    assert len(codes) == 63
    for province in provinces:
        mine = {prefix for prefix, row in codes.items() if row.new_code == province.code}
        assert mine == set(province.cccd_birth_prefixes), province.code


@pytest.mark.parametrize("name", ["provinces_34.csv", "cccd_birth_province_codes.csv"])
def test_seed_files_are_copies_of_the_shared_reference(name):
    shared = SHARED_REFERENCE / name
    if not shared.exists():
        pytest.skip(f"no shared reference next to the repository ({shared})")
    assert filecmp.cmp(shared, Path(Settings().seed_dir) / name, shallow=False)


def test_province_location_shape(provinces):
    by_code = {p.code: p for p in provinces}
    location = province_location(by_code["79"])
    validate_structure(location)
    assert location["id"] == "prov-79"
    assert location["identifier"] == [{"system": PROVINCE_SID, "value": "79"}]
    assert location["physicalType"]["coding"][0]["code"] == "jdn"
    assert location["name"] == "Thành phố Hồ Chí Minh"
    assert location["alias"] == ["Tỉnh Bình Dương", "Tỉnh Bà Rịa - Vũng Tàu"]
    assert _extension(location, EXT_POPULATION_ESTIMATE) == 12_387_100
    assert _extension(location, EXT_LEGACY_PROVINCE_CODES) == "74;77;79"
    assert _extension(location, EXT_CCCD_BIRTH_PREFIXES) == "074;077;079"
    coding = location["address"]["extension"][0]
    assert coding["url"] == EXT_PROVINCE_CODE and coding["valueCoding"]["code"] == "79"


def test_an_unmerged_province_has_no_alias_and_every_location_is_valid(provinces):
    assert "alias" not in province_location(next(p for p in provinces if p.code == "04"))
    for province in provinces:
        validate_structure(province_location(province))
