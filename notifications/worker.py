"""The arq worker that runs the SMS jobs: its settings as data, and what it builds on start-up.

The application wires it (`app.wiring.worker_settings`): it passes the `SendChecks` the areas registered,
so `family-hotline worker` and `arq app.worker.WorkerSettings` start the very same worker.
"""

from __future__ import annotations

import logging
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import func

from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.dispatch import ArqDispatcher
from notifications.jobs import (
    JOB_TIMEOUT_SECONDS,
    SEND_JOB,
    SWEEP_JOB,
    SmsJobDeps,
    job_context,
    send_outbox_message,
    sweep_outbox,
)
from notifications.outbox import SendChecks, dispatch_after_commit
from notifications.sms import SmsSender, build_sender

__all__ = ["sweep_schedule", "worker_settings"]

log = logging.getLogger(__name__)


def sweep_schedule(every_seconds: int) -> dict[str, Any]:
    """arq cron fields for "every N seconds" (cron has no interval, only sets of seconds and minutes)."""
    every_seconds = max(every_seconds, 1)
    if every_seconds < 60:
        return {"second": set(range(0, 60, every_seconds))}
    return {"minute": set(range(0, 60, max(every_seconds // 60, 1))), "second": 0}


def worker_settings(
    settings: Settings, checks: SendChecks, *, sender: SmsSender | None = None
) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` (arq's WorkerSettings, as data)."""
    if not settings.redis_url:
        raise ValueError("the arq worker needs FH_REDIS_URL")

    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings.database_url)
        maker = create_sessionmaker(engine)
        dispatcher = ArqDispatcher.from_pool(ctx["redis"])
        dispatch_after_commit(maker, dispatcher)
        ctx["engine"] = engine
        deps = SmsJobDeps(
            settings=settings,
            sessionmaker=maker,
            cipher=FieldCipher(settings.data_key),
            sender=sender or build_sender(settings),
            dispatcher=dispatcher,
            checks=checks,
        )
        ctx.update(job_context(deps))
        # Whatever piled up while no worker ran goes out now, not at the next cron tick.
        try:
            queued = await sweep_outbox(ctx)
            log.info("worker started; %s waiting SMS queued", queued)
        except Exception:
            log.exception("start-up sweep failed; the periodic sweep will retry")

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        deps: SmsJobDeps | None = ctx.get("sms")
        close = getattr(deps.sender, "aclose", None) if deps else None
        if close is not None:
            await close()
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()

    return {
        # keep_result=0: a finished job leaves no result key behind, because a kept result would make
        # arq refuse a later enqueue under the same job id, and the sweep must be able to re-queue a row
        # (after a retry backoff, say) under "outbox:<id>" again. max_tries=1: retries are ours, driven
        # by the row's status and not_before, not arq's.
        "functions": [func(send_outbox_message, name=SEND_JOB, keep_result=0, max_tries=1)],
        "cron_jobs": [
            cron(
                sweep_outbox,
                name=SWEEP_JOB,
                unique=True,  # one sweep per tick however many workers run
                timeout=JOB_TIMEOUT_SECONDS,
                **sweep_schedule(settings.outbox_sweep_seconds),
            )
        ],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "keep_result": 0,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "max_jobs": 10,
    }
