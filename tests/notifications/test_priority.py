"""One-time codes first: when many SMS are due at once (after an outage), a parent waiting on the booking
page for a code is served before confirmations, which go before reminders — in the sweep, in arq's queue
and in the in-process sender."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from core.db import utcnow
from notifications.dispatch import ArqDispatcher, InProcessDispatcher
from notifications.jobs import job_context, job_id_for, sweep_outbox
from notifications.outbox import Ready
from tests.conftest import REDIS_URL
from tests.notifications.conftest import enqueue_committed


class RecordingDispatcher:
    def __init__(self) -> None:
        self.handed_over: list[Ready] = []

    async def dispatch(self, ready: list[Ready]) -> None:
        self.handed_over.extend(ready)


async def test_the_sweep_hands_over_codes_first_then_notices_then_reminders(job_ctx, engine, cipher):
    earlier = utcnow() - timedelta(minutes=5)
    reminder = await enqueue_committed(engine, cipher, kind="reminder", not_before=earlier)
    confirmation = await enqueue_committed(engine, cipher, kind="booking_confirmed")
    cancellation = await enqueue_committed(engine, cipher, kind="booking_cancelled")
    code = await enqueue_committed(engine, cipher, kind="otp")
    recording = RecordingDispatcher()

    assert await sweep_outbox(job_context(replace(job_ctx["sms"], dispatcher=recording))) == 4

    assert [item.outbox_id for item in recording.handed_over] == [code, confirmation, cancellation, reminder]
    assert [item.priority for item in recording.handed_over] == [0, 1, 1, 2]


@pytest.mark.redis
async def test_a_code_overtakes_notices_already_waiting_in_arqs_queue(queue_settings):
    dispatcher = ArqDispatcher.from_url(queue_settings.redis_url)
    try:
        await dispatcher.dispatch([Ready(1, priority=1), Ready(2, priority=2)])
        await dispatcher.dispatch([Ready(3, priority=0)])
    finally:
        await dispatcher.close()

    redis = Redis.from_url(REDIS_URL)
    try:
        queued = await redis.zrange("arq:queue", 0, -1)
    finally:
        await redis.aclose()
    # arq starts due jobs in the order of their score.
    assert [job_id.decode() for job_id in queued] == [job_id_for(3), job_id_for(1), job_id_for(2)]


async def test_the_in_process_sender_takes_the_most_urgent_waiting_row_next():
    ran: list[int] = []
    first_may_finish = asyncio.Event()

    async def job(outbox_id: int) -> None:
        ran.append(outbox_id)
        if outbox_id == 1:
            await first_may_finish.wait()

    dispatcher = InProcessDispatcher(job, concurrency=1)
    await dispatcher.dispatch([Ready(1, priority=1), Ready(2, priority=2), Ready(3, priority=1)])
    await asyncio.sleep(0)  # row 1 starts and holds the only slot
    await dispatcher.dispatch([Ready(4, priority=0)])
    first_may_finish.set()
    await dispatcher.drain()

    assert ran == [1, 4, 3, 2]
