"""No-show suspensions, opted-out numbers and the limits against abuse of online booking: each refusal
happens before anything is held or any SMS row is written, and staff can still book for the parent."""

from __future__ import annotations

import asyncio
import secrets
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from booking.appointments import book_for_parent, hold_slot
from booking.errors import BookingSuspended, OptedOutOfSms, TooManyActive, TooManyCodes
from booking.models import Appointment, Attendance, Expert, RateCount
from booking.no_shows import (
    lift_suspension,
    no_show_record,
    register_exemption,
    suspension_for,
    unregister_exemption,
)
from booking.parent_details import ParentDetails
from booking.slots import slots_for_expert
from core.audit import AuditEvent
from core.db import AsyncSession, create_engine, create_sessionmaker, utcnow
from core.privacy import phone_index
from core.settings import Settings
from notifications.opt_out import record_opt_out
from tests.booking.conftest import add_expert, appointments, outbox_rows
from tests.conftest import make_user

PHONE = "+8613812345678"
PARENT = ParentDetails(name="李女士", phone="138 1234 5678", topic="parenting")


async def _slots(engine: AsyncEngine, settings: Settings, expert: Expert, now=None):
    async with create_sessionmaker(engine)() as session:
        return await slots_for_expert(session, settings, expert, now=now)


async def _hold(engine, cipher, settings, expert, start, *, details=PARENT, address=None, now=None):
    async with create_sessionmaker(engine)() as session:
        return await hold_slot(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=details, locale="zh_Hans", now=now, client_address=address,
        )  # fmt: skip


async def _staff_book(engine, cipher, settings, expert, start, staff_id):
    async with create_sessionmaker(engine)() as session:
        return await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=PARENT, locale="zh_Hans", booked_by_id=staff_id,
        )  # fmt: skip


async def _add_no_shows(engine, cipher, expert, days_ago: list[int], phone: str = PHONE) -> None:
    """Past confirmed appointments of `phone` that the expert marked as no-shows."""
    now = utcnow()
    async with create_sessionmaker(engine)() as session:
        for days in days_ago:
            starts = now - timedelta(days=days)
            session.add(
                Appointment(
                    expert_id=expert.id or 0,
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=50),
                    mode="phone",
                    status="confirmed",
                    parent_name_ciphertext=cipher.encrypt("李女士", context="appointment.parent_name"),
                    parent_phone_ciphertext=cipher.encrypt(phone, context="appointment.parent_phone"),
                    parent_phone_index=phone_index(cipher, phone),
                    ical_uid=f"{secrets.token_hex(8)}@test",
                    attendance=Attendance.NO_SHOW,
                )
            )
        await session.commit()


# ---- opted-out numbers ----------------------------------------------------------------------------------


async def test_an_opted_out_number_is_refused_before_anything_is_held_or_queued(engine, settings, cipher):
    expert = await add_expert(engine)
    async with create_sessionmaker(engine)() as session:
        await record_opt_out(session, phone_index(cipher, PHONE), source="sms_stop")
        await session.commit()
    start = (await _slots(engine, settings, expert))[0]

    with pytest.raises(OptedOutOfSms) as refused:
        await _hold(engine, cipher, settings, expert, start)
    assert "START" in refused.value.message and refused.value.format_args["hotline"] == "12355"
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []  # no code SMS row at all, so Twilio never sees a 21610

    # An operator on the phone with the parent books the same time.
    operator = await make_user(engine, "operator")
    booked = await _staff_book(engine, cipher, settings, expert, start, operator.id)
    assert booked.appointment.status == "confirmed"


# ---- no-show suspension ---------------------------------------------------------------------------------


async def test_three_no_shows_in_six_months_suspend_online_booking_but_not_staff_booking(
    engine, settings, cipher
):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [150, 60, 10])
    start = (await _slots(engine, settings, expert))[0]

    with pytest.raises(BookingSuspended) as refused:
        await _hold(engine, cipher, settings, expert, start)
    args = refused.value.format_args
    assert args["hotline"] == settings.booking_hotline_number and args["limit"] == 3
    zone = ZoneInfo(settings.site_timezone)
    expected_end = (utcnow() + timedelta(days=90 - 10)).astimezone(zone).date()
    assert abs((expected_end - date.fromisoformat(args["until"])).days) <= 1
    assert len(await appointments(engine)) == 3 and await outbox_rows(engine) == []

    coordinator = await make_user(engine, "coordinator")
    booked = await _staff_book(engine, cipher, settings, expert, start, coordinator.id)
    assert booked.appointment.status == "confirmed"


