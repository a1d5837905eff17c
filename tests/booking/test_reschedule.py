"""Moving a confirmed consultation: one transaction, the database deciding races, SMS and reminder moved,
the calendar event kept with a higher SEQUENCE, the history kept."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from booking.appointments import book_for_parent, cancel_by_manage_token
from booking.errors import SlotTaken
from booking.models import Appointment, AppointmentMove, Expert
from booking.parent_details import ParentDetails
from booking.reschedule import reschedule, reschedule_by_manage_token
from booking.slots import slots_for_expert
from core.accounts import Role, StaffUser
from core.audit import AuditEvent
from core.db import create_engine, create_sessionmaker, utcnow
from core.errors import Conflict, NotFound
from core.privacy import FieldCipher
from core.settings import Settings
from tests.booking.conftest import add_expert, appointments, outbox_rows, sms_body
from tests.booking.test_calendar import events_by_icalendar
from tests.conftest import make_user
from tests.feeds import feed_token_of


async def free_slots(engine: AsyncEngine, settings: Settings, expert: Expert) -> list[datetime]:
    async with create_sessionmaker(engine)() as session:
        return await slots_for_expert(session, settings, expert)


async def book(engine, cipher, settings, expert, start, staff: StaffUser, phone: str = "13812345678"):
    async with create_sessionmaker(engine)() as session:
        return await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=ParentDetails(name="李女士", phone=phone, topic="parenting", notes="孩子不愿上学"),
            locale="zh_Hans", booked_by_id=staff.id or 0,
        )  # fmt: skip


async def move(engine, cipher, settings, appointment_id: int, start, staff: StaffUser | None, **kw):
    async with create_sessionmaker(engine)() as session:
        return await reschedule(
            session, cipher, settings, appointment_id=appointment_id, starts_at=start, moved_by=staff, **kw
        )


async def test_a_staff_move_keeps_the_event_sends_the_sms_moves_the_reminder_and_keeps_history(
    engine, settings: Settings, cipher: FieldCipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    first, later = slots[30], slots[60]  # both more than a day ahead: each gets a reminder
    booked = await book(engine, cipher, settings, expert, first, coordinator)
    before = (await appointments(engine))[0]

    done = await move(engine, cipher, settings, before.id, later, coordinator)

    [after] = await appointments(engine)
    assert (after.starts_at, after.status, after.ical_uid) == (later, "confirmed", before.ical_uid)
    assert after.sequence == before.sequence + 1
    assert done.manage_token != booked.manage_token  # staff cannot know the old link: a new one
    async with create_sessionmaker(engine)() as session:
        [history] = (await session.exec(select(AppointmentMove))).all()
        audit = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.reschedule"))
        ).all()
    assert (history.from_starts_at, history.to_starts_at) == (first, later)
    assert history.moved_by_id == coordinator.id
    assert [a.actor_label for a in audit] == [coordinator.username]

    [sms] = await outbox_rows(engine, "booking_rescheduled")
    assert f"/book/manage/{done.manage_token}" in sms_body(cipher, sms)
    reminders = await outbox_rows(engine, "reminder")
    assert [r.status for r in reminders] == ["withdrawn", "pending"]
    assert reminders[1].not_before == later - timedelta(hours=settings.reminder_hours_before)
    assert f"/book/manage/{done.manage_token}" in sms_body(cipher, reminders[1])
    # The old link is dead, the new one opens the booking.
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(NotFound):
            await cancel_by_manage_token(session, cipher, settings, manage_token=booked.manage_token)


async def test_the_parent_moves_with_their_link_which_keeps_working_and_the_feed_bumps_sequence(
    client, engine, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    booked = await book(engine, cipher, settings, expert, slots[3], coordinator)
    feed_url = f"/calendar/experts/{feed_token_of(expert)}.ics"
    [event_before] = events_by_icalendar((await client.get(feed_url)).content).values()

    async with create_sessionmaker(engine)() as session:
        done = await reschedule_by_manage_token(
            session, cipher, settings, manage_token=booked.manage_token, starts_at=slots[5]
        )
    assert done.manage_token == booked.manage_token
    events = events_by_icalendar((await client.get(feed_url)).content)
    assert list(events) == [booked.appointment.ical_uid]
    event = events[booked.appointment.ical_uid]
    assert event["status"] == "CONFIRMED" and event["start"] == slots[5]
    assert event["sequence"] == event_before["sequence"] + 1
    async with create_sessionmaker(engine)() as session:
        [history] = (await session.exec(select(AppointmentMove))).all()
    assert history.moved_by_id is None
    # The manage link still cancels it.
    async with create_sessionmaker(engine)() as session:
        cancelled = await cancel_by_manage_token(session, cipher, settings, manage_token=booked.manage_token)
    assert cancelled.status == "cancelled"


async def test_a_taken_time_a_cancelled_or_a_past_consultation_cannot_be_moved_and_nothing_is_written(
    engine, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    mine = await book(engine, cipher, settings, expert, slots[0], coordinator)
    await book(engine, cipher, settings, expert, slots[1], coordinator, phone="13912345678")
    sms_before = len(await outbox_rows(engine))

    with pytest.raises(SlotTaken) as taken:
        await move(engine, cipher, settings, mine.appointment.id, slots[1], coordinator)
    assert slots[1] not in taken.value.next_free
    with pytest.raises(Conflict):  # not yet begun, but "now" is after it: it has passed
        await move(engine, cipher, settings, mine.appointment.id, slots[2], coordinator,
                   now=slots[0] + timedelta(minutes=1))  # fmt: skip
    async with create_sessionmaker(engine)() as session:
        await cancel_by_manage_token(session, cipher, settings, manage_token=mine.manage_token)
    with pytest.raises(Conflict):
        await move(engine, cipher, settings, mine.appointment.id, slots[2], coordinator)

    rows = await appointments(engine)
    assert [a.starts_at for a in rows] == [slots[0], slots[1]]
    assert len(await outbox_rows(engine)) == sms_before + 1  # only the cancellation SMS
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(AppointmentMove))).all() == []


async def _race(engines: list[AsyncEngine], attempts) -> list[str]:
    try:
        return list(await asyncio.gather(*attempts))
    finally:
        for e in engines:
            await e.dispose()


async def test_two_parents_moving_onto_one_free_time_one_wins_and_the_other_keeps_their_own(
    engine, database_url, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    a = await book(engine, cipher, settings, expert, slots[0], coordinator, phone="13800000001")
    b = await book(engine, cipher, settings, expert, slots[1], coordinator, phone="13800000002")
    engines = [create_engine(database_url) for _ in range(2)]

    async def attempt(engine_: AsyncEngine, token: str) -> str:
        async with create_sessionmaker(engine_)() as session:
            try:
                await reschedule_by_manage_token(
                    session, cipher, settings, manage_token=token, starts_at=slots[5]
                )
                return "won"
            except SlotTaken:
                return "lost"

    outcomes = await _race(
        engines, [attempt(engines[0], a.manage_token), attempt(engines[1], b.manage_token)]
    )
    assert sorted(outcomes) == ["lost", "won"]
    starts = sorted(r.starts_at for r in await appointments(engine))
    assert slots[5] in starts and len(starts) == 2
    assert len(set(starts) & {slots[0], slots[1]}) == 1  # the loser still has their own time


async def test_a_move_racing_a_new_booking_for_the_same_time_leaves_exactly_one(
    engine, database_url, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine)
    slots = await free_slots(engine, settings, expert)
    mine = await book(engine, cipher, settings, expert, slots[0], coordinator)
    target = slots[4]
    engines = [create_engine(database_url) for _ in range(2)]

    async def moving() -> str:
        async with create_sessionmaker(engines[0])() as session:
            try:
                await reschedule(session, cipher, settings, appointment_id=mine.appointment.id or 0,
                                 starts_at=target, moved_by=coordinator)  # fmt: skip
                return "move"
            except SlotTaken:
                return "lost"

    async def booking() -> str:
        async with create_sessionmaker(engines[1])() as session:
            try:
                await book_for_parent(
                    session, cipher, settings, expert_id=expert.id or 0, starts_at=target, mode="phone",
                    details=ParentDetails(name="王先生", phone="13912345678"), locale="zh_Hans",
                    booked_by_id=coordinator.id or 0,
                )  # fmt: skip
                return "book"
            except SlotTaken:
                return "lost"

    outcomes = await _race(engines, [moving(), booking()])
    assert outcomes.count("lost") == 1
    rows = await appointments(engine)
    assert [r.starts_at for r in rows if r.status == "confirmed"].count(target) == 1
    assert await overlapping_pairs(engine) == 0


async def overlapping_pairs(engine: AsyncEngine) -> int:
    """Pairs of active appointments of one expert whose times overlap, counted by the database."""
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM appointment a JOIN appointment b ON a.expert_id = b.expert_id "
                "AND a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
                "WHERE a.status IN ('held', 'confirmed') AND b.status IN ('held', 'confirmed')"
            )
        )
        return int(found.scalar_one())


async def test_200_concurrent_moves_onto_20_free_times_give_20_winners_and_no_overlap(
    engine, database_url, settings, cipher
):
    coordinator = await make_user(engine, Role.COORDINATOR)
    expert = await add_expert(engine, slot_minutes=45, buffer_minutes=15)  # hourly slots, 12 a day
    slots = await free_slots(engine, settings, expert)
    targets, homes = slots[:20], slots[20:220]
    assert len(homes) == 200
    async with create_sessionmaker(engine)() as session:
        for i, start in enumerate(homes):
            session.add(
                Appointment(
                    expert_id=expert.id or 0, starts_at=start, ends_at=start + timedelta(minutes=45),
                    mode="phone", status="confirmed",
                    parent_name_ciphertext=cipher.encrypt("家长", context="appointment.parent_name"),
                    parent_phone_ciphertext=cipher.encrypt(f"+86138{i:08d}",
                                                           context="appointment.parent_phone"),
                    parent_phone_index=f"i{i}", ical_uid=f"race-{i}@test", confirmed_at=utcnow(), sequence=1,
                )
            )  # fmt: skip
        await session.commit()
        ids = [a.id for a in (await session.exec(select(Appointment).order_by(Appointment.id))).all()]  # type: ignore[arg-type]
    engines = [create_engine(database_url) for _ in range(4)]
    in_flight = asyncio.Semaphore(24)  # the test server shares its connection limit with other suites

    async def attempt(i: int) -> str:
        async with in_flight, create_sessionmaker(engines[i % 4])() as session:
            try:
                await reschedule(session, cipher, settings, appointment_id=ids[i] or 0,
                                 starts_at=targets[i % 20], moved_by=coordinator)  # fmt: skip
                return "won"
            except SlotTaken:
                return "lost"

    outcomes = await _race(engines, [attempt(i) for i in range(200)])
    assert outcomes.count("won") == 20
    assert await overlapping_pairs(engine) == 0
    async with create_sessionmaker(engine)() as session:
        on_targets = (
            await session.exec(
                select(Appointment).where(
                    Appointment.status == "confirmed", col(Appointment.starts_at).in_(targets)
                )
            )
        ).all()
        moves = (await session.exec(select(AppointmentMove))).all()
    assert (len(on_targets), len(moves)) == (20, 20)
    assert len(await outbox_rows(engine, "booking_rescheduled")) == 20
