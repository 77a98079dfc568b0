"""The matching rules, ``fhir_profiles/mpi-rules.json``, loaded into typed, checked objects.

Like HAPI's ``mdm-rules.json`` the rules are data, so a data steward can retune weights or
thresholds after a review of real decisions without a code change. Unlike HAPI's rules
(which map sets of matched fields to MATCH / POSSIBLE_MATCH) these are Fellegi-Sunter: each
field's agreement level carries m and u probabilities and the evidence adds up in bits
(``log2(m/u)``), so a decision can always be explained field by field.

Rules are checked completely when loaded: an unknown comparator, a level the comparator
never returns (or one it returns that has no weight), probabilities outside (0, 1] or not
summing to 1, thresholds out of order. ``RulesError`` says which field and what is wrong,
so a bad edit fails at start-up and never turns into a silent mis-link.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ehr.config import get_settings
from ehr.mpi.comparators import COMPARATORS, Comparator
from ehr.mpi.features import VALUE_NAMES

__all__ = [
    "DECISIONS",
    "KEY_PARTS",
    "BlockingRule",
    "Decision",
    "FieldRule",
    "Level",
    "Limit",
    "MatchRules",
    "RulesError",
    "default_rules",
    "load_rules",
    "parse_rules",
]

RULES_FILE = "mpi-rules.json"
Decision = Literal["auto-link", "review", "new-person"]
DECISIONS: tuple[Decision, ...] = ("auto-link", "review", "new-person")
"""Decisions, most confident first."""
KEY_PARTS = frozenset(
    {"birth_year", "birth_date", "birth_date_unordered", "family", "given_last", "phone"}
)
"""What a blocking key may be built from (see ``ehr.mpi.blocking``)."""
_REFINEMENTS = {
    "birth_year": frozenset({"birth_year", "birth_date", "birth_date_unordered"}),
    "birth_date_unordered": frozenset({"birth_date_unordered", "birth_date"}),
}
"""Key parts whose equal values imply equal values of another part (same birth date =>
same birth year); the rest refine only themselves."""
_SUM_TOLERANCE = 0.02
_TOP_LEVEL = frozenset(
    {"description", "version", "prior_match_probability", "blocking", "fields", "thresholds"}
    | {"grades", "limits"}
)
_FIELD_KEYS = frozenset({"name", "value", "comparator", "params", "levels", "why"})


class RulesError(ValueError):
    """The matching rules are invalid; the message names the offending part."""


@dataclass(frozen=True)
class Level:
    """One agreement level of a field, with its Fellegi-Sunter probabilities."""

    m: float
    """P(this level | the two records are the same person)."""
    u: float
    """P(this level | they are two different people)."""

    @property
    def weight(self) -> float:
        """The evidence in bits: positive for agreement, negative for disagreement."""
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class FieldRule:
    name: str
    value: str
    """The ``MatchRecord`` attribute compared."""
    comparator: Comparator
    params: Mapping[str, float]
    levels: Mapping[str, Level]


@dataclass(frozen=True)
class BlockingRule:
    name: str
    """The key prefix, e.g. ``by`` in ``by:1990|nguyen``."""
    parts: tuple[str, ...]
    narrowed_by: str | None = None
    """Another rule whose blocks lie inside this rule's blocks. When one of this rule's
    blocks is too large to read whole, the lookup uses the narrower rule's key instead of
    an arbitrary slice of the block (``ehr.mpi.candidates``)."""


@dataclass(frozen=True)
class Limit:
    """A cap on the decision when fields show given levels together (all must hold).

    Fellegi-Sunter assumes fields independent; twins break that (same family, birth date,
    address and phone) and only the given name tells them apart. A limit keeps such a
    pattern out of auto-linking whatever the total.
    """

    when: Mapping[str, frozenset[str]]
    at_most: Decision
    why: str


@dataclass(frozen=True)
class MatchRules:
    fields: tuple[FieldRule, ...]
    blocking: tuple[BlockingRule, ...]
    limits: tuple[Limit, ...]
    auto_link: float
    """Total weight (bits) at or above which a record links automatically."""
    review: float
    """Total weight at or above which (below ``auto_link``) a reviewer decides."""
    probable: float
    possible: float
    """Match-grade cut-offs below ``auto_link`` (``certain`` is exactly an auto-link)."""
    prior_odds_bits: float
    """log2 of the prior odds that two blocked candidates are the same person."""


def _number(value: Any, where: str, *, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RulesError(f"{where}: expected a number, got {value!r}")
    if low is not None and value <= low:
        raise RulesError(f"{where}: must be greater than {low}, got {value!r}")
    return float(value)


def _probability(value: Any, where: str) -> float:
    number = _number(value, where, low=0.0)
    if number > 1:
        raise RulesError(f"{where}: a probability must be at most 1, got {number}")
    return number


def _field(raw: Mapping[str, Any], index: int) -> FieldRule:
    name = str(raw.get("name") or f"#{index}")
    where = f"fields[{name}]"
    if unknown := set(raw) - _FIELD_KEYS:
        raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
    comparator = COMPARATORS.get(raw.get("comparator", ""))
    if comparator is None:
        known = ", ".join(sorted(COMPARATORS))
        raise RulesError(f"{where}: unknown comparator {raw.get('comparator')!r} ({known})")
    value = raw.get("value")
    if value not in VALUE_NAMES or value not in comparator.values:
        allowed = ", ".join(sorted(comparator.values))
        raise RulesError(
            f"{where}: comparator {raw['comparator']} compares {allowed}, not {value!r}"
        )
    params = {k: _number(v, f"{where}.params.{k}") for k, v in (raw.get("params") or {}).items()}
    if missing := comparator.params - params.keys():
        raise RulesError(f"{where}: missing params {sorted(missing)}")
    levels_raw = raw.get("levels") or {}
    if set(levels_raw) != set(comparator.levels):
        raise RulesError(
            f"{where}: levels must be exactly {list(comparator.levels)}, got {list(levels_raw)}"
        )
    levels = {
        level: Level(
            _probability(spec.get("m"), f"{where}.levels.{level}.m"),
            _probability(spec.get("u"), f"{where}.levels.{level}.u"),
        )
        for level, spec in levels_raw.items()
    }
    for kind in ("m", "u"):
        total = sum(getattr(level, kind) for level in levels.values())
        if abs(total - 1) > _SUM_TOLERANCE:
            raise RulesError(f"{where}: the {kind}-probabilities sum to {total:.3f}, not 1")
    return FieldRule(name, value, comparator, MappingProxyType(params), MappingProxyType(levels))


def _limit(raw: Mapping[str, Any], fields: Mapping[str, FieldRule], index: int) -> Limit:
    where = f"limits[{index}]"
    when = raw.get("when")
    if not isinstance(when, Mapping) or not when:
        raise RulesError(f"{where}: 'when' must map field names to lists of levels")
    for name, levels in when.items():
        if name not in fields:
            raise RulesError(f"{where}: unknown field {name!r}")
        if not isinstance(levels, list) or not set(levels) <= set(fields[name].levels):
            raise RulesError(f"{where}: {levels!r} are not all levels of field {name}")
    if raw.get("at_most") not in DECISIONS:
        raise RulesError(f"{where}: 'at_most' must be one of {list(DECISIONS)}")
    frozen = {name: frozenset(levels) for name, levels in when.items()}
    return Limit(MappingProxyType(frozen), raw["at_most"], str(raw.get("why", "")))


def _blocking(raw: Mapping[str, Any], index: int) -> BlockingRule:
    name, parts = raw.get("name"), raw.get("parts")
    if not isinstance(name, str) or not name.isalnum():
        raise RulesError(f"blocking[{index}]: 'name' must be a short alphanumeric prefix")
    if not isinstance(parts, list) or not parts or not set(parts) <= KEY_PARTS:
        raise RulesError(f"blocking[{name}]: 'parts' must be a list drawn from {sorted(KEY_PARTS)}")
    narrowed_by = raw.get("narrowed_by")
    if narrowed_by is not None and not isinstance(narrowed_by, str):
        raise RulesError(f"blocking[{name}]: 'narrowed_by' must name another blocking rule")
    return BlockingRule(name, tuple(parts), narrowed_by)


def _check_narrowing(blocking: tuple[BlockingRule, ...]) -> None:
    """A narrowing rule must name another rule whose every block lies inside one of ours."""
    by_name = {rule.name: rule for rule in blocking}
    for rule in blocking:
        if rule.narrowed_by is None:
            continue
        narrow = by_name.get(rule.narrowed_by)
        if narrow is None or narrow is rule:
            raise RulesError(f"blocking[{rule.name}]: 'narrowed_by' must name another rule")
        for part in rule.parts:
            if not _REFINEMENTS.get(part, frozenset({part})) & set(narrow.parts):
                raise RulesError(
                    f"blocking[{rule.name}]: {narrow.name!r} does not narrow it "
                    f"(nothing in its parts refines {part!r})"
                )


def parse_rules(document: Mapping[str, Any]) -> MatchRules:
    """Typed rules from the parsed JSON document; ``RulesError`` if anything is off."""
    if not isinstance(document, Mapping):
        raise RulesError("the rules must be a JSON object")
    if unknown := set(document) - _TOP_LEVEL:
        raise RulesError(f"unknown keys {sorted(unknown)} (allowed: {sorted(_TOP_LEVEL)})")
    fields = tuple(_field(raw, i) for i, raw in enumerate(document.get("fields") or []))
    if not fields:
        raise RulesError("fields: at least one field is needed")
    by_name = {field.name: field for field in fields}
    if len(by_name) != len(fields):
        raise RulesError("fields: names must be unique")
    blocking = tuple(_blocking(raw, i) for i, raw in enumerate(document.get("blocking") or []))
    if not blocking or len({rule.name for rule in blocking}) != len(blocking):
        raise RulesError("blocking: at least one key, with unique names, is needed")
    _check_narrowing(blocking)
    limits = tuple(_limit(raw, by_name, i) for i, raw in enumerate(document.get("limits") or []))
    thresholds = document.get("thresholds") or {}
    auto_link = _number(thresholds.get("auto_link"), "thresholds.auto_link")
    review = _number(thresholds.get("review"), "thresholds.review")
    grades = document.get("grades") or {}
    probable = _number(grades.get("probable"), "grades.probable")
    possible = _number(grades.get("possible"), "grades.possible")
    if not review < auto_link:
        raise RulesError("thresholds: review must be below auto_link")
    if not possible <= probable < auto_link:
        raise RulesError("grades: need possible <= probable < thresholds.auto_link")
    prior = _probability(document.get("prior_match_probability"), "prior_match_probability")
    if prior >= 1:
        raise RulesError("prior_match_probability: must be below 1")
    return MatchRules(
        fields=fields,
        blocking=blocking,
        limits=limits,
        auto_link=auto_link,
        review=review,
        probable=probable,
        possible=possible,
        prior_odds_bits=math.log2(prior / (1 - prior)),
    )


def load_rules(path: Path) -> MatchRules:
    """Read and check a rules file; ``RulesError`` names the file and the problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RulesError(f"{path}: cannot read the matching rules: {error}") from error
    try:
        return parse_rules(document)
    except RulesError as error:
        raise RulesError(f"{path}: {error}") from error


@lru_cache(maxsize=4)
def default_rules(profiles_dir: Path | None = None) -> MatchRules:
    """The rules in ``profiles_dir`` (default: the configured profiles directory), once."""
    if profiles_dir is None:
        profiles_dir = get_settings().profiles_dir
    return load_rules(profiles_dir / RULES_FILE)
