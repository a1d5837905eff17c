"""The notifications side of the web process: its SMS sender and dispatcher, and in embedded mode (no
Redis) the in-process runner and periodic sweep that stand in for the arq worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from notifications.dispatch import ArqDispatcher, InProcessDispatcher
from notifications.sms import SmsSender, build_sender
from notifications.worker import job_context, send_outbox_message, sweep_outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.db import AsyncSession
    from app.privacy import FieldCipher
    from app.settings import Settings
    from notifications.outbox import Dispatcher

__all__ = ["NotificationRuntime", "build_runtime"]

log = logging.getLogger(__name__)


class NotificationRuntime:
    """Started and stopped with the app. `dispatcher` receives the ids of committed outbox rows."""

    def __init__(
        self,
        settings: Settings,
        sender: SmsSender,
        dispatcher: Dispatcher,
        job_ctx: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.dispatcher = dispatcher
        self.job_ctx = job_ctx
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def embedded(self) -> bool:
        return isinstance(self.dispatcher, InProcessDispatcher)

    async def start(self) -> None:
        if isinstance(self.dispatcher, ArqDispatcher):
            await self.dispatcher.connect()  # only to log early if Redis is down; never fatal
            return
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="outbox-sweep")

    async def sweep_now(self) -> int:
        return await sweep_outbox(self.job_ctx)

    async def _sweep_forever(self) -> None:
        # The first sweep runs at once: rows left pending when the process last stopped go out now.
        while True:
            try:
                await sweep_outbox(self.job_ctx)
            except Exception:
                log.exception("outbox sweep failed; trying again in %ss", self.settings.outbox_sweep_seconds)
            await asyncio.sleep(self.settings.outbox_sweep_seconds)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if isinstance(self.dispatcher, InProcessDispatcher | ArqDispatcher):
            await self.dispatcher.close()
        close = getattr(self.sender, "aclose", None)
        if close is not None:
            await close()


def build_runtime(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    sender: SmsSender | None = None,
) -> NotificationRuntime:
    sender = sender or build_sender(settings)
    if settings.redis_url:
        # The web process only enqueues; `family-hotline worker` sends. The sender is kept for /dev/sms.
        dispatcher: Dispatcher = ArqDispatcher.from_url(settings.redis_url)
        return NotificationRuntime(
            settings, sender, dispatcher, job_context(settings, sessionmaker, cipher, sender, dispatcher)
        )
    ctx: dict[str, Any] = {}
    in_process = InProcessDispatcher(lambda outbox_id: send_outbox_message(ctx, outbox_id))
    ctx.update(job_context(settings, sessionmaker, cipher, sender, in_process))
    return NotificationRuntime(settings, sender, in_process, ctx)
