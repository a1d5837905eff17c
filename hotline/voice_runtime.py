"""The web process's voice side: the Twilio Calls API client, dispatch rounds started by events without
holding up Twilio's webhook, and (embedded mode, no worker) the dispatcher's safety-net clock.

Handlers reach it as `request.app.state.voice` (see `voice_runtime`). After committing a change that
may let a call be offered (an operator going on duty, a call queued, an offer settled), call
`runtime.kick(line)`; `line=None` dispatches every line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import AsyncSession
from core.periodic import PeriodicJob
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.taxonomy import LINES
from hotline.voice_dispatch import cancel_leg, dispatch_line, sweep
from notifications.voice_calls_api import VoiceApi, build_voice_api

__all__ = ["VoiceRuntime", "voice_runtime"]

log = logging.getLogger(__name__)


class VoiceRuntime:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        cipher: FieldCipher,
        api: VoiceApi | None = None,
        *,
        run_sweep: bool = False,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.cipher = cipher
        self.api = api if api is not None else build_voice_api(settings)
        # Embedded mode's stand-in for the worker's sweep cron (the same clock as the lights check's).
        self._sweep = (
            PeriodicJob(
                "voice-sweep",
                lambda: sweep(self.sessionmaker, self.settings, self.cipher, self.api),
                settings.voice_sweep_seconds,
            )
            if run_sweep
            else None
        )
        self._rounds: set[asyncio.Task[Any]] = set()

    def kick(self, line: str | None) -> None:
        """Start a dispatch round for `line` (every line if None) in the background."""
        self._background(self._round(line), f"voice-dispatch-{line}")

    def cancel_leg(self, leg_sid: str) -> None:
        """Stop an operator's phone ringing (the caller hung up), in the background: Twilio's webhook that
        told us is answered without waiting for Twilio's API."""
        self._background(cancel_leg(self.api, leg_sid), f"voice-cancel-{leg_sid}")

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._rounds.add(task)
        task.add_done_callback(self._rounds.discard)

    async def dispatch(self, line: str | None) -> int:
        """One dispatch round now; the offers placed."""
        placed = 0
        for each in [line] if line is not None else list(LINES):
            placed += await dispatch_line(self.sessionmaker, self.settings, self.cipher, self.api, each)
        return placed

    async def _round(self, line: str | None) -> None:
        try:
            await self.dispatch(line)
        except Exception:
            log.exception("voice dispatch round failed; the safety net tries again")

    @property
    def pending(self) -> int:
        """Dispatch rounds and leg cancels started and not yet finished."""
        return len(self._rounds)

    async def drain(self) -> None:
        """Wait for the rounds started so far (tests, shutdown)."""
        while self._rounds:
            await asyncio.gather(*list(self._rounds), return_exceptions=True)

    def start(self) -> None:
        if self._sweep is not None:
            self._sweep.start()

    async def stop(self) -> None:
        if self._sweep is not None:
            await self._sweep.stop()
        await self.drain()
        if self.api is not None:
            await self.api.aclose()


def voice_runtime(request: Request[Any, Any, Any]) -> VoiceRuntime:
    runtime: VoiceRuntime = request.app.state.voice
    return runtime
