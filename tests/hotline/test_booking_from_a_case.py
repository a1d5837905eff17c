"""An operator books an expert for the caller from the case page: confirmed at once, SMS and audit row in
the same commit, listed on the case; wrong roles, taken slots, bad input and unknown cases write nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import hotline.case_bookings
from booking.appointments import hold_slot
from booking.models import Expert
from booking.parent_details import ParentDetails
from booking.slot_times import iso_utc
from booking.slots import slots_for_expert
from core.accounts import Role, StaffUser
from core.db import create_sessionmaker
from core.i18n import load_translations
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.intake import CallIntake, log_call
from tests.booking.conftest import add_expert, appointments, outbox_rows, sms_body
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import a_call, count_rows

PARENT_PHONE = "139 0000 2222"  # typed by the operator; not the caller's number on the case
PARENT_E164 = "+8613900002222"
ZH = load_translations("zh_Hans").gettext


def a_booking(start: datetime, **overrides: Any) -> dict[str, Any]:
    """The booking form as an operator fills it in for `start`; override or blank any field."""
    fields: dict[str, Any] = {
        "starts_at": iso_utc(start),
        "mode": "phone",
        "name": "李女士",
        "phone": PARENT_PHONE,
        "topic": "parenting",
        "notes": "孩子不愿上学，母亲希望尽快咨询",
    }
    fields.update(overrides)
    return fields


async def _free_slots(engine: AsyncEngine, settings: Settings, expert: Expert) -> list[datetime]:
    async with create_sessionmaker(engine)() as session:
        return await slots_for_expert(session, settings, expert)


async def _open_case(client, category: str = "parenting") -> str:
    return (await post_json(client, "/api/calls", a_call(category=category))).json()["case_number"]


async def _case_id(engine: AsyncEngine, number: str) -> int:
    async with engine.connect() as conn:
        query = text("SELECT id FROM referral_case WHERE number = :n")
        return int((await conn.execute(query, {"n": number})).scalar_one())


async def _booking_audits(engine: AsyncEngine) -> list[tuple[int, str, dict[str, Any]]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT actor_id, object_id, detail FROM audit_event WHERE action = 'case.booking'")
        )
        return [(row.actor_id, row.object_id, json.loads(row.detail)) for row in rows.all()]


async def _nothing_booked(engine: AsyncEngine) -> bool:
    return (
        await count_rows(engine, "appointment") == 0
        and await count_rows(engine, "outbox_message") == 0
        and await _booking_audits(engine) == []
    )


def _form_url(number: str, expert: Expert) -> str:
    return f"/hotline/cases/{number}/book/experts/{expert.id}/form"


async def test_operator_books_an_expert_for_the_caller_from_the_case(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _open_case(client, category="parenting")
    expert = await add_expert(engine, name="王老师")  # specialties: parenting, study_pressure
    other = await add_expert(engine, name="赵老师")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE expert SET specialties = 'bullying' WHERE id = :i"), {"i": other.id})
    start = (await _free_slots(engine, settings, expert))[3]  # well past the minimum notice

    case_page = await client.get(f"/hotline/cases/{number}")
    assert "为来电人预约专家咨询" in case_page.text and f"/hotline/cases/{number}/book" in case_page.text

    listing = await client.get(f"/hotline/cases/{number}/book")
    assert listing.status_code == 200
    assert "王老师" in listing.text and "赵老师" not in listing.text  # only the case's specialty
    assert f"{_form_url(number, expert)}?starts_at={iso_utc(start).replace(':', '%3A')}" in listing.text
    everyone = await client.get(f"/hotline/cases/{number}/book", params={"all_experts": "true"})
    assert "王老师" in everyone.text and "赵老师" in everyone.text

    form = await client.get(_form_url(number, expert), params={"starts_at": iso_utc(start)})
    assert form.status_code == 200
    assert f'value="{iso_utc(start)}" checked' in form.text
    assert '<option value="parenting" selected>' in form.text  # topic defaults to the case's category
    assert "13812345678" not in form.text  # the caller's number is never pre-filled in clear

    response = await post_form(client, _form_url(number, expert), a_booking(start), follow_redirects=False)

    assert response.status_code == 303, response.text
    [row] = await appointments(engine)
    assert response.headers["location"] == f"/hotline/cases/{number}?booked={row.id}"
    assert (row.status, row.expert_id, row.starts_at, row.mode) == ("confirmed", expert.id, start, "phone")
    assert (row.case_id, row.booked_by_id) == (await _case_id(engine, number), operator.id)
    assert row.verify_token_hash is None and row.manage_token_hash  # no SMS code step
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(row.parent_phone_ciphertext, context="appointment.parent_phone") == PARENT_E164

    [sms] = await outbox_rows(engine)
    assert (sms.kind, sms.related_type, sms.related_id) == ("booking_confirmed", "appointment", row.id)
    assert cipher.decrypt(sms.to_ciphertext, context="outbox.to") == PARENT_E164
    assert "http://testserver.local/book/manage/" in sms_body(cipher, sms)
    assert "王老师" in sms_body(cipher, sms)

    [(actor_id, object_id, detail)] = await _booking_audits(engine)
    assert (actor_id, object_id) == (operator.id, number)
    assert detail == {"appointment": row.id, "expert": expert.id, "mode": "phone"}

    # A parent's own booking with another expert belongs to no case and must not appear on this one.
    async with create_sessionmaker(engine)() as session:
        other_start = (await slots_for_expert(session, settings, other))[3]
        await hold_slot(
            session, cipher, settings, expert_id=other.id or 0, starts_at=other_start, mode="phone",
            details=ParentDetails("张先生", "13900001111"), locale="zh_Hans",
        )  # fmt: skip

    page = await client.get(response.headers["location"])
    assert page.status_code == 200
    assert "咨询已预约" in page.text
    table = page.text.split('class="case-appointments"', 1)[1].split("</table>", 1)[0]
    assert "王老师" in table and ZH("By phone") in table and ZH("Confirmed") in table
    assert "赵老师" not in table
    assert await count_rows(engine, "audit_event", "action = 'case.read'") == 2  # each case page read


async def test_booking_its_sms_and_its_audit_row_commit_together_or_not_at_all(
    client, engine, settings, monkeypatch
):
    await log_in(client, engine, Role.SUPERVISOR)
    number = await _open_case(client)
    expert = await add_expert(engine)
    start = (await _free_slots(engine, settings, expert))[3]

    def audit_fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(hotline.case_bookings, "record_audit", audit_fails)
    response = await post_form(client, _form_url(number, expert), a_booking(start))

    assert response.status_code == 500
    assert await _nothing_booked(engine)  # no appointment and no SMS without the audit row
    assert start in await _free_slots(engine, settings, expert)


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.EXPERT])
async def test_coordinators_and_experts_cannot_book_from_a_case(client, engine, settings, role):
    await log_in(client, engine, Role.OPERATOR)
    number = await _open_case(client)
    expert = await add_expert(engine)
    start = (await _free_slots(engine, settings, expert))[3]
    await log_in(client, engine, role)

    for url in (
        f"/hotline/cases/{number}/book",
        f"/hotline/cases/{number}/book/experts/{expert.id}",
        f"{_form_url(number, expert)}?starts_at={iso_utc(start)}",
    ):
        page = await client.get(url)
        assert page.status_code == 403, url
        assert "王老师" not in page.text and ZH("Next free times:") not in page.text
    refused = await post_form(client, _form_url(number, expert), a_booking(start))
    assert refused.status_code == 403
    assert await _nothing_booked(engine)


async def test_anonymous_visitor_is_sent_to_login_and_books_nothing(client, engine, settings):
    operator: StaffUser = await make_user(engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        logged = await log_call(
            session,
            FieldCipher(settings.data_key),
            intake=CallIntake(**a_call(category="parenting")),
            actor=operator,
            timezone=settings.site_timezone,
        )
    expert = await add_expert(engine)
    start = (await _free_slots(engine, settings, expert))[3]
    base = f"/hotline/cases/{logged.case_number}/book"

    page = await client.get(base, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith(f"/login?next={base}")
    posted = await post_form(
        client, _form_url(logged.case_number, expert), a_booking(start), follow_redirects=False
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert await _nothing_booked(engine)


async def test_a_slot_just_taken_reshows_the_form_with_the_next_free_times(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    number = await _open_case(client)
    expert = await add_expert(engine)
    slots = await _free_slots(engine, settings, expert)
    start = slots[3]
    first = await post_form(client, _form_url(number, expert), a_booking(start), follow_redirects=False)
    assert first.status_code == 303

    second = await post_form(
        client,
        _form_url(number, expert),
        a_booking(start, name="张先生", phone="13900001111"),
        follow_redirects=False,
    )

    assert second.status_code == 409
    taken = ZH("Sorry, this time has just been taken by someone else. Please choose another time.")
    assert taken in second.text
    # The next free times after the wanted one are offered to pick from, none pre-chosen, and what the
    # operator typed is kept.
    for later in slots[4:7]:
        assert f'name="starts_at" value="{iso_utc(later)}">' in second.text
    assert f'value="{iso_utc(start)}"' not in second.text
    assert 'value="张先生"' in second.text and 'value="13900001111"' in second.text
    assert len(await appointments(engine)) == 1
    assert await count_rows(engine, "outbox_message") == 1
    assert len(await _booking_audits(engine)) == 1


async def test_invalid_details_are_refused_field_by_field_and_nothing_is_written(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    number = await _open_case(client)
    expert = await add_expert(engine, modes="phone,video")
    start = (await _free_slots(engine, settings, expert))[3]

    response = await post_form(
        client, _form_url(number, expert), a_booking(start, phone="12345", name="", mode="in_person")
    )

    assert response.status_code == 400
    assert ZH("Enter a mainland mobile number: 11 digits starting with 13 to 19.") in response.text
    assert ZH("Enter your name (a surname or nickname is enough).") in response.text
    assert ZH("Choose one of the ways this expert offers consultations.") in response.text
    assert f'value="{iso_utc(start)}" checked' in response.text  # the chosen time stays chosen
    assert 'value="12345"' in response.text
    assert await _nothing_booked(engine)

    no_time = await post_form(client, _form_url(number, expert), a_booking(start, starts_at=""))
    assert no_time.status_code == 400
    assert ZH("Choose a time from the list of free times.") in no_time.text
    forged = await client.post(_form_url(number, expert), data=a_booking(start))  # no CSRF token
    assert forged.status_code == 403
    assert await _nothing_booked(engine)


async def test_an_unknown_case_number_is_404_and_books_nothing(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    expert = await add_expert(engine)
    start = (await _free_slots(engine, settings, expert))[3]
    unknown = "12355-2026-424242"

    for url in (
        f"/hotline/cases/{unknown}/book",
        f"/hotline/cases/{unknown}/book/experts/{expert.id}",
        f"{_form_url(unknown, expert)}?starts_at={iso_utc(start)}",
    ):
        page = await client.get(url)
        assert page.status_code == 404, url
        assert ZH("No case has this number.") in page.text
    posted = await post_form(client, _form_url(unknown, expert), a_booking(start))
    assert posted.status_code == 404
    assert await _nothing_booked(engine)
