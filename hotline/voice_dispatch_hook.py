"""MERGE HOOK: where the console asks the dispatcher to offer waiting calls.

When an operator becomes available (goes on duty or resumes), calls already waiting in the queue of their
lines must be offered at once, not only when the next call arrives. The dispatcher (offer the longest
waiting call to the longest-idle available operator through Twilio's `calls.create`) is built in the
voice-core branch as `dispatch_line(...)`. This branch does not have it, so `dispatch_waiting_calls`
is the single call site and does nothing yet: at merge, point its body at voice-core's `dispatch_line`
(one call per line in `lines`). The console calls it after its own transaction has committed, so the
dispatcher sees the operator as available.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings

__all__ = ["dispatch_waiting_calls"]

_log = logging.getLogger(__name__)


async def dispatch_waiting_calls(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    lines: Sequence[str],
) -> None:
    """Offer the calls waiting on `lines` to available operators. TO WIRE AT MERGE: for each line,
    `await voice_core_dispatch_line(..., line=line)`. Until then: nothing (the calls wait for the
    dispatcher's next run)."""
    _log.debug("dispatch hook not wired yet; lines %s", ", ".join(lines))
