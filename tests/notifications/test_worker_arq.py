"""SMS through the real queue: committed outbox rows → arq on Redis → worker → Twilio client → fake Twilio.

What must never happen: an SMS lost because Redis or Twilio was down, or one row sent twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from core.db import create_sessionmaker, utcnow
from core.privacy import phone_index
from notifications.dispatch import ArqDispatcher
from notifications.jobs import send_outbox_message
from tests.conftest import REDIS_URL
from tests.notifications.conftest import (
    OTHER_PHONE,
    PARENT_PHONE,
    enqueue_committed,
    load,
    opt_out_indexes,
    pretend_time_passed,
    run_burst_worker,
)

pytestmark = pytest.mark.redis


async def test_committed_confirmation_goes_out_through_arq_and_twilio(
    queue_settings, engine, cipher, fake_twilio
):
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    outbox_id = await enqueue_committed(
        engine, cipher, dispatcher=dispatcher, body="【家庭教育热线】预约已确认"
    )
    await dispatcher.close()

    redis = Redis.from_url(REDIS_URL)
    assert await redis.exists(f"arq:job:outbox:{outbox_id}"), "the commit did not hand the row to arq"
    await redis.aclose()

    worker = await run_burst_worker(queue_settings)

    assert worker.jobs_complete >= 1
    [sent] = fake_twilio.messages
    assert (sent.to, sent.body, sent.from_) == (PARENT_PHONE, "【家庭教育热线】预约已确认", "+15005550006")
    assert sent.status_callback == f"http://testserver.local/webhooks/twilio/sms-status?outbox={outbox_id}"
    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid, row.provider_status, row.attempts) == (
        "sent",
        sent.sid,
        "queued",
        1,
    )
    assert row.sent_at is not None


async def test_twilio_outage_keeps_the_sms_pending_and_a_later_run_sends_it(
    queue_settings, engine, cipher, fake_twilio
):
    fake_twilio.mode = "outage"
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    outbox_id = await enqueue_committed(engine, cipher, dispatcher=dispatcher)
    await dispatcher.close()

    await run_burst_worker(queue_settings)

    row = await load(engine, outbox_id)
    assert row.status == "pending", "an outage must not lose or fail the message"
    assert row.attempts == 1
    assert "500" in (row.last_error or "")
    assert row.not_before > utcnow() + timedelta(seconds=20), "the retry is not backed off"
    assert fake_twilio.messages == []

    # Twilio is back and the backoff has passed. The first job finished under the id "outbox:<id>";
    # the sweep must be able to queue the row again under that same id.
    fake_twilio.mode = "ok"
    await pretend_time_passed(engine, outbox_id)
    await run_burst_worker(queue_settings)

    row = await load(engine, outbox_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(fake_twilio.messages) == 1


async def test_outage_that_outlasts_every_attempt_marks_the_sms_failed(
    queue_settings, engine, cipher, fake_twilio
):
    fake_twilio.mode = "outage"
    settings = queue_settings.with_overrides(outbox_max_attempts=2)
    outbox_id = await enqueue_committed(engine, cipher)

    await run_burst_worker(settings)
    assert (await load(engine, outbox_id)).status == "pending"
    await pretend_time_passed(engine, outbox_id)
    await run_burst_worker(settings)

    row = await load(engine, outbox_id)
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.last_error.startswith("gave up")


async def test_recipient_who_replied_stop_to_twilio_is_failed_and_remembered_as_opted_out(
    queue_settings, engine, cipher, fake_twilio
):
    fake_twilio.mode = "opted_out"
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    outbox_id = await enqueue_committed(engine, cipher, dispatcher=dispatcher)

    await run_burst_worker(queue_settings)

    row = await load(engine, outbox_id)
    assert row.status == "failed"
    assert "21610" in row.last_error
    assert phone_index(cipher, PARENT_PHONE) in await opt_out_indexes(engine)

    # The next notice to that number is not even offered to Twilio.
    fake_twilio.mode = "ok"
    requests_before = fake_twilio.requests
    later_id = await enqueue_committed(engine, cipher, dispatcher=dispatcher)
    await dispatcher.close()
    await run_burst_worker(queue_settings)
    assert (await load(engine, later_id)).status == "suppressed"
    assert fake_twilio.requests == requests_before


async def test_invalid_number_fails_at_once_without_retries(queue_settings, engine, cipher, fake_twilio):
    fake_twilio.mode = "invalid_number"
    outbox_id = await enqueue_committed(engine, cipher)

    await run_burst_worker(queue_settings)

    row = await load(engine, outbox_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "21211" in row.last_error
    assert await opt_out_indexes(engine) == set(), "a bad number is not an opt-out"


async def test_redis_down_at_dispatch_leaves_the_row_pending_and_the_sweep_sends_it_when_back(
    queue_settings, engine, cipher, fake_twilio
):
    unreachable = ArqDispatcher.from_url("redis://127.0.0.1:1/14")
    outbox_id = await enqueue_committed(engine, cipher, dispatcher=unreachable)  # must not raise
    await unreachable.close()

    row = await load(engine, outbox_id)
    assert row.status == "pending"
    redis = Redis.from_url(REDIS_URL)
    assert not await redis.exists(f"arq:job:outbox:{outbox_id}")
    await redis.aclose()

    # Redis is back: a worker starts, sweeps, and sends what waited in the database.
    await run_burst_worker(queue_settings)

    assert (await load(engine, outbox_id)).status == "sent"
    assert len(fake_twilio.messages) == 1


async def test_queue_lost_in_a_redis_restart_is_rebuilt_from_the_outbox(
    queue_settings, engine, cipher, fake_twilio
):
    # Redis here keeps nothing on disk: a restart empties the queue after the hand-over succeeded.
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    outbox_id = await enqueue_committed(engine, cipher, dispatcher=dispatcher)
    await dispatcher.close()
    redis = Redis.from_url(REDIS_URL)
    assert await redis.exists(f"arq:job:outbox:{outbox_id}")
    await redis.flushdb()
    await redis.aclose()

    await run_burst_worker(queue_settings)

    assert (await load(engine, outbox_id)).status == "sent"
    assert [m.to for m in fake_twilio.messages] == [PARENT_PHONE]


async def test_reminder_waits_for_its_time_and_the_sweep_sends_it_then(
    queue_settings, engine, cipher, fake_twilio
):
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    later = utcnow() + timedelta(hours=20)
    outbox_id = await enqueue_committed(
        engine, cipher, dispatcher=dispatcher, kind="reminder", not_before=later
    )
    await dispatcher.close()

    await run_burst_worker(queue_settings)
    assert (await load(engine, outbox_id)).status == "pending"
    assert fake_twilio.messages == []

    await pretend_time_passed(engine, outbox_id)
    await run_burst_worker(queue_settings)
    assert (await load(engine, outbox_id)).status == "sent"


async def test_two_workers_never_send_the_same_row_twice(queue_settings, engine, cipher, fake_twilio):
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    ids = [
        await enqueue_committed(engine, cipher, dispatcher=dispatcher, to=OTHER_PHONE, body=f"通知 {n}")
        for n in range(12)
    ]
    await dispatcher.close()

    # Two workers start together; each sweeps at start-up and so queues every row a second time.
    await asyncio.gather(run_burst_worker(queue_settings), run_burst_worker(queue_settings))

    bodies = [m.body for m in fake_twilio.messages]
    assert sorted(bodies) == sorted(f"通知 {n}" for n in range(12))
    for outbox_id in ids:
        row = await load(engine, outbox_id)
        assert (row.status, row.attempts) == ("sent", 1)


async def test_the_same_job_racing_against_itself_sends_once(job_ctx, engine, cipher, fake_twilio):
    """Below arq: if a job id were ever delivered twice at once, the claim still lets one through."""
    outbox_id = await enqueue_committed(engine, cipher)
    other_engine_ctx = dict(job_ctx)
    from core.db import create_engine

    other_engine = create_engine(str(engine.url))
    other_engine_ctx["sessionmaker"] = create_sessionmaker(other_engine)
    try:
        outcomes = await asyncio.gather(
            *(send_outbox_message(ctx, outbox_id) for ctx in [job_ctx, other_engine_ctx] * 3)
        )
    finally:
        await other_engine.dispose()

    assert sorted(outcomes) == ["sent"] + ["skipped"] * 5
    assert len(fake_twilio.messages) == 1
