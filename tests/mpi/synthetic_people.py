"""A synthetic Vietnamese population in households: the truth the matcher is measured against.

People live in households spread over the 34 provinces by population
(``seed/provinces_34.csv``), each in one of its communes. The households are where the
matcher's hard cases come from:

- children carry the father's family name and, until they have their own phone, a parent's
  number: siblings and parents share family name, address and phone;
- twins share all of that *and* the birth date, often the middle name and sometimes the
  sex; only the given name differs (the test demands they never auto-link);
- given names are drawn with Zipf-like popularity, so strangers share full names often
  enough to matter.

Everything comes from one ``random.Random(seed)``: the same parameters give the same people
on every machine. ``tests/mpi/synthetic_records.py`` turns persons into facility records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from synthetic_names import family_name, given_name, middle_names

from ehr.config import Settings
from ehr.registry.names import PLACE_NAMES
from ehr.registry.provinces import Province, read_provinces

_PREFIXES = "090 091 093 094 096 097 098 032 033 034 035 036 037 038 039 070 076 077 078 079"
MOBILE_PREFIXES = (*_PREFIXES.split(), "081", "082", "083", "084", "085", "086", "088", "089")
REFERENCE_YEAR = 2025


@dataclass(frozen=True)
class PopulationParams:
    households: int = 1600
    seed: int = 20250701
    single_share: float = 0.15
    """Households of one adult (with or without children)."""
    children_weights: tuple[float, ...] = (0.15, 0.30, 0.40, 0.15)
    """Weights for 0, 1, 2 and 3 children."""
    twin_share: float = 0.05
    """Households with children that have a pair of twins (real births: ~1.5%; raised so
    the quality test sees a few hundred twin pairs)."""
    twins_same_sex: float = 0.65
    twins_same_middle: float = 0.7
    own_phone_from_age: int = 16
    own_phone_share: float = 0.85
    """Adults (and teenagers) with a phone of their own; the others use the household's."""


@dataclass(frozen=True)
class Person:
    id: str
    household: int
    family: str
    middle: tuple[str, ...]
    given: str
    sex: str
    birth: date
    province: Province
    old_province_name: str
    """The pre-2025 province of the home (what old forms still say)."""
    commune: str
    old_commune: str
    """The commune's name before the 2025 merger of communes."""
    street: str
    phone: str | None
    household_phone: str
    cccd: str
    twin: str | None = None

    @property
    def record_phone(self) -> str:
        """The number a facility writes down: one's own, or the household's."""
        return self.phone or self.household_phone


@dataclass(frozen=True)
class Population:
    persons: tuple[Person, ...]
    twins: frozenset[frozenset[str]] = field(default_factory=frozenset)

    def by_id(self) -> dict[str, Person]:
        return {person.id: person for person in self.persons}


@dataclass
class _Home:
    province: Province
    old_province_name: str
    commune: str
    old_commune: str
    street: str
    phone: str


