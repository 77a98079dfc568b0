"""Fellegi-Sunter scoring of a record pair: total weight, score, decision, grade, explanation.

Each field's comparator gives an agreement level; the level's weight ``log2(m/u)`` is the
evidence in bits that the two records are one person; the weights add up (a missing value
adds nothing). Thresholds on the total decide (PRODUCT.md section 3):

- ``auto-link``  total >= ``auto_link``: link to the existing person;
- ``review``     ``review`` <= total < ``auto_link``: link to a new person and open a task;
- ``new-person`` below ``review``.

Limits in the rules then cap the decision for patterns Fellegi-Sunter's independence
assumption gets wrong (twins). The ``score`` in [0, 1] is the posterior probability of a
match given the prior odds of the rules, as ``Bundle.entry.search.score`` of ``$match``
wants it; the ``grade`` is the ``match-grade`` extension
(http://hl7.org/fhir/StructureDefinition/match-grade): ``certain`` exactly when the
decision is ``auto-link``. Every decision carries its per-field explanation, which holds
levels and weights but no values, so the stored explanation adds no personal data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ehr.mpi.features import MatchRecord
from ehr.mpi.rules import DECISIONS, Decision, MatchRules

__all__ = ["FieldScore", "Grade", "MatchScore", "score"]

Grade = Literal["certain", "probable", "possible", "certainly-not"]
MISSING = "missing"
"""The level reported for a field that one of the records lacks (weight 0)."""


@dataclass(frozen=True)
class FieldScore:
    """One line of the explanation: a field, its agreement level and the weight it added."""

    field: str
    level: str
    weight: float

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "level": self.level, "weight": round(self.weight, 3)}


@dataclass(frozen=True)
class MatchScore:
    weight: float
    """Sum of the field weights, in bits (log2 likelihood ratio)."""
    score: float
    """Posterior match probability in [0, 1]; capped to the threshold of a limited decision."""
    decision: Decision
    grade: Grade
    fields: tuple[FieldScore, ...]
    limits: tuple[str, ...] = ()
    """The ``why`` of every limit that capped the decision."""

    def to_json(self) -> dict[str, Any]:
        """The explanation as stored with a link decision."""
        return {
            "weight": round(self.weight, 3),
            "score": round(self.score, 6),
            "decision": self.decision,
            "grade": self.grade,
            "fields": [field.to_json() for field in self.fields],
            "limits": list(self.limits),
        }


def _posterior(weight: float, rules: MatchRules) -> float:
    bits = weight + rules.prior_odds_bits
    if bits > 60:  # 2**-60 is below float resolution next to 1
        return 1.0
    return 1.0 / (1.0 + math.pow(2.0, -bits))


def _decide(weight: float, rules: MatchRules) -> Decision:
    if weight >= rules.auto_link:
        return "auto-link"
    return "review" if weight >= rules.review else "new-person"


def _grade(weight: float, decision: Decision, rules: MatchRules) -> Grade:
    if decision == "auto-link":
        return "certain"
    if weight >= rules.probable:
        return "probable"
    return "possible" if weight >= rules.possible else "certainly-not"


def score(a: MatchRecord, b: MatchRecord, rules: MatchRules) -> MatchScore:
    """Compare two records field by field and decide. Symmetric in ``a`` and ``b``."""
    fields: list[FieldScore] = []
    for rule in rules.fields:
        level = rule.comparator.function(
            getattr(a, rule.value), getattr(b, rule.value), rule.params
        )
        weight = rule.levels[level].weight if level is not None else 0.0
        fields.append(FieldScore(rule.name, level or MISSING, weight))
    # Summing in a fixed order keeps the total bit-identical when a and b swap.
    total = math.fsum(field.weight for field in fields)
    levels = {field.field: field.level for field in fields}
    decision = _decide(total, rules)
    applied: list[str] = []
    for limit in rules.limits:
        matched = all(levels[name] in allowed for name, allowed in limit.when.items())
        if matched and DECISIONS.index(limit.at_most) > DECISIONS.index(decision):
            decision = limit.at_most
            applied.append(limit.why)
    # A capped decision also caps the score, so sorting $match results by score agrees
    # with the grades; a cap to new-person (different national IDs) is certainly not.
    ceiling = {"auto-link": math.inf, "review": rules.auto_link, "new-person": rules.review}
    effective = min(total, ceiling[decision])
    if applied and decision == "new-person":
        grade: Grade = "certainly-not"
    else:
        grade = _grade(effective, decision, rules)
    return MatchScore(
        weight=total,
        score=_posterior(effective, rules),
        decision=decision,
        grade=grade,
        fields=tuple(fields),
        limits=tuple(applied),
    )
