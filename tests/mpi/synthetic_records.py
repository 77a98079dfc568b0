"""Facility records of the synthetic population, with the errors real registration desks make.

Each person is seen by one to five facilities; each facility writes its own FHIR Patient,
and each record independently suffers the errors below at the rates of ``ErrorRates``:
diacritics dropped (an old system, a hurried clerk), names in capitals, the given name
written before the middle name, the middle name left out, the whole name in one box, a
one-letter typo, the day and month of birth swapped, one part of the birth date wrong, only
the birth year known, the old (pre-2025) province or commune name, the province as a code
(sometimes the old code), a missing phone, commune or address, a move to another commune
or province, and the CCCD present in only a share of records. Phone numbers are written in
every format Vietnamese forms show (``+84 912 345 678``, ``0912.345.678`` ...).

``SyntheticRecord.person`` is the truth label. Records never carry it, so the matcher
cannot peek.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from synthetic_people import Person, Population, PopulationParams, generate_population

from ehr.fhir.identifiers import CCCD
from ehr.registry import EXT_PROVINCE_CODE, PROVINCE_SYSTEM
from ehr.registry.provinces import strip_division
from ehr.text import normalize

LETTERS = "abcdeghiklmnopqrstuvxy"
"""The Vietnamese alphabet without diacritics (no f, j, w, z)."""


@dataclass(frozen=True)
class ErrorRates:
    """Per-record probabilities of each kind of error (independent of each other)."""

    records_per_person: tuple[float, ...] = (0.30, 0.30, 0.20, 0.12, 0.08)
    """Weights for 1, 2, 3, 4 and 5 records of one person."""
    no_diacritics: float = 0.30
    upper_case: float = 0.15
    given_first: float = 0.05
    middle_dropped: float = 0.03
    name_in_one_box: float = 0.10
    given_typo: float = 0.03
    family_typo: float = 0.02
    day_month_swap: float = 0.03
    birth_part_wrong: float = 0.01
    year_only: float = 0.02
    missing_sex: float = 0.01
    missing_phone: float = 0.25
    missing_address: float = 0.10
    missing_commune: float = 0.10
    old_province_name: float = 0.35
    old_commune_name: float = 0.10
    province_as_code: float = 0.40
    moved: float = 0.03
    moved_within_province: float = 0.4
    """Of the moves, the share to another commune of the same province (an assumption)."""
    cccd: float = 0.55


@dataclass(frozen=True)
class SyntheticRecord:
    id: str
    person: str
    """The truth: the id of the person this record is about."""
    patient: dict[str, Any]


def _fold(text: str) -> str:
    """``Nguyễn Văn`` -> ``Nguyen Van``: how a system without Vietnamese input writes it."""
    return " ".join(normalize(word).capitalize() for word in text.split())


def typo(rng: random.Random, word: str) -> str:
    """One slip of the finger: a letter substituted, dropped, doubled or swapped."""
    if len(word) < 2:
        return word + rng.choice(LETTERS)
    i = rng.randrange(1, len(word))
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + rng.choice(LETTERS) + word[i + 1 :]
    if kind == 1 and len(word) > 2:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]


def _phone_text(rng: random.Random, number: str) -> str:
    subscriber = number[1:]
    return rng.choice(
        (
            number,
            f"{number[:4]} {number[4:7]} {number[7:]}",
            f"{number[:4]}.{number[4:7]}.{number[7:]}",
            f"+84 {subscriber[:3]} {subscriber[3:6]} {subscriber[6:]}",
            f"84{subscriber}",
            f"(+84) {subscriber[:3]}-{subscriber[3:6]}-{subscriber[6:]}",
        )
    )


class _Renderer:
    def __init__(self, rng: random.Random, errors: ErrorRates, population: Population) -> None:
        self.rng, self.errors = rng, errors
        self.others = population.persons
        self.neighbours: dict[str, list[Person]] = {}
        for person in population.persons:
            self.neighbours.setdefault(person.province.code, []).append(person)

    def chance(self, name: str) -> bool:
        return self.rng.random() < getattr(self.errors, name)

    def name(self, person: Person) -> dict[str, Any]:
        family, given = person.family, [*person.middle, person.given]
        if self.chance("family_typo"):
            family = typo(self.rng, family)
        if self.chance("given_typo"):
            i = self.rng.randrange(len(given))
            given[i] = typo(self.rng, given[i])
        if self.chance("middle_dropped"):
            given = given[-1:]
        elif self.chance("given_first"):
            given = given[-1:] + given[:-1]
        fold, upper = self.chance("no_diacritics"), self.chance("upper_case")

        def style(text: str) -> str:
            text = _fold(text) if fold else text
            return text.upper() if upper else text

        full = style(" ".join([family, *given]))
        if self.chance("name_in_one_box"):
            return {"use": "official", **self.rng.choice(({"text": full}, {"family": full}))}
        parts = self.rng.choice(([style(" ".join(given))], [style(word) for word in given]))
        return {"use": "official", "text": full, "family": style(family), "given": parts}

    def birth(self, person: Person) -> str:
        year, month, day = person.birth.year, person.birth.month, person.birth.day
        if self.chance("year_only"):
            return f"{year:04d}"
        if self.chance("day_month_swap") and day <= 12:
            month, day = day, month
        if self.chance("birth_part_wrong"):
            part = self.rng.randrange(3)
            year = year + self.rng.choice((-1, 1)) if part == 0 else year
            month = (month % 12) + 1 if part == 1 else month
            day = min(28, day % 28 + 1) if part == 2 else day
        return f"{year:04d}-{month:02d}-{day:02d}"

    def address(self, person: Person, home: Person) -> dict[str, Any]:
        rng = self.rng
        province = home.province
        address: dict[str, Any] = {"use": "home", "line": [home.street], "country": "VN"}
        old_form = self.chance("old_province_name")
        if self.chance("province_as_code"):
            code = rng.choice(province.old_codes) if old_form else province.code
            coding = {"system": PROVINCE_SYSTEM, "code": code}
            address["extension"] = [{"url": EXT_PROVINCE_CODE, "valueCoding": coding}]
        else:
            name = home.old_province_name if old_form else province.name
            address["state"] = rng.choice((name, strip_division(name)))
        if not self.chance("missing_commune"):
            commune = (
                home.old_commune if old_form and self.chance("old_commune_name") else home.commune
            )
            kind, place = commune.split(" ", 1)
            address["city"] = rng.choice((commune, f"{kind[0]}. {place}", place, commune.lower()))
        if self.chance("no_diacritics"):
            address = {k: _fold(v) if k in ("state", "city") else v for k, v in address.items()}
        return address

    def patient(self, person: Person, record_id: str) -> dict[str, Any]:
        errors, rng = self.errors, self.rng
        moved = self.chance("moved")
        home = person
        if moved:
            near = rng.random() < errors.moved_within_province
            home = rng.choice(self.neighbours[person.province.code] if near else self.others)
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "id": record_id,
            "identifier": [{"system": "urn:ehr:test:mrn", "value": record_id}],
            "name": [self.name(person)],
            "birthDate": self.birth(person),
        }
        if not self.chance("missing_sex"):
            patient["gender"] = person.sex
        if rng.random() < errors.cccd:
            patient["identifier"].append({"system": CCCD, "value": person.cccd})
        if not self.chance("missing_phone"):
            number = person.record_phone
            if moved and rng.random() < 0.5:  # a new number with the new home
                number = "09" + f"{rng.randrange(10**8):08d}"
            patient["telecom"] = [{"system": "phone", "value": _phone_text(rng, number)}]
        if not self.chance("missing_address"):
            patient["address"] = [self.address(person, home)]
        return patient


def labelled_records(
    population: Population, errors: ErrorRates | None = None, seed: int = 1
) -> list[SyntheticRecord]:
    """Every facility record of every person, with its truth label, in a shuffled order."""
    errors = errors or ErrorRates()
    rng = random.Random(seed)
    renderer = _Renderer(rng, errors, population)
    counts = range(1, len(errors.records_per_person) + 1)
    records: list[SyntheticRecord] = []
    for person in population.persons:
        for _ in range(rng.choices(counts, errors.records_per_person)[0]):
            record_id = f"R{len(records):06d}"
            records.append(
                SyntheticRecord(record_id, person.id, renderer.patient(person, record_id))
            )
    rng.shuffle(records)
    return records


def synthetic_dataset(
    params: PopulationParams | None = None, errors: ErrorRates | None = None
) -> tuple[Population, list[SyntheticRecord]]:
    """The population and its labelled records, from fixed seeds."""
    population = generate_population(params)
    return population, labelled_records(population, errors, seed=population_seed(params))


def population_seed(params: PopulationParams | None) -> int:
    return (params or PopulationParams()).seed + 1
