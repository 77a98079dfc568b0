"""The 63 -> 34 ConceptMap and the two province CodeSystems agree with the seed tables."""

from __future__ import annotations

import csv

from ehr.config import Settings
from ehr.conformance.value_sets import province_concept_map
from ehr.mpi.features import default_province_index
from ehr.registry import LEGACY_PROVINCE_SYSTEM, PROVINCE_SYSTEM
from ehr.registry.provinces import read_provinces
from ehr.registry.resources import code_systems

SEED = Settings().seed_dir
PROVINCES = read_provinces(SEED)
MAP = province_concept_map(PROVINCES)
SYSTEMS = {system["url"]: system for system in code_systems(PROVINCES)}


def _codes(url: str) -> list[str]:
    return [concept["code"] for concept in SYSTEMS[url]["concept"]]


def test_every_one_of_the_63_old_codes_maps_to_exactly_one_of_the_34():
    (group,) = MAP["group"]
    assert (group["source"], group["target"]) == (LEGACY_PROVINCE_SYSTEM, PROVINCE_SYSTEM)
    sources = [element["code"] for element in group["element"]]
    assert len(sources) == 63 and sorted(sources) == sorted(set(sources))
    assert sources == _codes(LEGACY_PROVINCE_SYSTEM)
    new_codes = set(_codes(PROVINCE_SYSTEM))
    assert len(new_codes) == 34
    for element in group["element"]:
        assert len(element["target"]) == 1, element["code"]
        assert element["target"][0]["code"] in new_codes
    assert {element["target"][0]["code"] for element in group["element"]} == new_codes


def test_the_mapping_is_the_one_the_cccd_table_and_the_person_index_use():
    with (SEED / "cccd_birth_province_codes.csv").open(encoding="utf-8", newline="") as handle:
        cccd = {row["old_gso_code"]: row["new_code_2025"] for row in csv.DictReader(handle)}
    mapped = {e["code"]: e["target"][0]["code"] for e in MAP["group"][0]["element"]}
    assert mapped == cccd
    index = default_province_index(SEED)
    assert all(index.by_code(old) == new for old, new in mapped.items())


def test_merged_provinces_map_wider_and_unchanged_ones_equivalent():
    equivalence = {e["code"]: e["target"][0]["equivalence"] for e in MAP["group"][0]["element"]}
    assert equivalence["01"] == "equivalent"  # Hà Nội kept its territory
    assert equivalence["02"] == equivalence["08"] == "wider"  # Hà Giang + Tuyên Quang
    merged = {code for p in PROVINCES if len(p.old_codes) > 1 for code in p.old_codes}
    assert {code for code, e in equivalence.items() if e == "wider"} == merged