async def test_no_shows_below_the_limit_or_outside_the_window_do_not_suspend(engine, settings, cipher):
    expert = await add_expert(engine)
    # Two recent ones, and one from seven months ago: only two fall within any six-month window.
    await _add_no_shows(engine, cipher, expert, [215, 20, 5])
    async with create_sessionmaker(engine)() as session:
        record = await no_show_record(session, settings, phone_index(cipher, PHONE))
    assert record.counted == 2 and not record.suspended
    start = (await _slots(engine, settings, expert))[0]
    held = await _hold(engine, cipher, settings, expert, start)
    assert held.appointment.status == "held"


async def test_a_suspension_ends_after_its_period(engine, settings, cipher):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [40, 35, 30])
    index = phone_index(cipher, PHONE)
    async with create_sessionmaker(engine)() as session:
        assert await suspension_for(session, settings, index) is not None
        later = utcnow() + timedelta(days=settings.no_show_suspension_days - 29)
        assert await suspension_for(session, settings, index, now=later) is None
        shorter = settings.with_overrides(no_show_suspension_days=20)
        assert await suspension_for(session, shorter, index) is None


async def test_lifting_a_suspension_lets_the_number_book_online_and_is_audited(engine, settings, cipher):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [30, 20, 10])
    coordinator = await make_user(engine, "coordinator")
    index = phone_index(cipher, PHONE)
    async with create_sessionmaker(engine)() as session:
        await lift_suspension(
            session, cipher, phone_index=index, reason="孩子住院，已核实", actor_id=coordinator.id or 0,
            actor_label=coordinator.username, client_ip="203.0.113.9",
        )  # fmt: skip
    async with create_sessionmaker(engine)() as session:
        assert await suspension_for(session, settings, index) is None
        [audit] = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "booking.suspension_lifted"))
        ).all()
    assert audit.actor_id == coordinator.id and "孩子" not in audit.detail
    start = (await _slots(engine, settings, expert))[0]
    assert (await _hold(engine, cipher, settings, expert, start)).appointment.status == "held"

    # No-shows after the lift count afresh: three more suspend the number again.
    await _add_no_shows(engine, cipher, expert, [0])
    async with create_sessionmaker(engine)() as session:
        assert (await no_show_record(session, settings, index)).counted == 1


async def test_an_exemption_hook_keeps_a_programme_parent_from_being_suspended(engine, settings, cipher):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [30, 20, 10])
    index = phone_index(cipher, PHONE)
    asked: list[str] = []

    async def under_ordered_programme(session: AsyncSession, asked_index: str) -> bool:
        asked.append(asked_index)
        return asked_index == index

    register_exemption(under_ordered_programme)
    try:
        async with create_sessionmaker(engine)() as session:
            record = await no_show_record(session, settings, index)
        assert record.suspended_until is not None and record.exempt and not record.suspended
        start = (await _slots(engine, settings, expert))[0]
        assert (await _hold(engine, cipher, settings, expert, start)).appointment.status == "held"
        assert index in asked
    finally:
        unregister_exemption(under_ordered_programme)


# ---- limits against abuse ---------------------------------------------------------------------------------


async def test_code_sms_per_number_are_limited_per_hour_and_the_next_hour_opens_again(
    engine, settings, cipher
):
    limited = settings.with_overrides(otp_sms_per_phone_hour=2, booking_max_active_per_phone=10)
    expert = await add_expert(engine)
    now = utcnow().replace(minute=5)
    slots = await _slots(engine, limited, expert, now=now)
    for start in slots[:2]:
        await _hold(engine, cipher, limited, expert, start, now=now)
    with pytest.raises(TooManyCodes) as refused:
        await _hold(engine, cipher, limited, expert, slots[2], now=now)
    assert refused.value.status_code == 429
    assert len(await outbox_rows(engine, "otp")) == 2 and len(await appointments(engine)) == 2
    # The refusal was not counted, and the next hour's window starts empty.
    async with create_sessionmaker(engine)() as session:
        query = select(RateCount.count).where(col(RateCount.key).startswith("otp-phone"))
        counts = (await session.exec(query)).all()
    assert list(counts) == [2]
    held = await _hold(engine, cipher, limited, expert, slots[3], now=now + timedelta(hours=1))
    assert held.appointment.status == "held"


