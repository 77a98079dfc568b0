"""Blocking keys: the same person written differently lands under the same keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ehr.mpi.blocking import blocking_keys
from ehr.mpi.features import match_record
from ehr.mpi.rules import default_rules

RULES = default_rules()


def _patient(
    name: str = "Nguyễn Văn An", birth: str = "1990-05-12", phone: str | None = "0912 345 678"
) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": name}],
        "birthDate": birth,
    }
    if phone:
        patient["telecom"] = [{"system": "phone", "value": phone}]
    return patient


def _keys(**fields: Any) -> set[str]:
    return blocking_keys(match_record(_patient(**fields)), RULES)


def test_a_record_is_indexed_by_year_and_family_phone_and_date_and_called_name() -> None:
    assert _keys() == {
        "by:1990|nguyen",
        "bf:1990-05-12|nguyen",
        "ph:0912345678",
        "dg:1990-05-12|an",
    }


def test_a_day_month_swap_keeps_every_key() -> None:
    assert _keys(birth="1990-12-05") == _keys()


def test_missing_parts_make_no_key_rather_than_a_key_for_everyone() -> None:
    assert _keys(phone=None, birth="1990") == {"by:1990|nguyen"}
    assert blocking_keys(match_record({"resourceType": "Patient"}), RULES) == set()


def test_a_family_name_typo_is_still_found_through_the_phone_and_the_birth_date() -> None:
    assert _keys() & _keys(name="Nguyn Văn An") == {"ph:0912345678", "dg:1990-05-12|an"}


def test_every_narrowing_block_lies_inside_the_block_it_narrows() -> None:
    """Two records sharing a ``bf`` key always share the ``by`` key it narrows."""
    narrowing = {rule.narrowed_by: rule.name for rule in RULES.blocking if rule.narrowed_by}
    assert narrowing == {"bf": "by"}
    for birth in ("1990-05-12", "1990-12-05"):
        shared = _keys() & _keys(birth=birth, phone=None, name="Nguyễn Thị Lan")
        assert {"bf:1990-05-12|nguyen", "by:1990|nguyen"} <= shared


@given(
    st.sampled_from(["Nguyễn Văn An", "NGUYEN VAN AN", "nguyễn văn an", "Nguyen  Van-An"]),
    st.sampled_from(["0912345678", "+84 912 345 678", "0912.345.678", "84912345678"]),
)
def test_writing_conventions_never_change_the_keys(name: str, phone: str) -> None:
    assert _keys(name=name, phone=phone) == _keys()
