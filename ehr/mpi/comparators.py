"""Field comparators of the patient matcher: two normalised values in, an agreement level out.

Fellegi-Sunter scoring needs every field comparison reduced to a small set of discrete
*agreement levels* (exact, a typo away, disagree ...), because each level has its own
m-probability (how often a true match shows it) and u-probability (how often two different
people show it by chance) in ``fhir_profiles/mpi-rules.json``. So each comparator kind below
returns a level name, or ``None`` when either side is missing: a missing value is no
evidence either way and weighs nothing.

Every comparator is symmetric (``compare(a, b) == compare(b, a)``) and a value compared
with itself is full agreement (the first level; a birth date known only by its year can
say no more than ``year-only``); ``tests/mpi/test_comparators.py`` checks both with
hypothesis. Inputs are already normalised by ``ehr.mpi.features`` (diacritics folded with
``ehr.text.normalize``), so the comparators are diacritic-insensitive by construction;
the one place diacritics still count is ``given_name``'s ``accent-differs`` level, where both
records carry them and they disagree (Hùng and Hưng fold to the same ``hung``).

Similarity is Jaro-Winkler from rapidfuzz (C++): it favours agreement at the start of a
string, which suits one-letter typing errors, and at national scale the candidate sets are
large enough that a pure-Python version would dominate the cost of a ``$match``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import OSA, JaroWinkler

from ehr.mpi.features import Address, BirthDate, GivenName

__all__ = [
    "COMPARATORS",
    "Comparator",
    "birth_date",
    "commune",
    "exact",
    "family_name",
    "given_name",
    "phone",
]

Params = Mapping[str, float]


def _jw(a: str, b: str) -> float:
    # Jaro-Winkler is symmetric in theory; ordering the arguments makes it so in floats too.
    return JaroWinkler.similarity(*sorted((a, b)))


def exact(a: Any, b: Any, params: Params) -> str | None:
    """``agree`` / ``disagree`` on equality: sex, province code, national ID."""
    if a is None or b is None:
        return None
    return "agree" if a == b else "disagree"


def family_name(a: str | None, b: str | None, params: Params) -> str | None:
    """``exact`` / ``close`` (a typing slip, as ``_near`` with ``close`` as cut-off) /
    ``disagree``. Family names are short ("Lê", "Hồ"), so "close" leans on the syllable
    check: "oh" is a slip for "ho", "le" and "ly" are two families.
    """
    if not a or not b:
        return None
    if a == b:
        return "exact"
    return "close" if _near(a, b, params["close"]) else "disagree"


_SYLLABLE = re.compile(
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
    r"(oai|oao|oay|oeo|uay|uoi|uou|uya|uye|uyu|ieu|yeu|uai"
    r"|ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|oo|ua|ue|ui|uo|uu|uy|ya|ye|yu|[aeiouy])"
    r"(ch|ng|nh|[cmnpt])?"
)
"""A Vietnamese syllable without diacritics: initial consonant, vowel cluster, final.

