"""Dispatchers: how committed outbox rows reach the send job, through arq (Redis) or in-process tasks.

Neither may raise for a transient failure: the rows are already safe in the database as `pending`, and
the periodic sweep hands them over again later. A dispatcher only makes sending prompt, never reliable.
Both send the most urgent rows first (`Ready.priority`: one-time codes before the rest).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

from core.db import utcnow
from notifications.jobs import SEND_JOB, job_id_for
from notifications.models import SEND_PRIORITY
from notifications.outbox import Ready

__all__ = ["ArqDispatcher", "InProcessDispatcher"]

log = logging.getLogger(__name__)

# arq runs queued jobs in order of their score, the time they are due. A more urgent job is queued as if
# due this much earlier per level, so a one-time code overtakes confirmations queued up to two hours
# before it (arq logs such a job as "delayed"; it is not).
PRIORITY_LEAD = timedelta(hours=1)
_LEAST_URGENT = max(SEND_PRIORITY.values())

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

    async def dispatch(self, ready: list[Ready]) -> None:
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
                pool = await self._get_pool()
                for item in sorted(ready, key=lambda item: item.priority):
                    lead = PRIORITY_LEAD * (_LEAST_URGENT - item.priority)
                    await pool.enqueue_job(
                        SEND_JOB,
                        item.outbox_id,
                        _job_id=job_id_for(item.outbox_id),
                        _defer_until=utcnow() - lead if lead else None,
                    )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning(
                "Redis unreachable (%s): %s SMS stay pending; a worker's sweep will send them",
                type(exc).__name__,
                len(ready),
            )

    async def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            await self._pool.aclose()
        self._pool = None


class InProcessDispatcher:
    """Run the send job in this process, a few at a time, the most urgent waiting row first.

    The worker process sends what its sweep finds this way (so it needs no Redis to send), and in
    embedded mode (no Redis at all) the web process sends everything this way.
    """

    def __init__(self, job: Callable[[int], Awaitable[object]], *, concurrency: int = 4) -> None:
        self._job = job
        self._concurrency = concurrency
        self._waiting: list[tuple[int, int, int]] = []  # heap of (priority, arrival, outbox id)
        self._arrivals = itertools.count()
        self._queued: set[int] = set()  # waiting or running
        self._runners: set[asyncio.Task[None]] = set()
        self._closed = False

    async def dispatch(self, ready: list[Ready]) -> None:
        if self._closed:
            return  # shutting down: the rows stay pending for the next start
        for item in ready:
            if item.outbox_id in self._queued:
                continue  # the claim would stop a second send anyway; this saves the round trip
            self._queued.add(item.outbox_id)
            heapq.heappush(self._waiting, (item.priority, next(self._arrivals), item.outbox_id))
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._runners) < self._concurrency:
            runner = loop.create_task(self._run_waiting(), name="sms-sender")
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)

    async def _run_waiting(self) -> None:
        while self._waiting and not self._closed:
            _, _, outbox_id = heapq.heappop(self._waiting)
            try:
                await self._job(outbox_id)
            except Exception:
                log.exception("sending SMS %s failed; the sweep will retry it", outbox_id)
            finally:
                self._queued.discard(outbox_id)

    async def drain(self) -> None:
        """Wait until every row handed over has been tried (tests)."""
        while self._runners:
            await asyncio.wait(list(self._runners))
            await asyncio.sleep(0)  # let the done-callbacks forget the finished runners

    def close(self) -> None:
        """Take nothing more; rows still waiting stay pending in the database for the next start. Sends
        already running are the stop's to settle (`SendsInFlight.settle`)."""
        self._closed = True
        self._waiting.clear()
        self._queued.clear()
