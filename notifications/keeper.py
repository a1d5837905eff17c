"""The outbox keeper: runs beside whatever sends SMS in a process (an arq worker, or the web process in
embedded mode). It keeps the process's heartbeat in the database and sweeps the outbox on its own clock,
sending what is due through the process's own sender. It needs only the database, so SMS keep going out
while Redis is away; and a stop through it leaves no row in `sending`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from core.db import utcnow
from notifications.jobs import SmsJobDeps, release_own_claims, sweep_outbox
from notifications.liveness import beat, beat_interval, prune_silent, retire

__all__ = ["OutboxKeeper"]

log = logging.getLogger(__name__)


class OutboxKeeper:
    def __init__(self, job_ctx: dict[str, Any]) -> None:
        self._ctx = job_ctx
        self._deps: SmsJobDeps = job_ctx["sms"]
        self._beating: asyncio.Task[None] | None = None
        self._sweeping: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Register the heartbeat (before anything is claimed under this name), sweep once at once — what
        piled up while no worker ran goes out now — and start both loops. Returns how many rows that
        first sweep handed over."""
        deps = self._deps
        await beat(deps.sessionmaker, deps.worker)
        async with deps.sessionmaker() as session:
            await prune_silent(session, utcnow())
            await session.commit()
        handed_over = await self.sweep()
        loop = asyncio.get_running_loop()
        self._beating = loop.create_task(self._beat_forever(), name="outbox-heartbeat")
        self._sweeping = loop.create_task(self._sweep_forever(), name="outbox-sweep")
        return handed_over

    async def sweep(self) -> int:
        try:
            return await sweep_outbox(self._ctx)
        except Exception:
            interval = self._deps.settings.outbox_sweep_seconds
            log.exception("outbox sweep failed; trying again in %ss", interval)
            return 0

    async def _beat_forever(self) -> None:
        interval = beat_interval(self._deps.settings.outbox_stall_seconds)
        while True:
            await asyncio.sleep(interval)
            try:
                await beat(self._deps.sessionmaker, self._deps.worker)
            except Exception as exc:
                log.warning("heartbeat not written (%s); retrying in %.1f s", type(exc).__name__, interval)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._deps.settings.outbox_sweep_seconds)
            await self.sweep()

    async def stop(self, grace_seconds: float) -> None:
        """A clean stop: sweep no more; let the sends in flight finish for up to `grace_seconds` (any cut
        off records itself as in doubt); hand on anything still claimed; then retire the heartbeat. The
        heartbeat beats until the end, so nobody takes over a send that is still finishing."""
        deps = self._deps
        await _cancel(self._sweeping)
        cut_off = await deps.in_flight.settle(grace_seconds)
        try:
            released = await release_own_claims(deps.sessionmaker, deps.worker)
        except Exception:
            log.exception("could not release this worker's claims; its silent heartbeat will")
            released = 0
        if cut_off or released:
            log.warning(
                "stopped %s SMS mid-send (%s claims handed on); each is checked at Twilio before it is "
                "sent again",
                cut_off,
                released,
            )
        await _cancel(self._beating)
        try:
            await retire(deps.sessionmaker, deps.worker)
        except Exception:
            log.exception("could not retire this worker's heartbeat; it will go stale instead")


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
