"""The rules file loads, and every kind of bad edit fails loudly, naming what is wrong."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ehr.config import Settings
from ehr.mpi.blocking import key_part
from ehr.mpi.features import MatchRecord
from ehr.mpi.rules import KEY_PARTS, RULES_FILE, RulesError, load_rules, parse_rules

DOCUMENT: dict[str, Any] = json.loads(
    (Settings().profiles_dir / RULES_FILE).read_text(encoding="utf-8")
)


def _field(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(field for field in document["fields"] if field["name"] == name)


def test_the_shipped_rules_load() -> None:
    rules = parse_rules(DOCUMENT)
    assert rules.review < rules.auto_link
    assert {field.name for field in rules.fields} >= {"family_name", "given_name", "birth_date"}
    agree = {
        field.name: max(level.weight for level in field.levels.values()) for field in rules.fields
    }
    assert all(weight > 0 for weight in agree.values())


def test_every_key_part_the_rules_may_name_exists() -> None:
    for part in KEY_PARTS:
        assert isinstance(key_part(part, MatchRecord()), list)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting ``field.key`` of a named field, or a top-level key."""

    def edit(document: dict[str, Any]) -> None:
        head, _, key = path.partition(".")
        if key:
            _field(document, head)[key] = value
        else:
            document[head] = value

    return edit


BAD_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("unknown comparator", _set("given_name.comparator", "soundex"), "unknown comparator"),
    ("wrong value", _set("given_name.value", "birth"), "compares given_name"),
    ("missing param", _set("given_name.params", {}), "missing params"),
    (
        "level left out",
        lambda d: _field(d, "sex")["levels"].pop("disagree"),
        "levels must be exactly",
    ),
    (
        "m above 1",
        _set("sex.levels", {"agree": {"m": 1.5, "u": 0.5}, "disagree": {"m": 0.005, "u": 0.5}}),
        "at most 1",
    ),
    (
        "zero u",
        _set("sex.levels", {"agree": {"m": 0.995, "u": 0}, "disagree": {"m": 0.005, "u": 1}}),
        "greater than 0",
    ),
    (
        "m not summing to 1",
        _set("sex.levels", {"agree": {"m": 0.5, "u": 0.5}, "disagree": {"m": 0.1, "u": 0.5}}),
        "sum to",
    ),
    (
        "review above auto-link",
        _set("thresholds", {"auto_link": 10, "review": 12}),
        "review must be below",
    ),
    ("grades out of order", _set("grades", {"probable": 5, "possible": 8}), "possible <= probable"),
    (
        "threshold not a number",
        _set("thresholds", {"auto_link": "high", "review": 1}),
        "expected a number",
    ),
    ("unknown top-level key", _set("limit", []), "unknown keys"),
    ("unknown field key", _set("sex.weight", 3), "unknown keys"),
    (
        "limit on unknown field",
        _set("limits", [{"when": {"eye_colour": ["agree"]}, "at_most": "review"}]),
        "unknown field",
    ),
    (
        "limit on unknown level",
        _set("limits", [{"when": {"sex": ["maybe"]}, "at_most": "review"}]),
        "not all levels",
    ),
    (
        "limit to unknown decision",
        _set("limits", [{"when": {"sex": ["agree"]}, "at_most": "merge"}]),
        "at_most",
    ),
    (
        "blocking on unknown part",
        _set("blocking", [{"name": "ey", "parts": ["eye_colour"]}]),
        "parts",
    ),
    ("no blocking", _set("blocking", []), "blocking"),
    (
        "narrowed by an unknown rule",
        _set("blocking", [{"name": "by", "parts": ["birth_year"], "narrowed_by": "zz"}]),
        "narrowed_by",
    ),
    (
        "narrowed by itself",
        _set("blocking", [{"name": "by", "parts": ["birth_year"], "narrowed_by": "by"}]),
        "narrowed_by",
    ),
    (
        "narrowed by a rule that does not refine it",
        _set(
            "blocking",
            [
                {"name": "by", "parts": ["birth_year", "family"], "narrowed_by": "ph"},
                {"name": "ph", "parts": ["phone", "birth_date"]},
            ],
        ),
        "does not narrow",
    ),
    ("prior of 1", _set("prior_match_probability", 1), "prior_match_probability"),
]


@pytest.mark.parametrize(
    ("edit", "message"), [(e, m) for _, e, m in BAD_EDITS], ids=[n for n, _, _ in BAD_EDITS]
)
def test_bad_rules_are_rejected_with_a_clear_message(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    document = copy.deepcopy(DOCUMENT)
    edit(document)
    with pytest.raises(RulesError, match=message):
        parse_rules(document)


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / RULES_FILE
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RulesError, match=str(path)):
        load_rules(path)
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.json")
