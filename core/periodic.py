"""Embedded mode's stand-in for an arq cron job: a coroutine run every `interval` seconds in the web
process, from its start until its stop. A failed run is logged and the clock goes on; the jobs it runs
are idempotent (they claim their work in the database), so a missed or repeated run is harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["PeriodicJob"]

log = logging.getLogger(__name__)


class PeriodicJob:
    def __init__(self, name: str, run: Callable[[], Awaitable[int]], interval: float) -> None:
        self.name = name
        self._run = run
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._clock(), name=self.name)

    async def run_now(self) -> int:
        """One run; its count, or 0 when it failed (logged)."""
        try:
            return await self._run()
        except Exception:
            log.exception("%s failed; trying again in %ss", self.name, self.interval)
            return 0

    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.run_now()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
