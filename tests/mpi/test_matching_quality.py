"""The acceptance bar of probabilistic matching, measured on the labelled synthetic records.

About 5,000 people in 1,600 households give about 12,000 facility records with realistic
errors (``synthetic_records.ErrorRates``); every pair of records sharing a blocking key is
scored, as the exchange would. Auto-links must reach 0.99 precision and 0.95 recall
against the truth labels, and no pair of twins may auto-link. The figures are written up
in docs/matching.md (``python tests/mpi/matching_evaluation.py`` prints them).
"""

from __future__ import annotations

import pytest
from matching_evaluation import Evaluation, evaluate
from synthetic_records import synthetic_dataset

from ehr.mpi.rules import default_rules


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    population, records = synthetic_dataset()
    return evaluate(population, records, default_rules())


def test_the_labelled_set_is_large_and_hard_enough(evaluation: Evaluation) -> None:
    assert evaluation.true_pairs >= 5000
    assert evaluation.candidate_pairs >= 50_000
    assert evaluation.twin_pairs >= 100


def test_blocking_brings_nearly_every_true_pair_together(evaluation: Evaluation) -> None:
    assert evaluation.blocking_recall >= 0.99


def test_auto_links_are_precise(evaluation: Evaluation) -> None:
    assert evaluation.precision >= 0.99


def test_auto_links_find_most_true_pairs(evaluation: Evaluation) -> None:
    assert evaluation.recall >= 0.95


def test_twins_never_auto_link(evaluation: Evaluation) -> None:
    assert evaluation.twin_auto_links == 0


def test_almost_every_true_pair_is_at_least_reviewed(evaluation: Evaluation) -> None:
    assert evaluation.review_recall >= 0.98
