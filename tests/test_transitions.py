"""Each entity's legal status changes are declared once; these tests read the tables as rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.models import ACTIVE_STATUSES, APPOINTMENT_TRANSITIONS, AppointmentStatus
from core.transitions import IllegalTransition
from hotline.taxonomy import CASE_STATUSES, CASE_TRANSITIONS, CaseStatus
from notifications.models import OUTBOX_TRANSITIONS, OutboxStatus

TABLES = [
    (APPOINTMENT_TRANSITIONS, AppointmentStatus),
    (OUTBOX_TRANSITIONS, OutboxStatus),
    (CASE_TRANSITIONS, CaseStatus),
]


@pytest.mark.parametrize(("table", "statuses"), TABLES, ids=lambda t: getattr(t, "entity", ""))
def test_check_refuses_exactly_the_changes_the_table_does_not_declare(table, statuses):
    for source in statuses:
        for target in statuses:
            if table.allowed(source, target):
                table.check(source, target)
                assert source in table.sources_of(target)
            else:
                with pytest.raises(IllegalTransition):
                    table.check(source, target)
                assert source not in table.sources_of(target)


@given(st.lists(st.sampled_from(list(AppointmentStatus)), min_size=1, max_size=12))
def test_no_walk_through_the_appointment_table_brings_a_closed_booking_back(path):
    """Whatever legal steps are taken, a cancelled or expired appointment never holds its slot again."""
    current = AppointmentStatus.HELD
    for wanted in path:
        if APPOINTMENT_TRANSITIONS.allowed(current, wanted):
            current = wanted
        if current in (AppointmentStatus.CANCELLED, AppointmentStatus.EXPIRED):
            assert APPOINTMENT_TRANSITIONS.terminal(current)
            assert current not in ACTIVE_STATUSES


def test_an_sms_that_was_never_sent_is_final_and_an_outcome_never_goes_back():
    for never_sent in (OutboxStatus.SUPPRESSED, OutboxStatus.WITHDRAWN):
        assert OUTBOX_TRANSITIONS.terminal(never_sent)
    for outcome in (OutboxStatus.DELIVERED, OutboxStatus.UNDELIVERED, OutboxStatus.FAILED):
        assert OUTBOX_TRANSITIONS.terminal(outcome)
        assert not OUTBOX_TRANSITIONS.allowed(outcome, OutboxStatus.SENT)
    # Only a claimed row is sent; a delivery report may arrive before the worker records its send.
    assert OUTBOX_TRANSITIONS.sources_of(OutboxStatus.SENDING) == (OutboxStatus.PENDING,)
    assert set(OUTBOX_TRANSITIONS.sources_of(OutboxStatus.DELIVERED)) == {
        OutboxStatus.PENDING,
        OutboxStatus.SENDING,
        OutboxStatus.SENT,
    }


def test_a_closed_case_is_only_ever_reopened_and_every_status_has_a_label():
    assert CASE_TRANSITIONS.sources_of(CaseStatus.CLOSED) == (
        CaseStatus.ACCEPTED,
        CaseStatus.IN_PROGRESS,
        CaseStatus.REFERRED,
        CaseStatus.FOLLOW_UP,
    )
    assert [t for t in CaseStatus if CASE_TRANSITIONS.allowed(CaseStatus.CLOSED, t)] == [
        CaseStatus.IN_PROGRESS
    ]
    assert set(CASE_STATUSES) == set(CaseStatus)
