"""The SMS worker process: arq for prompt sends, the database for everything that must not be lost.

Two things run in it. arq takes the jobs the web process queues in Redis (the doorbell) and runs the send
job at once. Beside it an `OutboxKeeper` beats the worker's heartbeat in the database and sweeps the
outbox every FH_OUTBOX_SWEEP_SECONDS, sending what is due through this process's own sender. Redis going
away silences only the doorbell: the worker keeps sweeping and sending from the database.

On SIGTERM arq takes no more jobs and waits FH_SMS_STOP_GRACE_SECONDS for those running
(`job_completion_wait`); the runtime's stop then settles the sends of its own sweep the same way, so a
deploy leaves nothing in `sending`.

The application wires it (`app.wiring.worker_settings`), passing the `SendChecks` the areas registered,
so `family-hotline worker` and `arq app.worker.WorkerSettings` start the very same worker.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import RedisSettings
from arq.worker import func

from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.dispatch import InProcessDispatcher
from notifications.jobs import (
    JOB_TIMEOUT_SECONDS,
    SEND_JOB,
    SmsJobDeps,
    job_context,
    send_outbox_message,
)
from notifications.keeper import OutboxKeeper
from notifications.outbox import SendChecks
from notifications.sms import SmsSender, build_sender

__all__ = ["RUNTIME_KEY", "WorkerRuntime", "worker_settings"]

log = logging.getLogger(__name__)

# Where arq's ctx keeps the WorkerRuntime under `arq app.worker.WorkerSettings`.
RUNTIME_KEY = "sms_runtime"


class WorkerRuntime:
    """What one worker process owns beside arq: its engine, the job context, its own sender for what the
    sweep finds, and the keeper."""

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

    async def start(self) -> None:
        handed_over = await self.keeper.start()
        log.info("worker started; %s waiting SMS being sent (worker %s)", handed_over, self.deps.worker)

    async def stop(self) -> None:
        """Settle the sends in flight and retire; then `close`."""
        await self.keeper.stop(self.settings.sms_stop_grace_seconds)

    async def close(self) -> None:
        self.local.close()
        close = getattr(self.deps.sender, "aclose", None)
        if close is not None:
            await close()
        await self._engine.dispose()


def worker_settings(
    settings: Settings, checks: SendChecks, *, sender: SmsSender | None = None
) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` (arq's WorkerSettings, as data)."""
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
