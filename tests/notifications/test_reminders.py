"""SMS reminders before a consultation: written with the confirmation, sent when their time comes, and
never sent for a cancelled appointment or to a number that replied STOP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.appointments import (
    ConfirmedBooking,
    book_for_parent,
    cancel_by_manage_token,
    confirm_with_code,
    hold_slot,
)
from booking.models import Appointment, Expert
from booking.parent_details import ParentDetails
from booking.slots import slots_for_expert
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from notifications.delivery import apply_delivery_status
from notifications.jobs import send_outbox_message, sweep_outbox
from notifications.opt_out import record_opt_out
from notifications.texts import render_sms
from tests.booking.conftest import add_expert, appointments, last_otp, outbox_rows, sms_body
from tests.conftest import make_user
from tests.notifications.conftest import PARENT_PHONE, load, pretend_time_passed, run_burst_worker

pytestmark = pytest.mark.redis

PARENT = ParentDetails(name="李女士", phone="138 1234 5678", topic="parenting")
DAY = timedelta(hours=24)


async def _slot(
    engine: AsyncEngine, settings: Settings, expert: Expert, *, later_than: timedelta
) -> datetime:
    """The first free slot starting more than `later_than` from now (or, negative, within -later_than)."""
    async with create_sessionmaker(engine)() as session:
        slots = await slots_for_expert(session, settings, expert)
    now = utcnow()
    if later_than >= timedelta(0):
        return next(s for s in slots if s - now > later_than)
    return next(s for s in slots if s - now < -later_than)


async def _parent_books(
    engine: AsyncEngine,
    cipher: FieldCipher,
    settings: Settings,
    expert: Expert,
    start: datetime,
    *,
    locale: str = "zh_Hans",
) -> ConfirmedBooking:
    """Hold a slot, read the code from the SMS, confirm it: the parent's path through booking."""
    async with create_sessionmaker(engine)() as session:
        held = await hold_slot(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="in_person",
            details=PARENT, locale=locale,
        )  # fmt: skip
    code = await last_otp(engine, cipher)
    async with create_sessionmaker(engine)() as session:
        return await confirm_with_code(session, cipher, settings, verify_token=held.verify_token, code=code)


async def _staff_books(
    engine: AsyncEngine, cipher: FieldCipher, settings: Settings, expert: Expert, start: datetime, **kwargs
) -> ConfirmedBooking:
    operator = await make_user(engine, "operator")
    async with create_sessionmaker(engine)() as session:
        return await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
            details=PARENT, locale="zh_Hans", booked_by_id=operator.id or 0, **kwargs,
        )  # fmt: skip


async def _cancel(engine: AsyncEngine, cipher: FieldCipher, settings: Settings, manage_token: str) -> None:
    async with create_sessionmaker(engine)() as session:
        await cancel_by_manage_token(session, cipher, settings, manage_token=manage_token)


# ---- written with the confirmation -------------------------------------------------------------------


async def test_confirming_writes_the_reminder_due_a_day_before_with_the_manage_link(
    engine, queue_settings, cipher
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    confirmed = await _parent_books(engine, cipher, queue_settings, expert, start)

    [confirmation] = await outbox_rows(engine, "booking_confirmed")
    [reminder] = await outbox_rows(engine, "reminder")
    assert reminder.not_before == start - timedelta(hours=queue_settings.reminder_hours_before) == start - DAY
    assert (reminder.status, reminder.related_type, reminder.related_id) == (
        "pending",
        "appointment",
        confirmed.appointment.id,
    )
    assert reminder.to_index == confirmation.to_index == phone_index(cipher, PARENT_PHONE)
    body = sms_body(cipher, reminder)
    assert "温馨提醒" not in reminder.body_ciphertext  # stored encrypted like every outbox row
    assert body.startswith(queue_settings.sms_signature) and body.startswith("【家庭教育热线】温馨提醒")
    assert "王老师" in body and "市家庭教育指导服务中心" in body
    assert f"http://testserver.local/book/manage/{confirmed.manage_token}" in body


async def test_no_reminder_for_a_booking_made_less_than_a_day_ahead(engine, queue_settings, cipher):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=-(DAY - timedelta(minutes=5)))
    await _parent_books(engine, cipher, queue_settings, expert, start)

    assert len(await outbox_rows(engine, "booking_confirmed")) == 1
    assert await outbox_rows(engine, "reminder") == []


async def test_staff_booking_gets_a_reminder_too_in_the_same_transaction(engine, queue_settings, cipher):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))

    def refuse(_appointment: Appointment) -> None:
        raise RuntimeError("audit row could not be written")

    # The caller's part failing before the one commit takes everything with it: booking, confirmation
    # and reminder are one transaction.
    with pytest.raises(RuntimeError):
        await _staff_books(engine, cipher, queue_settings, expert, start, before_commit=refuse)
    assert await appointments(engine) == [] and await outbox_rows(engine) == []

    booked = await _staff_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")
    assert (reminder.related_id, reminder.not_before) == (booked.appointment.id, start - DAY)
    body = sms_body(cipher, reminder)
    assert f"/book/manage/{booked.manage_token}" in body and "专家将拨打您的这个号码" in body  # mode: phone


async def test_reminder_hours_are_a_setting_and_zero_turns_reminders_off(engine, queue_settings, cipher):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    await _staff_books(engine, cipher, queue_settings.with_overrides(reminder_hours_before=0), expert, start)
    assert await outbox_rows(engine, "reminder") == []

    other = await _slot(engine, queue_settings, expert, later_than=start - utcnow() + timedelta(hours=2))
    await _staff_books(engine, cipher, queue_settings.with_overrides(reminder_hours_before=3), expert, other)
    [reminder] = await outbox_rows(engine, "reminder")
    assert reminder.not_before == other - timedelta(hours=3)