Loose (it admits some impossible combinations) but enough to tell a typing slip ("vyy",
"anm", "ths") from another real name one letter away ("ly"/"my"): Vietnamese syllables
are so short that most one-letter slips leave something no Vietnamese would write.
"""


def _is_syllable(word: str) -> bool:
    return _SYLLABLE.fullmatch(word) is not None


def _near(x: str, y: str, cutoff: float) -> bool:
    """A typing slip between two syllables (or family names).

    Jaro-Winkler >= ``cutoff``; or one edit apart (a letter wrong, missing, added, or two
    neighbours swapped) where one side is no Vietnamese syllable at all. Two real names one
    edit apart are usually two people (Tuấn and Quân, Ly and My: twins get names like
    that), so such a pair is not a slip unless Jaro-Winkler says it is.
    """
    if _jw(x, y) >= cutoff:
        return True
    return OSA.distance(x, y) <= 1 and not (_is_syllable(x) and _is_syllable(y))


def _one_slip(a: tuple[str, ...], b: tuple[str, ...], params: Params) -> bool:
    """All syllables agree but one, and that one is a typing slip.

    In record order, a middle name (any syllable but the last, the called name) one edit
    away is a slip however short ("Thị" typed "Th" or "Tih"): twins and siblings differ in
    the called name. The called name must pass ``_near``. The same is tried on the sorted
    syllables, for a slip in a name that was also reordered.
    """
    if len(a) != len(b):
        return False
    cutoff = params["typo"]
    differing = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differing) == 1:
        i = differing[0]
        middle = i < len(a) - 1 and OSA.distance(a[i], b[i]) <= 1
        if middle or _near(a[i], b[i], cutoff):
            return True
    pairs = [(x, y) for x, y in zip(sorted(a), sorted(b), strict=True) if x != y]
    return len(pairs) == 1 and _near(*pairs[0], cutoff)


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    remaining = list(longer)
    for token in shorter:
        if token not in remaining:
            return False
        remaining.remove(token)
    return True


def given_name(a: GivenName | None, b: GivenName | None, params: Params) -> str | None:
    """Compare middle and given names (``Văn An``), allowing Vietnamese order variations.

    Levels: ``exact``; ``accent-differs`` (same letters, but both records carry diacritics
    and they differ: Hùng/Hưng, the twin trap); ``reordered`` (same syllables in another
    order, as when a form's "first name" box gets the given name first); ``typo`` (all
    syllables agree but one, which is a typing slip, see ``_near``); ``partial`` (one name
    is the other with middle names left out, the called name kept: "Thị Thu Hà" and
    "Thu Hà"); ``disagree``.
    """
    if a is None or b is None or not a.tokens or not b.tokens:
        return None
    if a.tokens == b.tokens:
        if a.marked is not None and b.marked is not None and a.marked != b.marked:
            return "accent-differs"
        return "exact"
    if sorted(a.tokens) == sorted(b.tokens):
        return "reordered"
    if _one_slip(a.tokens, b.tokens, params):
        return "typo"
    longer, shorter = (
        (a.tokens, b.tokens) if len(a.tokens) > len(b.tokens) else (b.tokens, a.tokens)
    )
    if len(longer) > len(shorter) and longer[-1] == shorter[-1] and _contains(longer, shorter):
        return "partial"
    return "disagree"


def birth_date(a: BirthDate | None, b: BirthDate | None, params: Params) -> str | None:
    """Birth dates with the errors clerks make.

    Levels: ``exact``; ``transposed`` (day and month swapped: 05/12 read as 12/05);
    ``one-part`` (exactly one of year, month, day differs: a slip of one field);
    ``year-only`` (one side knows only the year, and it agrees); ``disagree``.
    """
    if a is None or b is None:
        return None
    if a.month is None or b.month is None or a.day is None or b.day is None:
        return "year-only" if a.year == b.year else "disagree"
    if a == b:
        return "exact"
    if a.year == b.year and (a.month, a.day) == (b.day, b.month):
        return "transposed"
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    return "one-part" if same == 2 else "disagree"


def commune(a: Address | None, b: Address | None, params: Params) -> str | None:
    """The commune or ward, compared only inside one province.

    ``exact`` / ``close`` (Jaro-Winkler >= ``close``) / ``disagree``. When both provinces
    are known and differ the communes differ too, and the province field has already
    counted that evidence; so this field abstains (``None``) rather than count it twice.
    Its u-probability is accordingly the chance that two people *of one province* share a
    commune (about 1 in 100).
    """
    if a is None or b is None or not a.commune or not b.commune:
        return None
    if a.province and b.province and a.province != b.province:
        return None
    if a.commune == b.commune:
        return "exact"
    return "close" if _jw(a.commune, b.commune) >= params["close"] else "disagree"


def _one_digit_apart(a: str, b: str) -> bool:
    """One digit wrong, or two neighbours swapped: the usual slips when a number is typed."""
    if len(a) != len(b):
        return False
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) == 1:
        return True
    i, j = [*differ, -1, -1][:2]
    return len(differ) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]


def phone(a: frozenset[str] | None, b: frozenset[str] | None, params: Params) -> str | None:
    """``exact`` (a number in common) / ``typo`` (one digit apart) / ``disagree``.

    Families share a phone (a parent's number on a child's record), so agreement is weaker
    evidence than its rarity suggests; the u-probability in the rules accounts for that.
    """
    if not a or not b:
        return None
    if a & b:
        return "exact"
    if any(_one_digit_apart(x, y) for x in a for y in b):
        return "typo"
    return "disagree"


@dataclass(frozen=True)
class Comparator:
    """A comparator kind: its function, the levels it returns, the values it can compare."""

    function: Callable[[Any, Any, Params], str | None]
    levels: tuple[str, ...]
    """Every level the function can return, full agreement first."""
    values: frozenset[str]
    """``MatchRecord`` attributes this comparator understands."""
    params: frozenset[str] = frozenset()
    """Parameters the rules must give (similarity cut-offs)."""


COMPARATORS: dict[str, Comparator] = {
    "exact": Comparator(
        exact, ("agree", "disagree"), frozenset({"sex", "province", "national_id"})
    ),
    "family_name": Comparator(
        family_name,
        ("exact", "close", "disagree"),
        frozenset({"family"}),
        frozenset({"close"}),
    ),
    "given_name": Comparator(
        given_name,
        ("exact", "accent-differs", "reordered", "typo", "partial", "disagree"),
        frozenset({"given_name"}),
        frozenset({"typo"}),
    ),
    "birth_date": Comparator(
        birth_date,
        ("exact", "transposed", "one-part", "year-only", "disagree"),
        frozenset({"birth"}),
    ),
    "commune": Comparator(
        commune, ("exact", "close", "disagree"), frozenset({"address"}), frozenset({"close"})
    ),
    "phone": Comparator(phone, ("exact", "typo", "disagree"), frozenset({"phones"})),
}
"""The comparator kinds the rules may name, by name."""