class _Builder:
    def __init__(self, params: PopulationParams) -> None:
        self.params = params
        self.rng = random.Random(params.seed)
        self.provinces = read_provinces(Settings().seed_dir)
        self.weights = [p.population_estimate for p in self.provinces]
        self.communes: dict[str, list[str]] = {}
        self.persons: list[Person] = []
        self.twins: set[frozenset[str]] = set()

    def phone(self) -> str:
        return self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"

    def commune_list(self, province: Province) -> list[str]:
        """The communes of a province: place names, unique within it, as many as the real."""
        if province.code not in self.communes:
            local = random.Random(f"{self.params.seed}-{province.code}")
            names = local.sample(PLACE_NAMES, province.wards_2025)
            ward_share = 0.6 if province.is_city else 0.2
            self.communes[province.code] = [
                ("Phường " if local.random() < ward_share else "Xã ") + name for name in names
            ]
        return self.communes[province.code]

    def home(self) -> _Home:
        rng = self.rng
        province = rng.choices(self.provinces, self.weights)[0]
        communes = self.commune_list(province)
        commune = rng.choice(communes)
        old_commune = commune.split(" ", 1)[0] + " " + rng.choice(PLACE_NAMES)
        way = rng.choice(("Đường", "Thôn", "Tổ"))
        street = f"{rng.randrange(1, 300)} {way} {rng.choice(PLACE_NAMES)}"
        return _Home(
            province, rng.choice(province.old_names), commune, old_commune, street, self.phone()
        )

    def cccd(self, home: _Home, sex: str, birth: date) -> str:
        prefix = self.rng.choice(home.province.cccd_birth_prefixes)
        century = (birth.year // 100 - 19) * 2 + (sex == "female")
        return f"{prefix}{century}{birth.year % 100:02d}{self.rng.randrange(10**6):06d}"

    def person(
        self,
        household: int,
        home: _Home,
        *,
        family: str,
        sex: str,
        birth: date,
        middle: tuple[str, ...] | None = None,
        avoid: tuple[str, ...] = (),
        head: bool = False,
    ) -> Person:
        rng, params = self.rng, self.params
        age = REFERENCE_YEAR - birth.year
        has_phone = age >= params.own_phone_from_age and rng.random() < params.own_phone_share
        middle = middle or middle_names(rng, sex)
        person = Person(
            id=f"P{len(self.persons):06d}",
            household=household,
            family=family,
            middle=middle,
            given=given_name(rng, sex, (*avoid, *middle)),  # no "Minh Minh"
            sex=sex,
            birth=birth,
            province=home.province,
            old_province_name=home.old_province_name,
            commune=home.commune,
            old_commune=home.old_commune,
            street=home.street,
            phone=home.phone if head else (self.phone() if has_phone else None),
            household_phone=home.phone,
            cccd=self.cccd(home, sex, birth),
        )
        self.persons.append(person)
        return person

    def birth(self, low: int, high: int) -> date:
        start = date(low, 1, 1)
        return start + timedelta(days=self.rng.randrange((date(high, 12, 31) - start).days))

    def household(self, number: int) -> None:
        rng, params = self.rng, self.params
        home = self.home()
        head_sex = "male" if rng.random() < 0.8 else "female"
        head_birth = self.birth(1945, 2000)
        head = self.person(
            number, home, family=family_name(rng), sex=head_sex, birth=head_birth, head=True
        )
        adults = [head]
        if rng.random() >= params.single_share:
            spouse_year = min(2000, max(1940, head_birth.year + rng.randint(-3, 6)))
            spouse_sex = "female" if head_sex == "male" else "male"
            spouse_birth = self.birth(spouse_year, spouse_year)
            adults.append(
                self.person(
                    number, home, family=family_name(rng), sex=spouse_sex, birth=spouse_birth
                )
            )
        father = next((a for a in adults if a.sex == "male"), head)
        youngest = max(a.birth.year for a in adults)
        count = rng.choices(range(len(params.children_weights)), params.children_weights)[0]
        twins_at = rng.randrange(count) if count and rng.random() < params.twin_share else -1
        # Naming a child after a parent or a sibling is taboo in Vietnam (kiêng tên).
        taboo = [adult.given for adult in adults]
        year = youngest + rng.randint(20, 32)
        for child in range(count):
            if year > REFERENCE_YEAR - 1:
                break
            birth = self.birth(year, year)
            sex = rng.choice(("male", "female"))
            first = self.person(
                number, home, family=father.family, sex=sex, birth=birth, avoid=tuple(taboo)
            )
            taboo.append(first.given)
            if child == twins_at:
                taboo.append(self.twin(number, home, first, tuple(taboo)).given)
            year += rng.randint(1, 5)

    def twin(self, household: int, home: _Home, first: Person, taboo: tuple[str, ...]) -> Person:
        rng, params = self.rng, self.params
        same_sex = rng.random() < params.twins_same_sex
        sex = first.sex if same_sex else ("female" if first.sex == "male" else "male")
        middle = first.middle if same_sex and rng.random() < params.twins_same_middle else None
        second = self.person(
            household,
            home,
            family=first.family,
            sex=sex,
            birth=first.birth,
            middle=middle,
            avoid=(first.given, *taboo),
        )
        self.persons[-1] = second = replace(second, twin=first.id)
        index = len(self.persons) - 2  # the first twin was added just before
        self.persons[index] = replace(first, twin=second.id)
        self.twins.add(frozenset({first.id, second.id}))
        return second


def generate_population(params: PopulationParams | None = None) -> Population:
    """The persons of ``params.households`` households, with the twin pairs among them."""
    builder = _Builder(params or PopulationParams())
    for number in range(builder.params.households):
        builder.household(number)
    return Population(tuple(builder.persons), frozenset(builder.twins))
