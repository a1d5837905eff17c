"""Holding, confirming and cancelling appointments, with the database deciding races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from booking.appointments import book_for_parent, cancel_by_manage_token, confirm_with_code, hold_slot
from booking.errors import BookingInvalid, HoldExpired, SlotTaken, WrongCode
from booking.models import Expert
from booking.parent_details import ParentDetails
from booking.slots import slots_for_expert
from core.db import create_engine, create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.settings import Settings
from tests.booking.conftest import add_expert, appointments, last_otp, outbox_rows, sms_body
from tests.conftest import make_user

PARENT = ParentDetails(name="李女士", phone="138 1234 5678", topic="parenting", notes="孩子不愿上学")


async def _first_slot(engine: AsyncEngine, settings: Settings, expert: Expert, index: int = 0):
    async with create_sessionmaker(engine)() as session:
        return (await slots_for_expert(session, settings, expert))[index]


async def _hold(engine, cipher, settings, expert, start, details=PARENT, now=None):
    async with create_sessionmaker(engine)() as session:
        return await hold_slot(
            session, cipher, settings, expert_id=expert.id, starts_at=start, mode="phone",
            details=details, locale="zh_Hans", now=now,
        )  # fmt: skip


async def _confirm(engine, cipher, settings, token, code, now=None):
    async with create_sessionmaker(engine)() as session:
        return await confirm_with_code(session, cipher, settings, verify_token=token, code=code, now=now)


async def test_two_parents_racing_for_one_slot_only_one_wins(
    engine: AsyncEngine, database_url: str, settings: Settings, cipher: FieldCipher
):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    racers = 12
    # Each parent gets their own engine (own connection pool): real concurrent transactions.
    engines = [create_engine(database_url) for _ in range(racers)]

    async def attempt(i: int) -> str:
        async with create_sessionmaker(engines[i])() as session:
            try:
                await hold_slot(
                    session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="phone",
                    details=ParentDetails(name=f"家长{i}", phone=f"1391234{i:04d}"), locale="zh_Hans",
                )  # fmt: skip
                return "won"
            except SlotTaken as exc:
                assert start not in exc.next_free
                return "lost"

    try:
        outcomes = await asyncio.gather(*(attempt(i) for i in range(racers)))
    finally:
        for e in engines:
            await e.dispose()
    assert outcomes.count("won") == 1
    rows = await appointments(engine)
    assert [(a.starts_at, a.status) for a in rows] == [(start, "held")]
    assert len(await outbox_rows(engine, "otp")) == 1  # losers queued no SMS


async def test_hold_then_right_code_confirms_and_queues_the_confirmation_sms_with_a_manage_link(
    engine, settings, cipher
):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    held = await _hold(engine, cipher, settings, expert, start)
    assert held.appointment.status == "held"
    assert len(held.verify_token) >= 43  # 256 bits, URL-safe
    [row] = await appointments(engine)
    assert row.verify_token_hash != held.verify_token and len(row.verify_token_hash or "") == 64
    assert "李女士" not in row.parent_name_ciphertext and "138" not in row.parent_phone_ciphertext

    code = await last_otp(engine, cipher)
    assert code not in (row.otp_hash or "")
    confirmed = await _confirm(engine, cipher, settings, held.verify_token, code)
    assert confirmed.appointment.status == "confirmed"
    assert confirmed.appointment.sequence == 1

    [sms] = await outbox_rows(engine, "booking_confirmed")
    body = sms_body(cipher, sms)
    assert f"http://testserver.local/book/manage/{confirmed.manage_token}" in body
    assert body.startswith(settings.sms_signature) and "王老师" in body
    assert cipher.decrypt(sms.to_ciphertext, context="outbox.to") == "+8613812345678"


async def test_wrong_code_counts_down_and_the_limit_releases_the_hold(engine, settings, cipher):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    held = await _hold(engine, cipher, settings, expert, start)
    code = await last_otp(engine, cipher)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in range(settings.otp_max_attempts - 1, 0, -1):
        with pytest.raises(WrongCode) as caught:
            await _confirm(engine, cipher, settings, held.verify_token, wrong)
        assert caught.value.attempts_left == left
    with pytest.raises(WrongCode) as caught:
        await _confirm(engine, cipher, settings, held.verify_token, wrong)
    assert caught.value.attempts_left == 0
    [row] = await appointments(engine)
    assert row.status == "expired"
    # Even the right code is refused now, and the slot is free for the next parent.
    with pytest.raises(HoldExpired):
        await _confirm(engine, cipher, settings, held.verify_token, code)
    assert await _first_slot(engine, settings, expert) == start


async def test_parallel_guesses_never_exceed_the_attempt_limit(engine, database_url, settings, cipher):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    held = await _hold(engine, cipher, settings, expert, start)
    code = await last_otp(engine, cipher)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    engines = [create_engine(database_url) for _ in range(10)]

    async def guess(e):
        with pytest.raises((WrongCode, HoldExpired)):
            await _confirm(e, cipher, settings, held.verify_token, wrong)

    try:
        await asyncio.gather(*(guess(e) for e in engines))
    finally:
        for e in engines:
            await e.dispose()
    [row] = await appointments(engine)
    assert row.otp_attempts <= settings.otp_max_attempts
    assert row.status == "expired"


async def test_an_unconfirmed_hold_expires_and_frees_the_slot_for_another_parent(engine, settings, cipher):
    expert = await add_expert(engine)
    later = utcnow() + timedelta(minutes=settings.booking_hold_minutes, seconds=1)
    # A slot still bookable at `later`: the first slot of now may fall inside the minimum notice by then.
    async with create_sessionmaker(engine)() as session:
        start = (await slots_for_expert(session, settings, expert, now=later))[0]
    held = await _hold(engine, cipher, settings, expert, start)
    async with create_sessionmaker(engine)() as session:
        assert start in await slots_for_expert(session, settings, expert, now=later)

    second = await _hold(
        engine, cipher, settings, expert, start, ParentDetails("张先生", "13900001111"), later
    )
    statuses = {a.id: a.status for a in await appointments(engine)}
    assert statuses == {held.appointment.id: "expired", second.appointment.id: "held"}
    with pytest.raises(HoldExpired):
        code = await last_otp(engine, cipher)
        await _confirm(engine, cipher, settings, held.verify_token, code, later)


async def test_a_refused_booking_leaves_no_appointment_and_no_sms(engine, settings, cipher):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    with pytest.raises(BookingInvalid) as caught:
        await _hold(engine, cipher, settings, expert, start, ParentDetails("李女士", "12345"))
    assert set(caught.value.errors) == {"phone"}
    with pytest.raises(SlotTaken):
        await _hold(engine, cipher, settings, expert, start + timedelta(minutes=7))
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []


async def test_a_parent_who_did_not_tick_consent_is_refused_by_booking_itself(engine, settings, cipher):
    """The consent rule is booking's, not the page's: every field's problem is named at once, and the
    channels without the box (staff on the phone, the JSON API) are not asked for it."""
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    unticked = ParentDetails("李女士", "12345", consented=False)
    with pytest.raises(BookingInvalid) as caught:
        await _hold(engine, cipher, settings, expert, start, unticked)
    assert set(caught.value.errors) == {"consent", "phone"}
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []
    ticked = ParentDetails("李女士", "13812345678", consented=True)
    assert (await _hold(engine, cipher, settings, expert, start, ticked)).appointment.status == "held"


async def test_cancel_by_link_is_idempotent_and_bumps_the_calendar_sequence(engine, settings, cipher):
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    held = await _hold(engine, cipher, settings, expert, start)
    confirmed = await _confirm(engine, cipher, settings, held.verify_token, await last_otp(engine, cipher))
    for _ in range(2):
        async with create_sessionmaker(engine)() as session:
            cancelled = await cancel_by_manage_token(
                session, cipher, settings, manage_token=confirmed.manage_token
            )
        assert cancelled.status == "cancelled" and cancelled.sequence == 2
    [sms] = await outbox_rows(engine, "booking_cancelled")
    assert "http://testserver.local/book" in sms_body(cipher, sms)
    async with create_sessionmaker(engine)() as session:
        assert start in await slots_for_expert(session, settings, expert)


async def test_operator_books_for_a_parent_from_a_case_without_a_code(engine, settings, cipher):
    operator = await make_user(engine, "operator")
    expert = await add_expert(engine)
    start = await _first_slot(engine, settings, expert)
    async with create_sessionmaker(engine)() as session:
        booked = await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=start, mode="in_person",
            details=PARENT, locale="zh_Hans", booked_by_id=operator.id or 0,
        )  # fmt: skip
    [row] = await appointments(engine)
    assert (row.status, row.booked_by_id, row.sequence) == ("confirmed", operator.id, 1)
    assert booked.manage_token
    assert await outbox_rows(engine, "otp") == []
    [sms] = await outbox_rows(engine, "booking_confirmed")
    assert "市家庭教育指导服务中心" in sms_body(cipher, sms)
