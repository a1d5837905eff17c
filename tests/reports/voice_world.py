"""Voice calls counted by hand, in the units of tests/reports/world.py, times in Shanghai local time.

For A and below, 2026-Q3 (1 July – 30 September local):
- 12355: 5 calls — answered 3 (waits 5 s, 30 s, 12 s), voicemail 1 (queued 90 s), 1 still waiting;
- family_edu: 2 calls — abandoned 1 (queued 40 s), out of hours 1 with a message (a voicemail too).
- queued and ended: 5 (the answered three, the abandoned, the voicemail); answered within 20 s: 2 →
  service level 0.4; answered waits 5, 12, 30 → median 12 s, 90th percentile 30 s.
Previous quarter: 1 call, answered after 3 s (service level 1.0). 2025-Q3: 1 call, abandoned after
25 s in the queue (service level 0.0). Q4: 1 call ten minutes after the boundary. Sibling B: 1 call.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_sessionmaker
from hotline.voice_models import CallOutcome, CallStatus, VoiceCall
from tests.reports.world import World, local


def _call(
    unit: int,
    ringing: datetime,
    line: str = "12355",
    outcome: str | None = CallOutcome.ANSWERED,
    wait: int | None = None,
    *,
    voicemail: bool = False,
) -> VoiceCall:
    queued = ringing + timedelta(seconds=10) if wait is not None else None
    ended = outcome is not None
    answered = queued + timedelta(seconds=wait) if queued and wait is not None else None
    return VoiceCall(
        call_sid=f"CA{secrets.token_hex(16)}",
        unit_id=unit,
        line=line,
        to_number="+8657112355",
        status=CallStatus.ENDED if ended else CallStatus.QUEUED,
        outcome=outcome,
        ringing_at=ringing,
        queued_at=queued,
        answered_at=answered if outcome == CallOutcome.ANSWERED else None,
        ended_at=ringing + timedelta(minutes=5) if ended else None,
        queue_wait_seconds=wait if ended else None,
        voicemail_sid=f"RE{secrets.token_hex(16)}" if voicemail else None,
    )


async def seed_voice_calls(engine: AsyncEngine, w: World) -> None:
    rows = [
        _call(w.a, local("2026-07-01 00:10"), wait=5),
        _call(w.a1, local("2026-09-30 23:50"), wait=30),
        _call(w.a, local("2026-08-01 10:00"), "family_edu", CallOutcome.ABANDONED, 40),
        _call(w.a, local("2026-08-02 10:00"), outcome=CallOutcome.VOICEMAIL, wait=90, voicemail=True),
        _call(w.a, local("2026-08-03 22:00"), "family_edu", CallOutcome.OUT_OF_HOURS, voicemail=True),
        _call(w.a, local("2026-08-04 10:00"), wait=12),
        _call(w.a, local("2026-08-05 10:00"), outcome=None, wait=0),  # still waiting in the queue
        _call(w.a, local("2026-06-30 23:50"), wait=3),  # previous quarter, minutes before the boundary
        _call(w.a, local("2026-10-01 00:10"), wait=3),  # the fourth quarter
        _call(w.b, local("2026-08-01 10:00"), wait=3),  # the sibling: never counted for A
        _call(w.a, local("2025-08-01 10:00"), outcome=CallOutcome.ABANDONED, wait=25),
    ]
    async with create_sessionmaker(engine)() as s:
        s.add_all(rows)
        await s.commit()
