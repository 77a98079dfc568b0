"""The 12-digit personal identification number on the CCCD (citizen identity card).

PRODUCT.md section 3; the scheme is Decree 137/2015/NĐ-CP art. 7 and Circular 07/2016/TT-BCA
(a personal identification number, once issued, is kept for life)::

    0 7 9 3 0 1 0 0 0 1 2 3
    └─┬─┘ │ └┬┘ └────┬────┘
      │   │  │       └ digits 7-12: random serial
      │   │  └ digits 5-6: last two digits of the birth year
      │   └ digit 4: century and sex: 0/1 = 1900s male/female, 2/3 = 2000s, 4/5 = 2100s,
      │             6/7 = 2200s, 8/9 = 2300s
      └ digits 1-3: province where the BIRTH WAS REGISTERED, old 63-province codes

The prefix is a birth place, not a residence: someone born in Hà Nội (``001``) and living
in Cần Thơ for forty years still carries ``001``. Never derive a person's province (for the
indicators or anything else) from it; use the address on the golden record. It also stays
on the old 63-province codes after the 2025 merger, so it is looked up in
``seed/cccd_birth_province_codes.csv`` (read by ``ehr.registry.provinces``), which also says
which 2025 province the birth place now belongs to.

There is no check digit, so a well-formed number can still be someone else's: the parser
rejects only what cannot be a CCCD (length, characters, unknown prefix, a birth year not yet
reached). Disagreement with the Patient's own sex or birth year is ``conflicts``: accepted and
flagged for review, never "fixed", because either side may be the typo.

Error messages never contain the number: they end up in OperationOutcomes and logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from ehr.config import get_settings
from ehr.mpi.national_id_hash import mask
from ehr.registry.provinces import CccdBirthCode, read_cccd_birth_codes

Sex = Literal["male", "female"]
LENGTH = 12
FIRST_YEAR = 1900
LAST_YEAR = 2399
"""Digit 4 runs out after the 2300s (9 = 2300s female)."""
_SERIAL_DIGITS = 6
_YEAR_PREFIX = re.compile(r"^([0-9]{4})")


class InvalidIdentifier(ValueError):
    """An identifier value that cannot be what its system says; ``reason`` says why.

    The base of every identifier error of the MPI (CCCD, BHYT, BHXH, CMND), so callers that
    check a Patient's identifiers can catch them all in one place.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidCccd(InvalidIdentifier):
    """The text is not a valid CCCD number."""


@dataclass(frozen=True)
class Cccd:
    """A parsed CCCD number. ``number`` and ``serial`` stay out of ``repr`` (logs)."""

    number: str = field(repr=False)
    """The 12 digits, as given minus surrounding whitespace."""
    prefix: str
    """Digits 1-3: where the birth was registered (old 63-province scheme)."""
    province_old_code: str
    """2-digit code of that old province, e.g. ``79``."""
    province_name: str
    """Name of the old province, e.g. ``Thành phố Hồ Chí Minh``."""
    new_province_code: str
    """2-digit code of the 2025 province the birth place now belongs to."""
    new_province_name: str
    sex: Sex
    birth_year: int
    serial: str = field(repr=False)
    """Digits 7-12; random, so they carry no meaning."""

    @property
    def masked(self) -> str:
        """The number as it may appear in human-facing text."""
        return mask(self.number)


@lru_cache(maxsize=4)
def _birth_codes(seed_dir: Path) -> dict[str, CccdBirthCode]:
    return read_cccd_birth_codes(seed_dir)


def birth_codes(seed_dir: Path | None = None) -> dict[str, CccdBirthCode]:
    """The valid prefixes (63) by prefix, read once per seed directory."""
    return _birth_codes(Path(seed_dir or get_settings().seed_dir))


