"""Secondary person identifiers: health insurance (BHYT / BHXH) numbers and the old CMND.

PRODUCT.md section 3 makes these secondary: they support matching but never decide it, so
a malformed one is flagged for review rather than rejected (``ehr.mpi.patient_identity``).

BHYT, health insurance, in two forms:

- The legacy 15-character card code (Decision 1351/QĐ-BHXH of 2015, revised by Official
  Letter 3340/BHXH-ST of 2017), e.g. ``HS4010120878811``::

      HS 4 01 0120878811
      │  │ │  └ 10 digits: the social insurance number (mã số BHXH), the person's own
      │  │ └ 2 digits: code of the province (social insurance office) that issued the card
      │  └ 1 digit: benefit level 1-5 (1 and 2: 100% with or without ceilings, 3: 95%,
      │    4: 80%, 5: 100% including transport; the group decides which)
      └ 2 letters: beneficiary group, e.g. DN (enterprise employee), HT (retiree),
        TE (child under 6), HS (pupil), HN (poor household), GD (household)

- Cards issued since 1 April 2021 print only the 10-digit social insurance number; the
  group and level are printed as text beside it. Facilities still send both forms (claims
  files keep the 15-character field), so the BHYT system accepts both, and the BHXH system
  only the 10 digits.

We do not check the group letters against a list or the province code against the 63: the
lists change with each insurance law amendment, the issuing office need not be a province
(the armed forces' social insurance agencies issue cards too), and an over-strict check on
a secondary identifier only fills the review queue.

Sources: Decision 1351/QĐ-BHXH and the articles explaining the card code (vanbanluat.com,
"Ý nghĩa của mã số trên thẻ bảo hiểm y tế"; vietnam.appsandnews.com on Official Letter
3340/BHXH-ST; baohiemxahoidientu.edu.vn on the 2021 card form); the HL7 Vietnam core IG
names the BHYT number as a NamingSystem (``insurance_number``) without fixing its syntax.

CMND: the 9-digit identity card number that the CCCD replaced. The 12-digit CMND issued from
2012 already is a personal identification number, so it belongs under the CCCD system.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ehr.fhir.identifiers import BHXH, BHYT, CMND
from ehr.mpi.cccd import InvalidIdentifier

__all__ = [
    "BHXH",
    "BHYT",
    "CMND",
    "Bhyt",
    "BhytForm",
    "Cmnd",
    "InvalidIdentifier",
    "SecondaryId",
    "make_bhyt",
    "parse_bhxh",
    "parse_bhyt",
    "parse_cmnd",
    "parse_secondary",
]

BhytForm = Literal["legacy_card", "social_insurance_number"]
LEGACY_LENGTH = 15
BHXH_LENGTH = 10
CMND_LENGTH = 9
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""``str.upper`` would also fold ``ß`` to ``SS`` and change the length; only ASCII counts."""


@dataclass(frozen=True)
class Bhyt:
    """A parsed health insurance number; the personal digits stay out of ``repr``."""

    system: str
    form: BhytForm
    value: str = field(repr=False)
    """The canonical value: stripped, letters upper-cased."""
    group: str | None
    """Beneficiary group (legacy card only), e.g. ``HS``."""
    benefit_level: int | None
    """1-5 (legacy card only)."""
    province: str | None
    """2-digit code of the issuing office (legacy card only)."""
    social_insurance_number: str = field(repr=False)
    """The 10-digit mã số BHXH: the part that identifies the person in both forms."""


@dataclass(frozen=True)
class Cmnd:
    """A parsed 9-digit CMND number."""

    system: str
    number: str = field(repr=False)


SecondaryId = Bhyt | Cmnd


def _text(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidIdentifier(f"a {what} is a string")
    return text.strip()


def _all_digits(value: str) -> bool:
    return all(char in _DIGITS for char in value)


def _social_insurance_number(value: str, system: str) -> Bhyt:
    if not _all_digits(value):
        raise InvalidIdentifier("a social insurance number (mã số BHXH) is digits only")
    return Bhyt(system, "social_insurance_number", value, None, None, None, value)


def _legacy_card(value: str, system: str) -> Bhyt:
    group, level, province, number = value[:2], value[2], value[3:5], value[5:]
    if not all(char in _LETTERS for char in group):
        raise InvalidIdentifier("a BHYT card code starts with 2 letters (beneficiary group)")
    if level not in "12345":
        raise InvalidIdentifier("character 3 of a BHYT card code is the benefit level 1-5")
    if not _all_digits(province) or province == "00":
        raise InvalidIdentifier("characters 4-5 of a BHYT card code are a province code 01-99")
    if not _all_digits(number):
        raise InvalidIdentifier("characters 6-15 of a BHYT card code are 10 digits")
    return Bhyt(system, "legacy_card", value, group, int(level), province, number)


def parse_bhyt(text: object) -> Bhyt:
    """A BHYT number in either form, or ``InvalidIdentifier`` saying why not.

    Surrounding whitespace is dropped and letters upper-cased (cards are typed in by hand);
    spaces inside are refused, as the value is an exact token for matching.
    """
    value = _text(text, "BHYT number").translate(_ASCII_UPPER)
    if len(value) == LEGACY_LENGTH:
        return _legacy_card(value, BHYT)
    if len(value) == BHXH_LENGTH:
        return _social_insurance_number(value, BHYT)
    raise InvalidIdentifier(
        f"a BHYT number is {LEGACY_LENGTH} characters (card code) or {BHXH_LENGTH} digits"
        f" (social insurance number), not {len(value)} characters"
    )


def parse_bhxh(text: object) -> Bhyt:
    """A 10-digit social insurance number (mã số BHXH) on its own."""
    value = _text(text, "social insurance number")
    if len(value) != BHXH_LENGTH:
        raise InvalidIdentifier(
            f"a social insurance number (mã số BHXH) has {BHXH_LENGTH} digits,"
            f" not {len(value)} characters"
        )
    return _social_insurance_number(value, BHXH)


def parse_cmnd(text: object) -> Cmnd:
    """A retired 9-digit CMND number."""
    value = _text(text, "CMND number")
    if len(value) == 12 and _all_digits(value):
        raise InvalidIdentifier("a 12-digit CMND is a personal ID number: send it as the CCCD")
    if len(value) != CMND_LENGTH:
        raise InvalidIdentifier(
            f"a CMND number has {CMND_LENGTH} digits, not {len(value)} characters"
        )
    if not _all_digits(value):
        raise InvalidIdentifier("a CMND number is digits only")
    return Cmnd(CMND, value)


def make_bhyt(group: str, benefit_level: int, province: str, social_insurance_number: str) -> str:
    """The legacy 15-character card code with these parts: the inverse of ``parse_bhyt``."""
    code = f"{group}{benefit_level}{province}{social_insurance_number}"
    if len(code) != LEGACY_LENGTH:
        raise InvalidIdentifier(f"a BHYT card code has {LEGACY_LENGTH} characters")
    return _legacy_card(code, BHYT).value


SECONDARY_PARSERS: dict[str, Callable[[object], SecondaryId]] = {
    BHYT: parse_bhyt,
    BHXH: parse_bhxh,
    CMND: parse_cmnd,
}
"""The secondary identifier systems and their parsers."""


def parse_secondary(system: str, value: object) -> SecondaryId | None:
    """``value`` parsed under ``system``; ``None`` if the system is not a secondary one."""
    parser = SECONDARY_PARSERS.get(system)
    return parser(value) if parser else None