async def test_code_sms_per_client_address_are_limited(engine, settings, cipher):
    limited = settings.with_overrides(otp_sms_per_address_hour=2)
    expert = await add_expert(engine)
    slots = await _slots(engine, limited, expert)
    for i in range(2):
        parent = ParentDetails(name="家长", phone=f"1390000{i:04d}")
        await _hold(engine, cipher, limited, expert, slots[i], details=parent, address="198.51.100.7")
    third = ParentDetails(name="家长", phone="13900009999")
    with pytest.raises(TooManyCodes):
        await _hold(engine, cipher, limited, expert, slots[2], details=third, address="198.51.100.7")
    # Another network is not affected, and the address itself is never stored.
    await _hold(engine, cipher, limited, expert, slots[2], details=third, address="198.51.100.8")
    async with create_sessionmaker(engine)() as session:
        keys = (await session.exec(select(RateCount.key))).all()
    assert not any("198.51" in key for key in keys)


async def test_active_bookings_per_number_are_capped(engine, settings, cipher):
    limited = settings.with_overrides(booking_max_active_per_phone=2)
    expert = await add_expert(engine)
    slots = await _slots(engine, limited, expert)
    for start in slots[:2]:
        await _hold(engine, cipher, limited, expert, start)
    with pytest.raises(TooManyActive):
        await _hold(engine, cipher, limited, expert, slots[2])
    # An expired hold no longer counts.
    later = utcnow() + timedelta(minutes=limited.booking_hold_minutes, seconds=5)
    start = (await _slots(engine, limited, expert, now=later))[-1]
    assert (await _hold(engine, cipher, limited, expert, start, now=later)).appointment.status == "held"


async def _race(database_url: str, attempts) -> list[str]:
    """Run each attempt on its own engine (own connections): real concurrent transactions."""
    engines = [create_engine(database_url) for _ in attempts]
    try:
        return list(await asyncio.gather(*(attempt(e) for attempt, e in zip(attempts, engines, strict=True))))
    finally:
        for e in engines:
            await e.dispose()


async def test_simultaneous_holds_for_one_number_never_exceed_the_active_cap(
    engine, database_url, settings, cipher
):
    limited = settings.with_overrides(booking_max_active_per_phone=3, otp_sms_per_phone_hour=100)
    expert = await add_expert(engine)
    slots = await _slots(engine, limited, expert)

    def attempt(start):
        async def run(e: AsyncEngine) -> str:
            try:
                await _hold(e, cipher, limited, expert, start)
                return "held"
            except TooManyActive:
                return "refused"

        return run

    outcomes = await _race(database_url, [attempt(s) for s in slots[:10]])
    assert outcomes.count("held") == 3 and outcomes.count("refused") == 7
    assert len(await appointments(engine)) == 3 and len(await outbox_rows(engine, "otp")) == 3


async def test_simultaneous_code_requests_never_exceed_the_per_number_and_per_address_limits(
    engine, database_url, settings, cipher
):
    limited = settings.with_overrides(
        otp_sms_per_phone_hour=2, otp_sms_per_address_hour=4, booking_max_active_per_phone=100
    )
    expert = await add_expert(engine)
    slots = await _slots(engine, limited, expert)

    def attempt(start, phone: str, address: str):
        async def run(e: AsyncEngine) -> str:
            try:
                parent = ParentDetails(name="家长", phone=phone)
                await _hold(e, cipher, limited, expert, start, details=parent, address=address)
                return phone
            except TooManyCodes:
                return "refused"

        return run

    # Six requests for one number from six addresses, and eight numbers from one address.
    one_number = [attempt(slots[i], "13700000001", f"192.0.2.{i}") for i in range(6)]
    one_address = [attempt(slots[6 + i], f"1360000{i:04d}", "192.0.2.200") for i in range(8)]
    outcomes = await _race(database_url, one_number + one_address)
    assert outcomes[:6].count("13700000001") == 2
    assert len([o for o in outcomes[6:] if o != "refused"]) == 4
    assert len(await outbox_rows(engine, "otp")) == 6
