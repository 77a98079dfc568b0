"""The synthetic national facility registry: deterministic, sized and spread like the real one.

Vietnam has about 1,650 hospitals and about 12,700 facilities under health insurance, most
of them commune health stations (PRODUCT.md section 7). The generator reproduces that
shape so that indicators per province and per level look like the real thing:

- central (Ministry and other ministries' hospitals): a fixed list of real hospitals in
  their real provinces (``ehr.registry.names``), about 50;
- provincial: one general hospital per *old* province (so each of the 34 has at least
  one, and merged provinces have two or three), the rest in proportion to population;
- regional (former district hospitals, "Trung tâm Y tế khu vực"): in proportion to the old
  commune count (a proxy for the old districts) and population; the hospitals add up to
  ``HOSPITALS``;
- private hospitals, and private clinics: in proportion to population^1.3, because private
  care concentrates in big cities;
- commune health stations: one per 2025 commune or ward (``wards_2025``), plus the stations
  of merged communes that keep working, in proportion to population and merged communes.

Facility codes. The facility code (``Organization.identifier`` with system
``FACILITY_CODE``, also the SMART client id, and the ``fac-<code>`` id) *is* the 5-digit
health-insurance facility code (mã cơ sở KCB, system ``MA_CSKCB``): facility systems
already print it on every insurance claim, so there is one number to configure. The two
identifiers stay separate so that a facility without an insurance contract can be given a
code of another form later. The 5-digit code is ``PP`` + ``SSS``: ``PP`` the 2-digit code of
the *old* (63-province) province the facility was registered in, ``SSS`` a serial from 001
within that prefix. Codes are not reissued when provinces merge, so the prefix of a
facility in today's Hồ Chí Minh City can be 74, 77 or 79; the 2025 province is always read
from the registry (the address extension), never from the code. A prefix holds at most 999
facilities; generation fails loudly rather than reuse or widen a code.

Every number comes from a ``random.Random`` seeded per province, so the same CSV gives the
same registry on every machine, and a province filter yields the same facilities as the
full run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import cycle

from ehr.registry.names import (
    CENTRAL_HOSPITALS,
    CITY_HOSPITALS,
    PRIVATE_SPECIALTIES,
    SPECIALTIES,
    NameBook,
    with_division,
)
from ehr.registry.provinces import Province

SEED = "ehr-registry-2025"
HOSPITALS = 1650
PROVINCIAL = 480
PRIVATE_HOSPITALS = 380
STATIONS = 9500
CLINICS = 1500
"""National targets at scale 1: 1,650 hospitals and 11,000 stations and clinics."""
INACTIVE_SHARE = 0.01
"""Stations and private facilities that have closed or lost their contract."""
MAX_SERIAL = 999

LEVELS: dict[str, tuple[str, str]] = {
    "central": ("Tuyến trung ương", "Hospitals run by the Ministry of Health or another ministry."),
    "provincial": ("Tuyến tỉnh", "Hospitals run by a province or centrally governed city."),
    "regional": (
        "Tuyến khu vực",
        "Former district hospitals and regional medical centres (the district level was "
        "abolished on 1 July 2025).",
    ),
    "commune": ("Tuyến xã", "Commune and ward health stations."),
    "private": ("Tư nhân", "Private hospitals and clinics."),
}
"""``facility-level`` codes: (Vietnamese display, English definition)."""
KINDS: dict[str, tuple[str, str]] = {
    "hospital": ("Bệnh viện", "A hospital or medical centre with inpatient beds."),
    "health-station": ("Trạm y tế", "A commune or ward health station."),
    "clinic": ("Phòng khám", "An outpatient clinic."),
}
"""``facility-kind`` codes: hospitals had an earlier EMR deadline than everything else."""


@dataclass(frozen=True)
class Facility:
    """One registered facility, before it becomes an ``Organization`` and a ``Location``."""

    code: str
    """The facility code, equal to the 5-digit insurance code (see the module docstring)."""
    name: str
    level: str
    kind: str
    province: Province
    active: bool = True

    @property
    def ma_cskcb(self) -> str:
        return self.code

    @property
    def organization_id(self) -> str:
        return f"fac-{self.code}"

    @property
    def location_id(self) -> str:
        return f"loc-{self.code}"


@dataclass(frozen=True)
class Plan:
    """How many facilities of each sort one province gets (central ones come from the list)."""

    provincial: int
    regional: int
    private_hospitals: int
    stations: int
    clinics: int


def apportion(total: int, weights: Sequence[float], floors: Sequence[int] = ()) -> list[int]:
    """``total`` split in proportion to ``weights`` after giving each its floor.

    Largest-remainder (Hamilton) rounding: the parts add up to ``total`` exactly (or to the
    floors, if they already exceed it), and equal weights get equal parts.
    """
    floors = list(floors) or [0] * len(weights)
    rest = max(0, total - sum(floors))
    weight_sum = sum(weights)
    exact = [rest * weight / weight_sum for weight in weights]
    parts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for index in by_remainder[: rest - sum(parts)]:
        parts[index] += 1
    return [floor + part for floor, part in zip(floors, parts, strict=True)]


def _shares(values: Sequence[float]) -> list[float]:
    total = sum(values)
    return [value / total for value in values]


def _blend(first: Sequence[float], second: Sequence[float]) -> list[float]:
    return [(a + b) / 2 for a, b in zip(_shares(first), _shares(second), strict=True)]


def plan_registry(provinces: Sequence[Province], scale: float = 1.0) -> dict[str, Plan]:
    """Facility counts per province code for the whole country, at ``scale`` of the targets."""
    population = [p.population_estimate for p in provinces]
    urban = [p.population_estimate**1.3 for p in provinces]
    merged = [max(p.legacy_communes - p.wards_2025, 0) for p in provinces]
    legacy = [p.legacy_communes for p in provinces]
    floor_share = min(scale, 1.0)

    provincial = apportion(
        round(PROVINCIAL * scale), population, [len(p.old_codes) for p in provinces]
    )
    regional_total = HOSPITALS - len(CENTRAL_HOSPITALS) - PROVINCIAL - PRIVATE_HOSPITALS
    regional = apportion(round(regional_total * scale), _blend(legacy, population))
    private = apportion(round(PRIVATE_HOSPITALS * scale), urban)
    stations = apportion(
        round(STATIONS * scale),
        _blend(population, merged),
        [math.ceil(p.wards_2025 * floor_share) for p in provinces],
    )
    clinics = apportion(round(CLINICS * scale), urban)
    return {
        p.code: Plan(provincial[i], regional[i], private[i], stations[i], clinics[i])
        for i, p in enumerate(provinces)
    }


def generate_registry(
    provinces: Sequence[Province],
    *,
    scale: float = 1.0,
    province_codes: Collection[str] | None = None,
) -> list[Facility]:
    """The registry of all ``provinces`` (or only those in ``province_codes``), in code order.

    The plan is always national, so a province's facilities do not depend on the filter.
    """
    plans = plan_registry(provinces, scale)
    facilities: list[Facility] = []
    for province in provinces:
        if province_codes is None or province.code in province_codes:
            facilities.extend(_ProvinceBuilder(province).build(plans[province.code]))
    return facilities


class _ProvinceBuilder:
    """Names and codes for one province's facilities, from the province's own random stream."""

    def __init__(self, province: Province) -> None:
        self.province = province
        self.rng = random.Random(f"{SEED}:{province.code}")
        self.names = NameBook(self.rng)
        self.serials: dict[str, int] = {}
        self.prefixes = cycle(province.old_codes)
        self.old_names = dict(zip(province.old_codes, province.old_names, strict=True))
        self.facilities: list[Facility] = []

    def build(self, plan: Plan) -> list[Facility]:
        for name, code, prefix in CENTRAL_HOSPITALS:
            if code == self.province.code:
                self._add(self.names.unique(name), "central", "hospital", prefix)
        for name, prefix in self._provincial_hospitals(plan.provincial):
            self._add(name, "provincial", "hospital", prefix)
        for _ in range(plan.regional):
            pattern = self.rng.choices(
                ("Trung tâm Y tế khu vực {}", "Bệnh viện Đa khoa khu vực {}"), (7, 3)
            )[0]
            self._add(self.names.place(pattern, "regional"), "regional", "hospital")
        for _ in range(plan.private_hospitals):
            specialty = self.rng.choice(PRIVATE_SPECIALTIES)
            name = self.names.brand(f"Bệnh viện {specialty} {{}}")
            self._add(name, "private", "hospital", inactive_share=INACTIVE_SHARE)
        ward_share = 0.45 if self.province.is_city else 0.12
        for _ in range(plan.stations):
            division = "phường" if self.rng.random() < ward_share else "xã"
            name = self.names.place(f"Trạm Y tế {division} {{}}", "station")
            self._add(name, "commune", "health-station", inactive_share=INACTIVE_SHARE)
        for _ in range(plan.clinics):
            if self.rng.random() < 0.5:
                name = self.names.brand("Phòng khám Đa khoa {}")
            else:
                name = self.names.place("Phòng khám Đa khoa {}")
            self._add(name, "private", "clinic", inactive_share=INACTIVE_SHARE)
        return self.facilities

    def _provincial_hospitals(self, count: int) -> list[tuple[str, str]]:
        """General hospitals of the old provinces first, then named city ones, specialties."""
        general: list[tuple[str, str]] = []
        named: list[tuple[str, str]] = []
        for prefix, old_name in self.old_names.items():
            city = CITY_HOSPITALS.get(prefix)
            if city:
                general.append((city[0], prefix))
                named.extend((name, prefix) for name in city[1:])
            else:
                general.append((f"Bệnh viện Đa khoa {with_division(old_name)}", prefix))
        chosen = [(self.names.unique(name), prefix) for name, prefix in [*general, *named]]
        plain = [prefix for prefix in self.old_names if prefix not in CITY_HOSPITALS]
        specialties = [
            (f"Bệnh viện {specialty} {with_division(self.old_names[prefix])}", prefix)
            for specialty in SPECIALTIES
            for prefix in plain
        ]
        for name, prefix in specialties[: max(0, count - len(chosen))]:
            chosen.append((self.names.unique(name), prefix))
        while len(chosen) < count:
            chosen.append((self.names.place("Bệnh viện Đa khoa {}", "regional"), self._prefix()))
        return chosen[: max(count, len(general))]

    def _prefix(self) -> str:
        return next(self.prefixes)

    def _add(
        self,
        name: str,
        level: str,
        kind: str,
        prefix: str | None = None,
        inactive_share: float = 0.0,
    ) -> None:
        prefix = prefix or self._prefix()
        serial = self.serials.get(prefix, 0) + 1
        if serial > MAX_SERIAL:
            raise ValueError(
                f"province {self.province.code}: more than {MAX_SERIAL} facilities under "
                f"insurance prefix {prefix}; lower the scale"
            )
        self.serials[prefix] = serial
        active = inactive_share == 0.0 or self.rng.random() >= inactive_share
        code = f"{prefix}{serial:03d}"
        self.facilities.append(Facility(code, name, level, kind, self.province, active))
