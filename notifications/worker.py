"""The SMS worker process: arq for prompt sends, the database for everything that must not be lost.

Two things run in it. arq takes the jobs the web process queues in Redis (the doorbell) and runs the send
job at once. Beside it an `OutboxKeeper` beats the worker's heartbeat in the database and sweeps the
outbox every FH_OUTBOX_SWEEP_SECONDS, sending what is due through this process's own sender. Redis going
away silences only the doorbell: the worker keeps sweeping and sending from the database.

`family-hotline worker` runs `SmsWorker`, which also rides out Redis outages (arq is restarted with
backoff instead of the process exiting) and owns the signals: SIGTERM takes no more jobs, lets the sends
in flight finish for up to FH_SMS_STOP_GRACE_SECONDS, cuts off the rest as in doubt, and leaves nothing
in `sending`. `arq app.worker.WorkerSettings` runs arq's own Worker on the same `worker_settings`: the
sweep, heartbeat and graceful stop (arq's `job_completion_wait`) are the same, but arq's command line
exits when Redis goes away and relies on its supervisor (compose's restart policy) to start it again.

The application wires both (`app.wiring`), passing the `SendChecks` the areas registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import Worker, func
from redis.exceptions import RedisError

from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.dispatch import ArqDispatcher, InProcessDispatcher
from notifications.jobs import (
    JOB_TIMEOUT_SECONDS,
    SEND_JOB,
    SmsJobDeps,
    job_context,
    send_outbox_message,
)
from notifications.keeper import OutboxKeeper
from notifications.outbox import SendChecks, dispatch_after_commit
from notifications.sms import SmsSender, build_sender

__all__ = ["RUNTIME_KEY", "SmsWorker", "WorkerRuntime", "worker_settings"]

log = logging.getLogger(__name__)

# Where arq's ctx keeps the WorkerRuntime under `arq app.worker.WorkerSettings`.
RUNTIME_KEY = "sms_runtime"

# Reconnecting arq after Redis went away: 0.5 s, 1 s, 2 s ... at most 5 s apart, so the doorbell works
# again within seconds of Redis coming back. A connection that held this long resets the backoff.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0
HELD_SECONDS = 30.0

# After the stop has settled every send, arq's own bookkeeping in Redis gets this long to finish.
ARQ_CLOSE_SECONDS = 5.0


class WorkerRuntime:
    """What one worker process owns beside arq: its engine, the job context, its own sender for what the
    sweep finds, the keeper, and the doorbell its own sessions ring."""

    def __init__(self, settings: Settings, checks: SendChecks, *, sender: SmsSender | None = None) -> None:
        self.settings = settings
        self._engine = create_engine(settings.database_url)
        self.job_ctx: dict[str, Any] = {}
        self.local = InProcessDispatcher(lambda outbox_id: send_outbox_message(self.job_ctx, outbox_id))
        self.deps = SmsJobDeps(
            settings=settings,
            sessionmaker=create_sessionmaker(self._engine),
            cipher=FieldCipher(settings.data_key),
            sender=sender or build_sender(settings),
            dispatcher=self.local,
            checks=checks,
        )
        self.job_ctx.update(job_context(self.deps))
        self.keeper = OutboxKeeper(self.job_ctx)
        # Rows the worker's own jobs commit to the outbox (the periodic jobs' alerts, say) go to arq at
        # once, as the web process's do, rather than waiting for the next sweep. Its own connection, not
        # arq's: `SmsWorker` replaces arq's Worker (and its pool) whenever Redis comes back. Without
        # Redis they are sent here, as the sweep would.
        self.doorbell: ArqDispatcher | InProcessDispatcher = (
            ArqDispatcher.from_url(settings.redis_url) if settings.redis_url else self.local
        )
        dispatch_after_commit(self.deps.sessionmaker, self.doorbell)

    async def start(self) -> None:
        handed_over = await self.keeper.start()
        log.info("worker started; %s waiting SMS being sent (worker %s)", handed_over, self.deps.worker)

    async def stop(self) -> None:
        """Settle the sends in flight and retire; then `close`."""
        await self.keeper.stop(self.settings.sms_stop_grace_seconds)

    async def close(self) -> None:
        self.local.close()
        if isinstance(self.doorbell, ArqDispatcher):
            await self.doorbell.close()
        close = getattr(self.deps.sender, "aclose", None)
        if close is not None:
            await close()
        await self._engine.dispose()


def worker_settings(
    settings: Settings,
    checks: SendChecks,
    *,
    sender: SmsSender | None = None,
    cron_jobs: Sequence[CronJob] = (),
) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` (arq's WorkerSettings, as data). `cron_jobs` are the
    periodic jobs other areas run in the worker (the application passes them: notifications knows none);
    they are called with the same `ctx` as the send job, `ctx["sms"]` holding the worker's database
    sessions, settings and cipher."""
    if not settings.redis_url:
        raise ValueError("the arq worker needs FH_REDIS_URL")

    async def on_startup(ctx: dict[str, Any]) -> None:
        runtime = WorkerRuntime(settings, checks, sender=sender)
        await runtime.start()
        ctx.update(runtime.job_ctx)
        ctx[RUNTIME_KEY] = runtime

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        runtime: WorkerRuntime | None = ctx.get(RUNTIME_KEY)
        if runtime is not None:
            await runtime.stop()
            await runtime.close()

    return {
        # keep_result=0: a finished job leaves no result key behind, because a kept result would make
        # arq refuse a later enqueue under the same job id, and a row must be able to be queued again
        # under "outbox:<id>" (after a retry backoff, say). max_tries=1: retries are ours, driven by the
        # row's status and not_before, not arq's.
        "functions": [func(send_outbox_message, name=SEND_JOB, keep_result=0, max_tries=1)],
        "cron_jobs": list(cron_jobs),
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "keep_result": 0,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "max_jobs": 10,
        # arq's own graceful stop: on SIGTERM it takes no more jobs and waits this long for those running
        # before cancelling them (a cancelled send records itself as in doubt).
        "job_completion_wait": settings.sms_stop_grace_seconds,
    }