# ---- sent when its time comes, and only then ----------------------------------------------------------


async def test_reminder_is_not_sent_before_its_time_and_the_sweep_sends_it_then(
    engine, queue_settings, cipher, fake_twilio
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    confirmed = await _parent_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")

    await run_burst_worker(queue_settings)  # its start-up sweep sends what is due: the code and confirmation
    assert [m.body for m in fake_twilio.messages if "温馨提醒" in m.body] == []
    assert (await load(engine, reminder.id or 0)).status == "pending"

    await pretend_time_passed(engine, reminder.id or 0)
    await run_burst_worker(queue_settings)
    [sent] = [m for m in fake_twilio.messages if "温馨提醒" in m.body]
    assert sent.to == PARENT_PHONE
    assert f"/book/manage/{confirmed.manage_token}" in sent.body
    assert (await load(engine, reminder.id or 0)).status == "sent"


async def test_cancelled_appointment_withdraws_its_reminder_and_it_never_goes_out(
    engine, queue_settings, cipher, fake_twilio, job_ctx
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    confirmed = await _parent_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")

    await _cancel(engine, cipher, queue_settings, confirmed.manage_token)
    row = await load(engine, reminder.id or 0)
    assert row.status == "withdrawn" and row.attempts == 0
    [confirmation] = await outbox_rows(engine, "booking_confirmed")
    assert confirmation.status == "pending"  # only the reminder is withdrawn
    assert len(await outbox_rows(engine, "booking_cancelled")) == 1

    await pretend_time_passed(engine, reminder.id or 0)
    assert await send_outbox_message(job_ctx, reminder.id or 0) == "skipped"  # the claim takes only pending
    await run_burst_worker(queue_settings)
    assert [m for m in fake_twilio.messages if "温馨提醒" in m.body] == []
    assert len([m for m in fake_twilio.messages if "已取消" in m.body]) == 1

    # A stray delivery callback naming the row (no SID stored) does not move it either.
    async with create_sessionmaker(engine)() as session:
        changed = await apply_delivery_status(
            session, message_sid="SM" + "0" * 32, twilio_status="delivered", outbox_id=reminder.id
        )
        await session.commit()
    assert changed is False
    assert (await load(engine, reminder.id or 0)).status == "withdrawn"


async def test_worker_withdraws_a_reminder_whose_appointment_was_cancelled_by_a_path_that_forgot(
    engine, queue_settings, cipher, fake_twilio, job_ctx
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    booked = await _staff_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")
    async with create_sessionmaker(engine)() as session:  # cancelled without outbox.withdraw
        await session.exec(
            update(Appointment).where(Appointment.id == booked.appointment.id).values(status="cancelled")
        )
        await session.commit()

    await pretend_time_passed(engine, reminder.id or 0)
    assert await send_outbox_message(job_ctx, reminder.id or 0) == "withdrawn"
    assert fake_twilio.messages == []
    row = await load(engine, reminder.id or 0)
    assert (row.status, row.sent_at) == ("withdrawn", None)
    assert await sweep_outbox(job_ctx) == 1  # only the confirmation is left to queue; the reminder is done


async def test_reminder_to_a_number_that_replied_stop_is_not_sent(
    engine, queue_settings, cipher, fake_twilio, job_ctx
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    await _staff_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")
    async with create_sessionmaker(engine)() as session:
        await record_opt_out(session, phone_index(cipher, PARENT_PHONE), source="sms_stop")
        await session.commit()

    await pretend_time_passed(engine, reminder.id or 0)
    await run_burst_worker(queue_settings)
    assert fake_twilio.messages == []
    assert (await load(engine, reminder.id or 0)).status == "suppressed"


# ---- the text ----------------------------------------------------------------------------------------


def test_reminder_text_renders_in_simplified_chinese_and_english():
    context = {
        "expert_name": "王老师",
        "when": "2026年12月1日星期二 09:00",
        "mode_label": "面谈",
        "place": "市家庭教育指导服务中心 人民路 1 号",
        "manage_url": "http://testserver.local/book/manage/TOKEN",
    }
    zh = render_sms("reminder", locale="zh_Hans", signature="【家庭教育热线】", **context)
    assert zh == (
        "【家庭教育热线】温馨提醒：您预约的王老师咨询将于2026年12月1日星期二 09:00进行"
        "（面谈，市家庭教育指导服务中心 人民路 1 号）。如需改约或取消：http://testserver.local/book/manage/TOKEN"
    )
    en = render_sms(
        "reminder", locale="en", signature="【Family Hotline】", **{**context, "mode_label": "In person"}
    )
    assert en.startswith(
        "【Family Hotline】Reminder: your consultation with 王老师 is at 2026年12月1日星期二 09:00"
    )
    assert en.endswith("To change or cancel: http://testserver.local/book/manage/TOKEN")
    with pytest.raises(ValueError, match="manage_url"):
        render_sms(
            "reminder", locale="en", signature="", **{k: v for k, v in context.items() if k != "manage_url"}
        )


async def test_english_booking_gets_an_english_reminder(engine, queue_settings, cipher):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    await _parent_books(engine, cipher, queue_settings, expert, start, locale="en")
    [reminder] = await outbox_rows(engine, "reminder")
    body = sms_body(cipher, reminder)
    assert "Reminder: your consultation with 王老师 is at" in body and "(In person," in body
