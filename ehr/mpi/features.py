"""From a FHIR Patient to the normalised facts the matcher compares (a ``MatchRecord``).

Facilities write the same person in many ways: with or without diacritics, in capitals, the
whole name in ``family`` or only in ``text``, the given name before the middle name, the
birth date as a year, the province as a code, a 2025 name, a pre-2025 name or "TP HCM", the
phone as ``+84 912.345.678``. Everything that is a writing convention rather than a
difference between people is removed here, once, so comparators and blocking keys see one
canonical form:

- names: ``ehr.text.normalize`` (case-fold, strip diacritics, đ -> d), split into syllables;
  the family name is the first syllable when the name arrives unstructured;
- the diacritic-bearing form of the given name is kept too, only when the record has any
  diacritics at all, so twins named Hùng and Hưng can be told apart when both facilities
  type properly;
- province: the 2025 code, from the ``province-code`` address extension (an old 63-province
  code is mapped forward) or guessed from ``address.state`` by current or old name;
- commune: the ward or commune text (``address.city``, else ``address.district``), without
  its "phường"/"xã" prefix;
- phones: the national form, ``0`` plus the subscriber number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ehr.config import get_settings
from ehr.fhir.identifiers import CCCD
from ehr.registry import EXT_PROVINCE_CODE
from ehr.registry.provinces import read_provinces, strip_division
from ehr.text import normalize

__all__ = [
    "VALUE_NAMES",
    "Address",
    "BirthDate",
    "GivenName",
    "MatchRecord",
    "ProvinceIndex",
    "default_province_index",
    "match_record",
    "normalize_phone",
    "record_from_json",
    "record_to_json",
]


class BirthDate(NamedTuple):
    year: int
    month: int | None = None
    day: int | None = None


class GivenName(NamedTuple):
    tokens: tuple[str, ...]
    """Folded middle and given syllables, in the record's order: ``("van", "an")``."""
    marked: tuple[str, ...] | None = None
    """The same syllables with their diacritics (NFC, case-folded), or ``None`` when the
    record was typed without any diacritics and so cannot tell Hùng from Hưng."""


class Address(NamedTuple):
    province: str | None
    commune: str | None


@dataclass(frozen=True)
class MatchRecord:
    """What the matcher knows about one Patient record, in canonical form."""

    family: str | None = None
    given: tuple[str, ...] = ()
    given_marked: tuple[str, ...] | None = None
    birth: BirthDate | None = None
    sex: str | None = None
    """``male`` / ``female``; ``other`` and ``unknown`` are no evidence and become ``None``."""
    province: str | None = None
    """2-digit 2025 province code of the home address."""
    commune: str | None = None
    phones: frozenset[str] = field(default_factory=frozenset)
    national_id: str | None = None
    """The CCCD (or its keyed hash: the matcher only tests equality)."""

    @property
    def given_name(self) -> GivenName | None:
        return GivenName(self.given, self.given_marked) if self.given else None

    @property
    def address(self) -> Address | None:
        return Address(self.province, self.commune) if self.commune else None

    @property
    def name_key(self) -> str:
        """The full folded name, family first: ``nguyen van an``."""
        return " ".join(([self.family] if self.family else []) + list(self.given))


VALUE_NAMES = frozenset(
    {"family", "given_name", "birth", "sex", "province", "address", "phones", "national_id"}
)
"""``MatchRecord`` attributes a rule field may compare."""

_NON_WORD = re.compile(r"[^\w]+")
_DIVISION_PREFIX = re.compile(r"^(tinh|thanh pho|tp|t p)\s+")
_COMMUNE_PREFIX = re.compile(r"^(phuong|xa|thi tran|dac khu|p|x|tt)\s+")
_STATE_ALIASES = {"hcm": "79", "tp hcm": "79", "tphcm": "79", "sai gon": "79", "hn": "01"}
"""Spellings of the two big cities that appear on forms but in no official list."""


def _words(text: str) -> str:
    """Folded text with punctuation as spaces: ``Bà Rịa - Vũng Tàu`` -> ``ba ria vung tau``."""
    return " ".join(_NON_WORD.sub(" ", normalize(text)).replace("_", " ").split())


class ProvinceIndex:
    """Province names and codes, current and pre-2025, to the 2025 code."""

    def __init__(self, seed_dir: Path) -> None:
        self._by_name: dict[str, str] = dict(_STATE_ALIASES)
        self._by_code: dict[str, str] = {}
        for province in read_provinces(seed_dir):
            for old_code in province.old_codes:
                self._by_code[old_code] = province.code
            self._by_code[province.code] = province.code
            for name in (province.name, *province.old_names):
                self._by_name[_words(name)] = province.code
                self._by_name[_words(strip_division(name))] = province.code
            self._by_name[province.codename.replace("_", " ")] = province.code

    def by_code(self, code: str) -> str | None:
        """The 2025 code for a 2025 or pre-2025 province code."""
        return self._by_code.get(code.strip().zfill(2))

    def by_name(self, state: str) -> str | None:
        """The 2025 code for a province name as people write it, or ``None``."""
        words = _words(state)
        return self._by_name.get(words) or self._by_name.get(_DIVISION_PREFIX.sub("", words))


@lru_cache(maxsize=4)
def default_province_index(seed_dir: Path | None = None) -> ProvinceIndex:
    """The index of ``seed_dir`` (default: the configured seed directory), built once."""
    if seed_dir is None:
        seed_dir = get_settings().seed_dir
    return ProvinceIndex(seed_dir)


