"""Dispatchers: how committed outbox rows reach the send job, through arq (Redis) or in-process tasks.

Neither may raise for a transient failure: the rows are already safe in the database as `pending`, and
the periodic sweep hands them over again later. A dispatcher only makes sending prompt, never reliable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from notifications.jobs import SEND_JOB, job_id_for

__all__ = ["ArqDispatcher", "InProcessDispatcher"]

log = logging.getLogger(__name__)

# A hand-over that takes longer than this is abandoned: the rows wait for the sweep instead.
ENQUEUE_TIMEOUT_SECONDS = 3.0


class ArqDispatcher:
    """Enqueue `send_outbox_message(id)` under job id `outbox:<id>`, so a row queued by both the
    after-commit hook and the sweep runs once."""

    def __init__(self, redis_settings: RedisSettings | None = None, *, pool: ArqRedis | None = None) -> None:
        self._redis_settings = redis_settings
        self._pool = pool
        self._owns_pool = pool is None
        self._connecting = asyncio.Lock()

    @classmethod
    def from_url(cls, redis_url: str) -> ArqDispatcher:
        # No connection retries: a request must not wait seconds for a Redis that is down; its rows wait
        # in the database instead, for a worker's sweep.
        return cls(replace(RedisSettings.from_dsn(redis_url), conn_retries=0, conn_timeout=1))

    async def connect(self) -> bool:
        """Connect now if we can; a failure is logged and retried on the next dispatch."""
        try:
            await self._get_pool()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("Redis unreachable (%s): SMS stay pending until it is back", type(exc).__name__)
            return False
        return True

    async def _get_pool(self) -> ArqRedis:
        if self._pool is None:
            async with self._connecting:
                if self._pool is None:
                    self._pool = await create_pool(self._redis_settings)
        return self._pool

    async def dispatch(self, outbox_ids: list[int]) -> None:
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
                pool = await self._get_pool()
                for outbox_id in outbox_ids:
                    await pool.enqueue_job(SEND_JOB, outbox_id, _job_id=job_id_for(outbox_id))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "Redis unreachable (%s): %s SMS stay pending; a worker's sweep will send them",
                type(exc).__name__,
                len(outbox_ids),
            )

    async def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            await self._pool.aclose()
        self._pool = None


class InProcessDispatcher:
    """Run the send job in this process, a few at a time.

    The worker process sends what its sweep finds this way (so it needs no Redis to send), and in
    embedded mode (no Redis at all) the web process sends everything this way.
    """

    def __init__(self, job: Callable[[int], Awaitable[object]], *, concurrency: int = 4) -> None:
        self._job = job
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._closed = False

    async def dispatch(self, outbox_ids: list[int]) -> None:
        if self._closed:
            return  # shutting down: the rows stay pending for the next start
        loop = asyncio.get_running_loop()
        for outbox_id in outbox_ids:
            if outbox_id in self._running:
                continue  # the claim would stop a second send anyway; this saves the round trip
            task = loop.create_task(self._run(outbox_id), name=f"sms-{outbox_id}")
            self._running[outbox_id] = task
            task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._running = {key: running for key, running in self._running.items() if running is not task}

    async def _run(self, outbox_id: int) -> None:
        async with self._slots:
            if self._closed:
                return
            try:
                await self._job(outbox_id)
            except Exception:
                log.exception("sending SMS %s failed; the sweep will retry it", outbox_id)

    async def drain(self) -> None:
        """Wait until every row handed over has been tried (tests)."""
        while self._running:
            await asyncio.wait(list(self._running.values()))
            await asyncio.sleep(0)  # let the done-callbacks forget the finished tasks

    def close(self) -> None:
        """Take nothing more; rows still waiting stay pending in the database for the next start. Sends
        already running are the stop's to settle (`SendsInFlight.settle`)."""
        self._closed = True
