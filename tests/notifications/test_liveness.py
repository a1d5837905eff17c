"""Stalls by liveness: a row in `sending` stays with its worker while that worker's heartbeat is fresh,
however long the send takes, and is released for a check at Twilio as soon as the heartbeat stops (or the
worker retired). A clean stop lets sends in flight finish, cuts off the rest as in doubt, and leaves
nothing in `sending`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import select

from core.db import create_sessionmaker, utcnow
from notifications.jobs import send_outbox_message, sweep_outbox
from notifications.keeper import OutboxKeeper
from notifications.liveness import beat
from notifications.models import OutboxMessage, OutboxWorker
from tests.notifications.conftest import enqueue_committed, load, run_burst_worker

BODY = "【家庭教育热线】您的预约验证码为 604271，10分钟内有效。"


async def _claimed(engine, outbox_id: int, worker: str, *, ago: timedelta = timedelta(0)) -> None:
    """The row as its worker left it mid-send: claimed, no SID."""
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(status="sending", attempts=1, claimed_by=worker, claimed_at=utcnow() - ago)
        )
        await session.commit()


async def _heartbeat_age(engine, worker: str, age: timedelta) -> None:
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(OutboxWorker).where(OutboxWorker.name == worker).values(beat_at=utcnow() - age)
        )
        await session.commit()


async def _workers(engine) -> list[str]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(OutboxWorker.name))).all())


async def test_a_row_whose_worker_still_beats_is_left_alone_however_long_the_send_takes(
    job_ctx, engine, cipher
):
    outbox_id = await enqueue_committed(engine, cipher)
    await beat(create_sessionmaker(engine), "worker-a")
    await _claimed(engine, outbox_id, "worker-a", ago=timedelta(minutes=10))

    assert await sweep_outbox(job_ctx) == 0
    assert (await load(engine, outbox_id)).status == "sending"


async def test_a_row_whose_worker_stopped_beating_is_released_in_doubt(job_ctx, engine, cipher):
    stall = timedelta(seconds=job_ctx["sms"].settings.outbox_stall_seconds)
    outbox_id = await enqueue_committed(engine, cipher)
    await beat(create_sessionmaker(engine), "worker-a")
    await _claimed(engine, outbox_id, "worker-a", ago=timedelta(seconds=1))
    await _heartbeat_age(engine, "worker-a", stall - timedelta(seconds=2))
    assert await sweep_outbox(job_ctx) == 0, "released before the stall timeout"

    await _heartbeat_age(engine, "worker-a", stall + timedelta(seconds=1))
    assert await sweep_outbox(job_ctx) == 1  # released, and handed over in the same sweep

    row = await load(engine, outbox_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.in_doubt_since == row.claimed_at
    assert row.not_before <= utcnow()


async def test_a_row_of_a_worker_that_retired_is_released_at_once(job_ctx, engine, cipher):
    outbox_id = await enqueue_committed(engine, cipher)
    await _claimed(engine, outbox_id, "worker-that-stopped")

    assert await sweep_outbox(job_ctx) == 1
    assert (await load(engine, outbox_id)).in_doubt_since is not None


async def test_a_dead_workers_send_that_reached_twilio_is_found_not_repeated(
    queue_settings, engine, cipher, fake_twilio, twilio_sender
):
    # The duplicate: a worker killed while Twilio held its request leaves the row in `sending`
    # with no SID. The next worker's start-up sweep releases it and asks Twilio before sending.
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    await _claimed(engine, outbox_id, "killed-worker", ago=timedelta(seconds=3))
    reached = await twilio_sender.send("+8613812345678", BODY)

    await run_burst_worker(queue_settings)

    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid, row.attempts) == ("sent", reached.provider_sid, 2)
    assert len(fake_twilio.messages) == 1


async def test_the_keeper_beats_while_running_and_retires_when_stopped(job_ctx, engine):
    keeper = OutboxKeeper(job_ctx)
    await keeper.start()
    worker = job_ctx["sms"].worker
    assert await _workers(engine) == [worker]

    await keeper.stop(grace_seconds=1)
    assert await _workers(engine) == []


async def test_a_stop_lets_a_send_in_flight_finish_and_records_it(job_ctx, engine, cipher, fake_twilio):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    keeper = OutboxKeeper(job_ctx)
    await keeper.start()
    fake_twilio.hold_next_send()
    sending = asyncio.create_task(send_outbox_message(job_ctx, outbox_id))
    await fake_twilio.until_a_send_is_held()

    stopping = asyncio.create_task(keeper.stop(grace_seconds=10))
    await asyncio.sleep(0.3)
    assert not stopping.done(), "the stop did not wait for the send in flight"
    fake_twilio.release_held_sends()
    await stopping

    assert await sending == "sent"
    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid) == ("sent", fake_twilio.messages[0].sid)
    # Nothing new starts once stopping: the job declines, the row stays pending for the next worker.
    later_id = await enqueue_committed(engine, cipher, body="later")
    assert await send_outbox_message(job_ctx, later_id) == "skipped"
    assert (await load(engine, later_id)).status == "pending"


async def test_a_send_outliving_the_grace_is_cut_off_in_doubt_and_nothing_stays_sending(
    job_ctx, engine, cipher, fake_twilio
):
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    keeper = OutboxKeeper(job_ctx)
    await keeper.start()
    fake_twilio.hold_next_send()
    sending = asyncio.create_task(send_outbox_message(job_ctx, outbox_id))
    await fake_twilio.until_a_send_is_held()

    await keeper.stop(grace_seconds=0.2)
    fake_twilio.release_held_sends()

    assert sending.cancelled()
    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid) == ("pending", None)
    assert row.in_doubt_since is not None
    assert await _workers(engine) == []


async def test_a_sweeping_worker_judges_its_own_rows_by_its_sends_not_by_its_heartbeat_row(
    job_ctx, engine, cipher, fake_twilio
):
    # Its own heartbeat row may lag behind a busy database: it is alive all the same, and a send of its
    # own still in flight must not be released (its own sender would send it again).
    deps = job_ctx["sms"]
    outbox_id = await enqueue_committed(engine, cipher, body=BODY)
    fake_twilio.hold_next_send()
    sending = asyncio.create_task(send_outbox_message(job_ctx, outbox_id))
    await fake_twilio.until_a_send_is_held()
    assert (await load(engine, outbox_id)).claimed_by == deps.worker  # and no heartbeat row at all

    assert await sweep_outbox(job_ctx) == 0
    assert (await load(engine, outbox_id)).status == "sending"
    fake_twilio.release_held_sends()
    assert await sending == "sent"


async def test_a_row_of_its_own_that_no_send_of_its_own_is_working_on_is_released(job_ctx, engine, cipher):
    # A cut-off send that could not record itself (the database failed just then) leaves such a row.
    outbox_id = await enqueue_committed(engine, cipher)
    await _claimed(engine, outbox_id, job_ctx["sms"].worker)

    assert await sweep_outbox(job_ctx) == 1
    assert (await load(engine, outbox_id)).in_doubt_since is not None