def normalize_phone(raw: str) -> str | None:
    """A Vietnamese phone number in national form (``0912345678``), or ``None`` if not one.

    Accepts the ``+84``/``84``/``0084`` country prefix, a missing trunk ``0``, and spaces,
    dots, dashes and brackets. Mobile numbers have 10 digits, landlines 11 (``024...``).
    """
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0084"):
        digits = digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = digits[2:]
    if not digits.startswith("0"):
        digits = "0" + digits
    return digits if len(digits) in (10, 11) and digits[1] != "0" else None


def _list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else nothing: the matcher never fails on a shape."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _pick(items: Any, preferred: tuple[str, ...]) -> Mapping[str, Any]:
    """The element whose ``use`` is most preferred; never an ``old`` one."""
    live = [i for i in _list(items) if isinstance(i, Mapping) and i.get("use") != "old"]
    rank = {use: index for index, use in enumerate(preferred)}
    ranked = sorted(live, key=lambda item: rank.get(_text(item.get("use")), len(preferred)))
    return ranked[0] if ranked else {}


def _syllables(text: str) -> list[str]:
    """The letter runs of a name: spaces, hyphens, dots and digits all separate."""
    return re.findall(r"[^\W\d_]+", unicodedata.normalize("NFC", text))


def _names(patient: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """Family and given syllables, in original spelling (diacritics kept)."""
    name = _pick(patient.get("name"), ("official", "usual"))
    family = _syllables(_text(name.get("family")))
    given = [s for part in _list(name.get("given")) for s in _syllables(_text(part))]
    if not family and not given:
        family = _syllables(_text(name.get("text")))
    if len(family) > 1 and not given:
        family, given = family[:1], family[1:]  # "Nguyễn Văn An" all in one box
    return (" ".join(family) or None), given


def _birth(patient: Mapping[str, Any]) -> BirthDate | None:
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", _text(patient.get("birthDate")))
    if not match:
        return None
    year, month, day = (int(part) if part else None for part in match.groups())
    assert year is not None
    return BirthDate(year, month, day if month else None)


def _province(address: Mapping[str, Any], provinces: ProvinceIndex) -> str | None:
    for extension in _list(address.get("extension")):
        if isinstance(extension, Mapping) and extension.get("url") == EXT_PROVINCE_CODE:
            coding = extension.get("valueCoding")
            code = coding.get("code") if isinstance(coding, Mapping) else None
            if isinstance(code, str) and (found := provinces.by_code(code)):
                return found
    state = _text(address.get("state"))
    return provinces.by_name(state) if state.strip() else None


def _commune(address: Mapping[str, Any]) -> str | None:
    text = _text(address.get("city")) or _text(address.get("district"))
    return _COMMUNE_PREFIX.sub("", _words(text)) or None


def match_record(
    patient: Mapping[str, Any],
    *,
    provinces: ProvinceIndex | None = None,
    national_id_system: str = CCCD,
) -> MatchRecord:
    """The ``MatchRecord`` of a FHIR R4 Patient (a parsed JSON dict; nothing is required)."""
    provinces = provinces or default_province_index()
    family_text, given_text = _names(patient)
    family = normalize(family_text).replace(" ", "") if family_text else None
    kept = [word for word in given_text if normalize(word)]
    given = tuple(normalize(word) for word in kept)
    has_marks = any(normalize(w) != w.casefold() for w in [*given_text, family_text or ""])
    address = _pick(patient.get("address") or [], ("home", "temp"))
    phones = frozenset(
        number
        for point in _list(patient.get("telecom"))
        if isinstance(point, Mapping) and point.get("system") in ("phone", "sms")
        if (number := normalize_phone(_text(point.get("value"))))
    )
    national_id = next(
        (
            value
            for ident in _list(patient.get("identifier"))
            if isinstance(ident, Mapping) and ident.get("system") == national_id_system
            if (value := _text(ident.get("value")).strip())
        ),
        None,
    )
    gender = patient.get("gender")
    return MatchRecord(
        family=family or None,
        given=given,
        given_marked=tuple(word.casefold() for word in kept) if has_marks and kept else None,
        birth=_birth(patient),
        sex=gender if gender in ("male", "female") else None,
        province=_province(address, provinces) if address else None,
        commune=_commune(address) if address else None,
        phones=phones,
        national_id=national_id,
    )


def record_to_json(record: MatchRecord) -> bytes:
    """``record`` as compact JSON, for ``match_features``: reading this back costs a tenth
    of parsing the Patient and normalising its names again, for every candidate scored.
    The caller replaces ``national_id`` by its keyed hash first (never store the number)."""
    birth = list(record.birth) if record.birth is not None else None
    return orjson.dumps(
        [
            record.family,
            list(record.given),
            list(record.given_marked) if record.given_marked is not None else None,
            birth,
            record.sex,
            record.province,
            record.commune,
            sorted(record.phones),
            record.national_id,
        ]
    )


def record_from_json(data: bytes) -> MatchRecord:
    """The ``MatchRecord`` ``record_to_json`` wrote."""
    family, given, marked, birth, sex, province, commune, phones, national_id = orjson.loads(data)
    return MatchRecord(
        family=family,
        given=tuple(given),
        given_marked=tuple(marked) if marked is not None else None,
        birth=BirthDate(*birth) if birth is not None else None,
        sex=sex,
        province=province,
        commune=commune,
        phones=frozenset(phones),
        national_id=national_id,
    )
