"""The intake rules on their own, without a database: what a valid call is, and what is refused."""

from __future__ import annotations

import pytest

from core.errors import FormInvalid
from hotline.intake import CallIntake, normalize_case_number, validate_call
from hotline.taxonomy import less_urgent_than
from tests.hotline.calls import a_call


def test_a_complete_call_is_normalised():
    valid = validate_call(CallIntake(**a_call(caller_phone="0086 138-1234-5678", summary="  求助  ")))
    assert valid.caller_phone_e164 == "+8613812345678"
    assert valid.summary == "求助"
    assert valid.case_number is None


def test_unanswered_questions_are_stored_as_not_stated_never_as_a_guess():
    valid = validate_call(CallIntake(line="12355", child_age_band="unknown", summary="匿名来电"))
    assert (valid.caller_type, valid.category, valid.urgency) == ("unknown", "unclassified", "unassessed")
    assert valid.caller_phone_e164 is None


def test_every_problem_is_reported_at_once():
    with pytest.raises(FormInvalid) as refused:
        validate_call(
            CallIntake(line="110", caller_type="alien", category="x", urgency="hurry", caller_phone="1")
        )
    assert set(refused.value.errors) == {
        "line",
        "caller_type",
        "category",
        "urgency",
        "child_age_band",
        "summary",
        "caller_phone",
    }


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("fe-2026-000042", "FE-2026-000042"), (" 12355-2026-000123 ", "12355-2026-000123"), ("", None)],
)
def test_case_numbers_are_accepted_as_people_type_them(typed, stored):
    assert normalize_case_number(typed) == stored


@pytest.mark.parametrize("typed", ["2026-000042", "XX-2026-000042", "12355-26-000042", "12355-2026-42"])
def test_malformed_case_numbers_are_refused(typed):
    with pytest.raises(ValueError):
        normalize_case_number(typed)


def test_a_call_lifts_a_case_only_out_of_lower_urgencies():
    assert less_urgent_than("crisis") == ["unassessed", "routine", "priority", "urgent"]
    assert less_urgent_than("routine") == ["unassessed"]
    assert less_urgent_than("unassessed") == []
