"""Reconciliation: an SMS whose earlier attempt may have reached Twilio is looked up there before it is
sent again, and sent only if it is not found; a send cut off mid-flight leaves its row in doubt, never
in `sending`. All through the real Twilio client against the fake Twilio's list endpoint."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import update

from core.db import create_sessionmaker, utcnow
from notifications.jobs import send_outbox_message
from notifications.models import OutboxMessage
from tests.notifications.conftest import (
    OTHER_PHONE,
    PARENT_PHONE,
    enqueue_committed,
    load,
    pretend_time_passed,
)

BODY = "【家庭教育热线】预约已确认，管理链接 https://hotline.example.cn/book/manage/tok-7Qx"


async def _in_doubt_since(engine, outbox_id: int, since: datetime, *, attempts: int = 1) -> None:
    """The row after an attempt whose outcome is unknown: back to pending, remembering when it began."""
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(status="pending", attempts=attempts, claimed_at=since, in_doubt_since=since)
        )
        await session.commit()


async def test_a_message_found_at_twilio_is_adopted_not_sent_again(
    job_ctx, engine, cipher, fake_twilio, twilio_sender
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    began = utcnow()
    # The earlier attempt: Twilio created the message, but its worker never heard the answer.
    reached = await twilio_sender.send(PARENT_PHONE, BODY)
    await _in_doubt_since(engine, outbox_id, began)

    assert await send_outbox_message(job_ctx, outbox_id) == "found"

    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid, row.in_doubt_since, row.attempts) == (
        "sent",
        reached.provider_sid,
        None,
        2,
    )
    assert fake_twilio.requests == 1, "sent a second time"
    assert fake_twilio.list_requests == 1


async def test_nothing_found_at_twilio_means_the_message_is_sent(
    job_ctx, engine, cipher, fake_twilio, twilio_sender
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    # Near misses, none of which is this attempt: another body to the parent, the same body to someone
    # else, and the same body sent to the parent long before the attempt in doubt began.
    await twilio_sender.send(PARENT_PHONE, BODY + " (an older booking)")
    await twilio_sender.send(OTHER_PHONE, BODY)
    long_ago = await twilio_sender.send(PARENT_PHONE, BODY)
    fake_twilio.messages[-1].created_at -= timedelta(hours=3)
    await _in_doubt_since(engine, outbox_id, utcnow() - timedelta(seconds=5))

    assert await send_outbox_message(job_ctx, outbox_id) == "sent"

    row = await load(engine, outbox_id)
    new = fake_twilio.messages[-1]
    assert (new.to, new.body) == (PARENT_PHONE, BODY)
    assert row.provider_sid == new.sid != long_ago.provider_sid
    assert (row.status, row.in_doubt_since) == ("sent", None)
    assert fake_twilio.requests == 4


async def test_twilio_unable_to_answer_the_lookup_means_nothing_is_sent_yet(
    job_ctx, engine, cipher, fake_twilio
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    began = utcnow() - timedelta(seconds=5)
    await _in_doubt_since(engine, outbox_id, began)
    fake_twilio.mode = "outage"

    assert await send_outbox_message(job_ctx, outbox_id) == "retry"

    row = await load(engine, outbox_id)
    assert (row.status, row.attempts) == ("pending", 2)
    assert row.in_doubt_since == began, "the doubt is kept for the next attempt"
    assert row.not_before > utcnow()
    assert "could not check for an earlier attempt" in (row.last_error or "")
    assert fake_twilio.requests == 0, "sent without knowing whether it had already arrived"

    # Twilio answers again: the next attempt looks, finds nothing, and sends.
    fake_twilio.mode = "ok"
    await pretend_time_passed(engine, outbox_id)
    assert await send_outbox_message(job_ctx, outbox_id) == "sent"
    assert [message.body for message in fake_twilio.messages] == [BODY]


async def test_the_lookup_reads_on_through_pages_until_it_finds_the_message(
    job_ctx, engine, cipher, fake_twilio, twilio_sender
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    began = utcnow()
    reached = await twilio_sender.send(PARENT_PHONE, BODY)
    for n in range(44):  # newer messages to the same number push it onto the third page of 20
        await twilio_sender.send(PARENT_PHONE, f"【家庭教育热线】验证码 {100000 + n}")
    await _in_doubt_since(engine, outbox_id, began)

    assert await send_outbox_message(job_ctx, outbox_id) == "found"

    assert (await load(engine, outbox_id)).provider_sid == reached.provider_sid
    assert fake_twilio.list_requests == 3
    assert fake_twilio.requests == 45


async def test_a_message_already_recorded_on_another_row_is_not_adopted(job_ctx, engine, cipher, fake_twilio):
    # Two identical cancellations to one parent (the same slot booked and cancelled twice): the first
    # went out and is recorded; the second, in doubt, must not take the first one's SID.
    first_id = await enqueue_committed(engine, cipher, kind="booking_cancelled", body=BODY)
    assert await send_outbox_message(job_ctx, first_id) == "sent"
    second_id = await enqueue_committed(engine, cipher, kind="booking_cancelled", body=BODY)
    await _in_doubt_since(engine, second_id, utcnow() - timedelta(seconds=30))

    assert await send_outbox_message(job_ctx, second_id) == "sent"

    first, second = await load(engine, first_id), await load(engine, second_id)
    assert first.provider_sid != second.provider_sid
    assert [message.sid for message in fake_twilio.messages] == [first.provider_sid, second.provider_sid]


async def test_a_send_cut_off_mid_flight_leaves_its_row_in_doubt_and_the_next_attempt_finds_it(
    job_ctx, engine, cipher, fake_twilio
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    fake_twilio.hold_next_send()
    sending = asyncio.create_task(send_outbox_message(job_ctx, outbox_id))
    await fake_twilio.until_a_send_is_held()

    sending.cancel()  # what a stop past its grace, or arq's job timeout, does to the job
    await asyncio.gather(sending, return_exceptions=True)
    fake_twilio.release_held_sends()

    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid, row.attempts) == ("pending", None, 1)
    assert row.in_doubt_since == row.claimed_at
    assert "stopped while sending" in (row.last_error or "")

    assert await send_outbox_message(job_ctx, outbox_id) == "found"
    [created] = fake_twilio.messages
    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid, row.attempts) == ("sent", created.sid, 2)


async def test_an_unanswered_send_is_retried_only_after_looking(
    job_ctx, engine, cipher, fake_twilio, monkeypatch
):
    monkeypatch.setattr("notifications.sms.TWILIO_SEND_TIMEOUT_SECONDS", 0.3)
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    fake_twilio.hold_next_send()

    assert await send_outbox_message(job_ctx, outbox_id) == "retry"
    fake_twilio.release_held_sends()
    row = await load(engine, outbox_id)
    assert row.in_doubt_since == row.claimed_at

    await pretend_time_passed(engine, outbox_id)
    assert await send_outbox_message(job_ctx, outbox_id) == "found"
    assert len(fake_twilio.messages) == 1
