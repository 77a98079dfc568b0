"""Formatting instants: the ISO form of the moment, which parses back to it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ehr.search.dates import date_range, format_instant, from_micros

# Year 1 to 9999, as FHIR instants allow; negative micros are before 1970.
micros = st.integers(-62_135_596_800_000_000, 253_402_300_799_999_999)


@given(micros)
def test_format_instant_is_the_iso_form_in_utc(moment: int) -> None:
    """Four-digit years too: ``strftime`` wrote the year 999 as ``999``."""
    expected = from_micros(moment).replace(tzinfo=None).isoformat(timespec="microseconds")
    assert format_instant(moment) == f"{expected}Z"


@given(st.integers(-62_135_596_800_000_000, 253_402_300_798_999_999))
def test_a_formatted_instant_denotes_its_own_microsecond(moment: int) -> None:
    """(Up to the last second of 9999, whose range would end past what ``datetime`` holds.)"""
    assert date_range(format_instant(moment)) == (moment, moment)


def test_instants_of_one_second_differ_in_their_fraction_only() -> None:
    base = 1_795_538_164_000_000
    assert format_instant(base) == "2026-11-24T16:36:04.000000Z"
    assert format_instant(base + 398_752) == "2026-11-24T16:36:04.398752Z"
    assert format_instant(base - 1) == "2026-11-24T16:36:03.999999Z"
