"""An operator books from a case for a number online booking refuses (opted out of SMS, suspended for
no-shows): the booking is made, and the confirmation tells the operator to say it by phone."""

from __future__ import annotations

import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

from booking.models import Appointment, Attendance
from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher, phone_index
from notifications.opt_out import record_opt_out
from tests.booking.conftest import add_expert, appointments
from tests.conftest import log_in, post_form
from tests.hotline.test_booking_from_a_case import (
    PARENT_E164,
    _form_url,
    _free_slots,
    _open_case,
    a_booking,
)

OPTED_OUT = "该号码已退订短信"
SUSPENDED = "因多次爽约"
SMS_PROMISED = "家长将收到含详细信息的短信"


async def _book(client, engine, settings, expert) -> tuple[str, str]:
    """Book from a fresh case for PARENT_E164; the case page that follows, and its URL."""
    number = await _open_case(client)
    start = (await _free_slots(engine, settings, expert))[3]
    response = await post_form(client, _form_url(number, expert), a_booking(start), follow_redirects=False)
    assert response.status_code == 303, response.text
    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    return page.text, response.headers["location"]


async def test_an_opted_out_number_is_booked_and_the_operator_is_told_no_sms_will_arrive(
    client, engine, settings
):
    cipher = FieldCipher(settings.data_key)
    await log_in(client, engine, Role.OPERATOR)
    expert = await add_expert(engine)
    plain, _ = await _book(client, engine, settings, expert)
    assert "咨询已预约" in plain and OPTED_OUT not in plain and SUSPENDED not in plain

    async with create_sessionmaker(engine)() as session:
        await record_opt_out(session, phone_index(cipher, PARENT_E164), source="sms_stop")
        await session.commit()
    page, _ = await _book(client, engine, settings, expert)
    assert "咨询已预约" in page and OPTED_OUT in page and SMS_PROMISED not in page
    assert SUSPENDED not in page
    assert [row.status for row in await appointments(engine)] == ["confirmed", "confirmed"]


async def test_a_suspended_number_is_booked_and_the_operator_sees_until_when(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    await log_in(client, engine, Role.OPERATOR)
    expert = await add_expert(engine)
    async with create_sessionmaker(engine)() as session:
        for days in (60, 30, 10):  # three no-shows in six months: suspended for 90 days from the last
            starts = utcnow() - timedelta(days=days)
            session.add(
                Appointment(
                    expert_id=expert.id or 0, starts_at=starts, ends_at=starts + timedelta(minutes=50),
                    mode="phone", status="confirmed",
                    parent_name_ciphertext=cipher.encrypt("李女士", context="appointment.parent_name"),
                    parent_phone_ciphertext=cipher.encrypt(PARENT_E164, context="appointment.parent_phone"),
                    parent_phone_index=phone_index(cipher, PARENT_E164),
                    ical_uid=f"{secrets.token_hex(8)}@test", attendance=Attendance.NO_SHOW,
                )
            )  # fmt: skip
        await session.commit()
    page, location = await _book(client, engine, settings, expert)
    assert SUSPENDED in page and SMS_PROMISED in page and OPTED_OUT not in page
    until = (utcnow() + timedelta(days=80)).astimezone(ZoneInfo(settings.site_timezone))
    assert f"{until.month}月" in page  # the end of the suspension, in the reader's language

    # Another case's booking id in the URL shows nothing about that number.
    other_case = await _open_case(client)
    elsewhere = await client.get(f"/hotline/cases/{other_case}?{location.split('?', 1)[1]}")
    assert SUSPENDED not in elsewhere.text
