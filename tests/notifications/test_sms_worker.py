"""`family-hotline worker` (SmsWorker) in this process, against a redis-server of the test's own: it does
not exit when Redis is away; it sends from the database meanwhile, and takes arq's jobs again once
Redis is back, even after Redis was killed and came back empty."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sqlmodel import select

from app.wiring import sms_worker
from notifications.dispatch import ArqDispatcher
from notifications.models import OutboxWorker
from notifications.worker import SmsWorker
from tests.fakes.redis_server import RedisProcess
from tests.notifications.conftest import enqueue_committed, load

pytestmark = pytest.mark.redis


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[RedisProcess]:
    redis = RedisProcess(tmp_path)  # not started: each test decides when Redis is there
    yield redis
    redis.stop()


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds} s for {what}")
        await asyncio.sleep(0.05)


async def _true(value: bool) -> bool:
    return value


async def _sent(engine, outbox_id: int) -> bool:
    return (await load(engine, outbox_id)).status == "sent"


async def _run(worker: SmsWorker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    return task


async def _stop(worker: SmsWorker, task: asyncio.Task[None]) -> None:
    worker.stop()
    async with asyncio.timeout(30):
        await task


async def test_with_redis_away_the_worker_stays_up_and_sends_from_the_database(
    queue_settings, own_redis, engine, cipher, fake_twilio, caplog
):
    settings = queue_settings.with_overrides(redis_url=own_redis.url, outbox_sweep_seconds=1)
    waiting = await enqueue_committed(engine, cipher, body="booked before the worker started")
    worker = sms_worker(settings)
    task = await _run(worker)
    try:
        await _eventually(lambda: _sent(engine, waiting), "the row waiting at start-up to be sent")
        later = await enqueue_committed(engine, cipher, body="booked while Redis is away")
        await _eventually(lambda: _sent(engine, later), "the sweep to send a row booked meanwhile")
        assert not task.done(), "the worker exited without Redis"
    finally:
        await _stop(worker, task)

    assert sorted(message.body for message in fake_twilio.messages) == [
        "booked before the worker started",
        "booked while Redis is away",
    ]
    assert "Redis unavailable" in caplog.text
    async with worker.runtime.deps.sessionmaker() as session:
        assert (await session.exec(select(OutboxWorker))).all() == [], "the stop did not retire the heartbeat"


async def test_the_doorbell_works_again_once_redis_is_back_even_after_a_kill(
    queue_settings, own_redis, engine, cipher, fake_twilio, caplog
):
    # A sweep interval far beyond the test: whatever is sent after start-up came through arq.
    settings = queue_settings.with_overrides(redis_url=own_redis.url, outbox_sweep_seconds=3600)
    worker = sms_worker(settings)
    task = await _run(worker)
    doorbell = ArqDispatcher.from_url(own_redis.url)

    def losses() -> int:
        return caplog.text.count("Redis unavailable")

    try:
        await _eventually(lambda: _true(losses() >= 1), "the worker to find Redis away")
        await own_redis.start()
        first = await enqueue_committed(engine, cipher, dispatcher=doorbell, body="after Redis came up")
        await _eventually(lambda: _sent(engine, first), "arq to send the first row once Redis is up")

        before_kill = losses()
        own_redis.kill()
        await _eventually(lambda: _true(losses() > before_kill), "the worker to notice Redis was killed")
        assert not task.done(), "the worker exited when Redis was killed"
        await own_redis.start()  # empty: nothing survived
        second = await enqueue_committed(engine, cipher, dispatcher=doorbell, body="after the kill")
        await _eventually(lambda: _sent(engine, second), "arq to send again after Redis restarted")
    finally:
        await doorbell.close()
        await _stop(worker, task)

    assert [message.body for message in fake_twilio.messages] == ["after Redis came up", "after the kill"]
