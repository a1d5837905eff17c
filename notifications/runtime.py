"""The notifications side of the web process: its SMS sender and dispatcher, and in embedded mode (no
Redis) the in-process sender and the keeper (heartbeat and sweep) that stand in for the arq worker."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.dispatch import ArqDispatcher, InProcessDispatcher
from notifications.jobs import SmsJobDeps, job_context, send_outbox_message, sweep_outbox
from notifications.keeper import OutboxKeeper
from notifications.outbox import SendChecks, dispatch_after_commit
from notifications.sms import SmsSender, build_sender

__all__ = ["NotificationRuntime", "build_runtime"]

log = logging.getLogger(__name__)


class NotificationRuntime:
    """Started and stopped with the app. `dispatcher` receives the ids of committed outbox rows."""

    def __init__(
        self,
        settings: Settings,
        sender: SmsSender,
        dispatcher: ArqDispatcher | InProcessDispatcher,
        job_ctx: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.dispatcher = dispatcher
        self.job_ctx = job_ctx
        # Only a process that sends keeps a heartbeat and sweeps; with Redis, the worker does both.
        self._keeper = OutboxKeeper(job_ctx) if self.embedded else None

    @property
    def embedded(self) -> bool:
        return isinstance(self.dispatcher, InProcessDispatcher)

    async def start(self) -> None:
        if isinstance(self.dispatcher, ArqDispatcher):
            await self.dispatcher.connect()  # only to log early if Redis is down; never fatal
        if self._keeper is not None:
            await self._keeper.start()  # its first sweep runs at once: rows left pending go out now

    async def sweep_now(self) -> int:
        return await sweep_outbox(self.job_ctx)

    async def stop(self) -> None:
        if self._keeper is not None:
            await self._keeper.stop(self.settings.sms_stop_grace_seconds)
        if isinstance(self.dispatcher, ArqDispatcher):
            await self.dispatcher.close()
        else:
            self.dispatcher.close()
        close = getattr(self.sender, "aclose", None)
        if close is not None:
            await close()


def build_runtime(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    checks: SendChecks,
    sender: SmsSender | None = None,
) -> NotificationRuntime:
    """The web process's notifications, wired to its sessionmaker: rows its sessions commit are dispatched."""
    sender = sender or build_sender(settings)
    ctx: dict[str, Any] = {}
    dispatcher: ArqDispatcher | InProcessDispatcher
    if settings.redis_url:
        # The web process only rings the doorbell; the worker sends. The sender is kept for /dev/sms.
        dispatcher = ArqDispatcher.from_url(settings.redis_url)
    else:
        dispatcher = InProcessDispatcher(lambda outbox_id: send_outbox_message(ctx, outbox_id))
    ctx.update(job_context(SmsJobDeps(settings, sessionmaker, cipher, sender, dispatcher, checks)))
    dispatch_after_commit(sessionmaker, dispatcher)
    return NotificationRuntime(settings, sender, dispatcher, ctx)