def parse_cccd(text: object, today: date | None = None, *, seed_dir: Path | None = None) -> Cccd:
    """Parse ``text`` as a CCCD number or raise ``InvalidCccd`` saying why.

    Surrounding whitespace is forgiven (copy-paste); whitespace or separators inside are
    not, because the number is an exact token for matching and search. Only ASCII digits
    count: ``str.isdigit`` would accept Arabic-Indic or full-width digits.
    """
    if not isinstance(text, str):
        raise InvalidCccd(f"a CCCD number is a string of {LENGTH} digits")
    number = text.strip()
    if len(number) != LENGTH:
        raise InvalidCccd(f"a CCCD number has {LENGTH} digits, not {len(number)} characters")
    for position, char in enumerate(number, start=1):
        if char not in "0123456789":
            raise InvalidCccd(f"a CCCD number is digits only; character {position} is not")
    prefix = number[:3]
    code = birth_codes(seed_dir).get(prefix)
    if code is None:
        raise InvalidCccd(
            f"unknown birth-province prefix {prefix}: not one of the 63 old-province codes"
        )
    century_sex = int(number[3])
    birth_year = FIRST_YEAR + (century_sex // 2) * 100 + int(number[4:6])
    today = today or date.today()
    if birth_year > today.year:
        raise InvalidCccd(f"the encoded birth year {birth_year} is in the future")
    return Cccd(
        number=number,
        prefix=prefix,
        province_old_code=code.old_code,
        province_name=code.old_province,
        new_province_code=code.new_code,
        new_province_name=code.new_province,
        sex="female" if century_sex % 2 else "male",
        birth_year=birth_year,
        serial=number[6:],
    )


def make_cccd(
    prefix: str, sex: Sex, birth_year: int, serial: int | str, *, seed_dir: Path | None = None
) -> str:
    """The CCCD number with these parts: the inverse of ``parse_cccd`` (tests, demo data)."""
    if prefix not in birth_codes(seed_dir):
        raise InvalidCccd(f"unknown birth-province prefix {prefix}")
    if sex not in ("male", "female"):
        raise InvalidCccd(f"a CCCD encodes sex male or female, not {sex}")
    if not FIRST_YEAR <= birth_year <= LAST_YEAR:
        raise InvalidCccd(f"a CCCD encodes birth years {FIRST_YEAR}-{LAST_YEAR} only")
    serial_text = f"{serial:0{_SERIAL_DIGITS}d}" if isinstance(serial, int) else serial
    if len(serial_text) != _SERIAL_DIGITS or not all(c in "0123456789" for c in serial_text):
        raise InvalidCccd(f"the serial is {_SERIAL_DIGITS} digits")
    century_sex = (birth_year - FIRST_YEAR) // 100 * 2 + (sex == "female")
    return f"{prefix}{century_sex}{birth_year % 100:02d}{serial_text}"


def conflicts(cccd: Cccd, gender: object, birth_date: object) -> list[str]:
    """Where the Patient's ``gender`` / ``birthDate`` disagree with what ``cccd`` encodes.

    Only ``male`` and ``female`` can conflict: ``other`` and ``unknown`` say nothing about
    the sex recorded at birth registration. ``birth_date`` is a FHIR date (``YYYY``,
    ``YYYY-MM``, ``YYYY-MM-DD``) or a ``date``; anything without a readable year is left to
    structural validation. The messages name no number, so they can go to the review queue.
    """
    found: list[str] = []
    if gender in ("male", "female") and gender != cccd.sex:
        found.append(f"the CCCD encodes sex {cccd.sex} but Patient.gender is {gender}")
    year = _year_of(birth_date)
    if year is not None and year != cccd.birth_year:
        found.append(
            f"the CCCD encodes birth year {cccd.birth_year} but Patient.birthDate is in {year}"
        )
    return found


def _year_of(birth_date: object) -> int | None:
    if isinstance(birth_date, date):
        return birth_date.year
    if isinstance(birth_date, str) and (match := _YEAR_PREFIX.match(birth_date)):
        return int(match.group(1))
    return None
