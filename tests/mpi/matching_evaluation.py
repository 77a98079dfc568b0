"""Measuring the matcher on the labelled synthetic records: the figures of docs/matching.md.

The evaluation does what the exchange does: index every record under its blocking keys,
score every pair that shares a key, decide. Pairs in which *both* records carry a CCCD are
left out by default, because the exchange links those deterministically and never asks the
probabilistic matcher; ``strip_national_ids`` instead removes every CCCD first, the worst
case in which nobody brought a card.

Recall counts against *all* true pairs, so a pair that blocking never brought together
is a miss, not an omission. Run ``python tests/mpi/matching_evaluation.py`` for the table.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from itertools import combinations

from synthetic_people import Population
from synthetic_records import SyntheticRecord, synthetic_dataset

from ehr.mpi.blocking import blocking_keys
from ehr.mpi.features import MatchRecord, default_province_index, match_record
from ehr.mpi.rules import MatchRules, default_rules
from ehr.mpi.scoring import score


@dataclass(frozen=True)
class Evaluation:
    records: int
    persons: int
    true_pairs: int
    """Pairs of records of one person that the matcher is asked about."""
    candidate_pairs: int
    """Pairs sharing a blocking key (and so scored)."""
    blocked_true_pairs: int
    decisions: Counter[tuple[bool, str]]
    """(same person?, decision) -> pairs."""
    twin_pairs: int
    twin_auto_links: int
    largest_block: int

    def count(self, same: bool, decision: str) -> int:
        return self.decisions[(same, decision)]

    @property
    def precision(self) -> float:
        linked = self.count(True, "auto-link") + self.count(False, "auto-link")
        return self.count(True, "auto-link") / linked if linked else 1.0

    @property
    def recall(self) -> float:
        return self.count(True, "auto-link") / self.true_pairs

    @property
    def blocking_recall(self) -> float:
        return self.blocked_true_pairs / self.true_pairs

    @property
    def review_recall(self) -> float:
        """True pairs that auto-link or at least reach a reviewer."""
        return (self.count(True, "auto-link") + self.count(True, "review")) / self.true_pairs

    @property
    def review_pairs(self) -> int:
        return self.count(True, "review") + self.count(False, "review")


def evaluate(
    population: Population,
    records: list[SyntheticRecord],
    rules: MatchRules,
    *,
    strip_national_ids: bool = False,
) -> Evaluation:
    provinces = default_province_index()
    features: list[MatchRecord] = [match_record(r.patient, provinces=provinces) for r in records]
    if strip_national_ids:
        features = [replace(f, national_id=None) for f in features]

    def asked(a: int, b: int) -> bool:
        return features[a].national_id is None or features[b].national_id is None

    blocks: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(features):
        for key in blocking_keys(record, rules):
            blocks[key].append(index)
    candidates = {
        pair
        for members in blocks.values()
        for pair in combinations(sorted(members), 2)
        if asked(*pair)
    }
    by_person: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        by_person[record.person].append(index)
    true_pairs = sum(
        1 for ids in by_person.values() for pair in combinations(ids, 2) if asked(*pair)
    )
    twins = {frozenset(pair) for pair in population.twins}
    decisions: Counter[tuple[bool, str]] = Counter()
    twin_pairs = twin_auto_links = 0
    for a, b in candidates:
        decision = score(features[a], features[b], rules).decision
        same = records[a].person == records[b].person
        decisions[(same, decision)] += 1
        if frozenset((records[a].person, records[b].person)) in twins:
            twin_pairs += 1
            twin_auto_links += decision == "auto-link"
    return Evaluation(
        records=len(records),
        persons=len(population.persons),
        true_pairs=true_pairs,
        candidate_pairs=len(candidates),
        blocked_true_pairs=sum(n for (same, _), n in decisions.items() if same),
        decisions=decisions,
        twin_pairs=twin_pairs,
        twin_auto_links=twin_auto_links,
        largest_block=max(len(members) for members in blocks.values()),
    )


def arrivals(records: list[SyntheticRecord], rules: MatchRules) -> Counter[str]:
    """Records arriving one by one with no CCCD at all, each decided on its best candidate.

    The per-record view an operator cares about: what share of incoming records link on
    their own, open a review task, or make a new person, and how often that was wrong.
    """
    provinces = default_province_index()
    features = [
        replace(match_record(r.patient, provinces=provinces), national_id=None) for r in records
    ]
    index: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    outcome: Counter[str] = Counter()
    for i, record in enumerate(features):
        keys = blocking_keys(record, rules)
        candidates = {j for key in keys for j in index.get(key, ())}
        scored = [(score(record, features[j], rules), j) for j in candidates]
        best = max(scored, key=lambda pair: pair[0].weight, default=None)
        decision = best[0].decision if best else "new-person"
        known = records[i].person in seen
        right = records[best[1]].person == records[i].person if best else False
        if decision == "auto-link":
            outcome["auto-link" if right else "auto-link to the wrong person"] += 1
        elif decision == "review":
            outcome["review"] += 1
        else:
            outcome["new-person" if not known else "new-person though known"] += 1
        seen.add(records[i].person)
        for key in keys:
            index[key].append(i)
    return outcome


def _report(title: str, result: Evaluation) -> str:
    rows = [
        ("records / persons", f"{result.records} / {result.persons}"),
        ("candidate pairs scored", f"{result.candidate_pairs}"),
        ("true pairs", f"{result.true_pairs}"),
        ("blocking recall", f"{result.blocking_recall:.4f}"),
        ("auto-link precision", f"{result.precision:.4f}"),
        ("auto-link recall", f"{result.recall:.4f}"),
        ("auto-link + review recall", f"{result.review_recall:.4f}"),
        ("false auto-links", f"{result.count(False, 'auto-link')}"),
        (
            "pairs sent to review (true / false)",
            f"{result.count(True, 'review')} / {result.count(False, 'review')}",
        ),
        ("twin pairs scored / auto-linked", f"{result.twin_pairs} / {result.twin_auto_links}"),
        ("largest block", f"{result.largest_block}"),
    ]
    lines = [f"### {title}", "", "| measure | value |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows])


if __name__ == "__main__":
    started = time.perf_counter()
    population, records = synthetic_dataset()
    rules = default_rules()
    print(
        _report(
            "Pairs the matcher decides (not both with a CCCD)", evaluate(population, records, rules)
        )
    )
    print()
    stripped = evaluate(population, records, rules, strip_national_ids=True)
    print(_report("Every CCCD removed", stripped))
    flow = arrivals(records, rules)
    print("\n### Records arriving one by one, no CCCD anywhere\n")
    print("| outcome | records | share |\n|---|---|---|")
    for outcome, count in sorted(flow.items()):
        print(f"| {outcome} | {count} | {count / len(records):.4f} |")
    strict = replace(rules, auto_link=22.0)
    print()
    print(
        _report(
            "auto_link 22 (moved without other evidence goes to review)",
            evaluate(population, records, strict),
        )
    )
    print(f"\n({time.perf_counter() - started:.1f} s)")