class SmsWorker:
    """`family-hotline worker`: the runtime, and arq kept consuming for as long as the process runs."""

    def __init__(
        self,
        settings: Settings,
        checks: SendChecks,
        *,
        sender: SmsSender | None = None,
        cron_jobs: Sequence[CronJob] = (),
    ) -> None:
        self.settings = settings
        self.runtime = WorkerRuntime(settings, checks, sender=sender)
        arq_settings = worker_settings(settings, checks, sender=sender, cron_jobs=cron_jobs)
        self._arq_kwargs = {
            **arq_settings,
            # The runtime is ours and outlives every arq Worker we start; so are the signals.
            "on_startup": None,
            "on_shutdown": None,
            "handle_signals": False,
            "job_completion_wait": 0,
            # Fail fast and let our loop back off: arq's own connect retries would give up for good.
            "redis_settings": replace(arq_settings["redis_settings"], conn_retries=0, conn_timeout=2),
        }
        self._stopping = asyncio.Event()
        self._disposals: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        """Begin a graceful stop (SIGTERM, SIGINT, or a test)."""
        if not self._stopping.is_set():
            grace = self.settings.sms_stop_grace_seconds
            log.info("stopping: no more jobs; sends in flight get %ss to finish", grace)
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        try:
            await self.runtime.start()
            await self._consume_until_stopped()
            await self.runtime.stop()
            if self._disposals:
                await asyncio.wait(self._disposals, timeout=ARQ_CLOSE_SECONDS)
        finally:
            await self.runtime.close()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        log.info("worker stopped")

    async def _consume_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RECONNECT_FIRST_SECONDS
        while not self._stopping.is_set():
            worker = Worker(**self._arq_kwargs, ctx=dict(self.runtime.job_ctx))
            consuming = loop.create_task(worker.main(), name="arq-consumer")
            stopping = loop.create_task(self._stopping.wait())
            began = loop.time()
            await asyncio.wait({consuming, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                worker.allow_pick_jobs = False  # the runtime's stop settles the sends already running
                self._dispose(worker, consuming)
                return
            stopping.cancel()
            if loop.time() - began > HELD_SECONDS:
                delay = RECONNECT_FIRST_SECONDS
            _log_lost_redis(consuming, delay)
            self._dispose(worker, consuming)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _dispose(self, worker: Worker, consuming: asyncio.Task[None]) -> None:
        """Let go of an arq Worker without cutting off its jobs: a send it started finishes and records
        its outcome in the database (the runtime's stop settles it); only then is its pool closed."""
        task = asyncio.get_running_loop().create_task(_dispose(worker, consuming))
        self._disposals.add(task)
        task.add_done_callback(self._disposals.discard)


def _log_lost_redis(consuming: asyncio.Task[None], delay: float) -> None:
    error = None if consuming.cancelled() else consuming.exception()
    if error is None or isinstance(error, RedisError | OSError | TimeoutError):
        log.warning(
            "Redis unavailable (%s): sending from the database meanwhile; reconnecting in %.1f s",
            type(error).__name__ if error else "arq stopped",
            delay,
        )
    else:
        log.error("arq stopped unexpectedly; restarting it in %.1f s", delay, exc_info=error)


async def _dispose(worker: Worker, consuming: asyncio.Task[None]) -> None:
    consuming.cancel()
    with contextlib.suppress(BaseException):
        await consuming
    jobs = list(worker.tasks.values())
    if jobs:
        await asyncio.wait(jobs)
        for job in jobs:
            if not job.cancelled():
                job.exception()  # retrieved: arq's bookkeeping in a Redis that is gone fails, and may
    pool = worker.pool
    if pool is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(close_connection_pool=True), ARQ_CLOSE_SECONDS)
