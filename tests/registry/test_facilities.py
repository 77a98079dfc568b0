"""The synthetic registry: national totals, spread over provinces, codes, and valid resources."""

from __future__ import annotations

import re
import statistics
from collections import Counter

import pytest

from ehr.fhir.validate import validate_structure
from ehr.registry import (
    EXT_PROVINCE_CODE,
    FACILITY_CODE,
    FACILITY_KIND_SYSTEM,
    FACILITY_LEVEL_SYSTEM,
    MA_CSKCB,
)
from ehr.registry.facilities import KINDS, LEVELS, apportion, generate_registry, plan_registry
from ehr.registry.resources import organization, site_location


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    for rank, index in enumerate(order):
        ranks[index] = float(rank)
    return ranks


def test_national_totals_match_the_real_system(registry):
    kinds = Counter(f.kind for f in registry)
    levels = Counter(f.level for f in registry)
    assert 1600 <= kinds["hospital"] <= 1700
    assert 10_700 <= kinds["health-station"] + kinds["clinic"] <= 11_300
    assert 45 <= levels["central"] <= 60
    assert set(levels) == set(LEVELS) and set(kinds) == set(KINDS)
    assert 0 < sum(not f.active for f in registry) < 0.02 * len(registry)


def test_every_province_has_a_provincial_hospital_per_old_province(provinces, registry):
    provincial = {(f.province.code, f.code[:2]) for f in registry if f.level == "provincial"}
    for province in provinces:
        for old_code in province.old_codes:
            assert (province.code, old_code) in provincial, (province.name, old_code)


def test_central_hospitals_are_in_their_real_provinces(registry):
    central = {f.name: f.province.code for f in registry if f.level == "central"}
    assert central["Bệnh viện Bạch Mai"] == "01"
    assert central["Bệnh viện Chợ Rẫy"] == "79"
    assert central["Bệnh viện Trung ương Huế"] == "46"


def test_commune_level_care_follows_population(provinces, registry):
    per_province = Counter(f.province.code for f in registry if f.level == "commune")
    per_province.update(f.province.code for f in registry if f.kind == "clinic")
    population = [float(p.population_estimate) for p in provinces]
    counts = [float(per_province[p.code]) for p in provinces]
    assert statistics.correlation(population, counts) > 0.8
    assert statistics.correlation(_ranks(population), _ranks(counts)) > 0.8
    for province in provinces:
        stations = sum(
            1 for f in registry if f.province.code == province.code and f.level == "commune"
        )
        assert stations >= province.wards_2025, "every 2025 commune has its station"


def test_codes_are_unique_five_digits_under_an_old_province_prefix(registry):
    codes = [f.code for f in registry]
    assert len(set(codes)) == len(codes)
    for facility in registry:
        assert re.fullmatch(r"\d{5}", facility.code)
        assert facility.code[:2] in facility.province.old_codes
        assert facility.code[2:] != "000"


def test_generation_is_deterministic_and_a_province_filter_changes_nothing(provinces, registry):
    assert generate_registry(provinces) == registry
    subset = generate_registry(provinces, province_codes={"12", "79"})
    assert subset == [f for f in registry if f.province.code in {"12", "79"}]


def test_scale_shrinks_the_registry_but_keeps_a_hospital_per_province(provinces):
    small = generate_registry(provinces, scale=0.1)
    assert 1000 < len(small) < 2200
    assert {f.province.code for f in small if f.level == "provincial"} == {
        p.code for p in provinces
    }
    assert plan_registry(provinces, 0.1)["12"].stations >= 4


def test_apportion_adds_up_and_respects_floors():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(10, [1, 0, 3], [2, 2, 2]) == [3, 2, 5]
    assert apportion(3, [1, 1], [2, 2]) == [2, 2]
    assert sum(apportion(11_000, [0.3, 0.2, 0.5])) == 11_000


def test_organization_shape(registry):
    facility = next(f for f in registry if f.name == "Bệnh viện Chợ Rẫy")
    org = organization(facility)
    assert org["id"] == f"fac-{facility.code}"
    assert org["identifier"][0] == {
        "use": "official",
        "system": FACILITY_CODE,
        "value": facility.code,
    }
    assert org["identifier"][1] == {"system": MA_CSKCB, "value": facility.code}
    assert org["type"][0]["coding"][0] == {
        "system": FACILITY_LEVEL_SYSTEM,
        "code": "central",
        "display": LEVELS["central"][0],
    }
    assert org["type"][1]["coding"][0]["system"] == FACILITY_KIND_SYSTEM
    (address,) = org["address"]
    assert address["state"] == "Thành phố Hồ Chí Minh" and address["country"] == "VN"
    assert address["extension"][0]["url"] == EXT_PROVINCE_CODE
    assert address["extension"][0]["valueCoding"]["code"] == "79"
    site = site_location(facility)
    assert site["id"] == f"loc-{facility.code}"
    assert site["managingOrganization"]["reference"] == f"Organization/fac-{facility.code}"
    assert site["partOf"]["reference"] == "Location/prov-79"


@pytest.mark.parametrize("build", [organization, site_location], ids=["Organization", "Location"])
def test_every_facility_resource_is_valid_r4(registry, build):
    for facility in registry:
        validate_structure(build(facility))


def test_names_are_unique_within_a_province(registry):
    names = Counter((f.province.code, f.name) for f in registry)
    assert max(names.values()) == 1
