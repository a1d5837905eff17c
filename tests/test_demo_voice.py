"""The demo's phone calls: all of them ended within the site's "today", whatever the moment of seeding,
and the supervisor's voice panel counts them; the demo operator has the answered ones to log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from app.demo import seed_demo
from app.demo_voice import DEMO_VOICE_CALLS, DEMO_VOICE_OPERATOR
from core.accounts import StaffUser
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from hotline.voice_board import voice_panel
from hotline.voice_models import CallOutcome, CallStatus, VoiceCall
from hotline.voice_screen import calls_to_log

ZONE = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("local_now", [datetime(2026, 3, 2, 0, 30), datetime(2026, 3, 7, 15, 0)])
async def test_the_demo_calls_are_todays_and_fill_the_panel(settings, engine, local_now):
    now = local_now.replace(tzinfo=ZONE).astimezone(UTC)
    assert await seed_demo(settings, now=now)
    async with create_sessionmaker(engine)() as session:
        calls = (await session.exec(select(VoiceCall))).all()
        assert len(calls) == len(DEMO_VOICE_CALLS)
        for call in calls:
            assert call.status == CallStatus.ENDED
            assert call.ringing_at.astimezone(ZONE).date() == local_now.date()
            assert call.ringing_at <= (call.ended_at or now) <= now
        users = {user.username: user for user in (await session.exec(select(StaffUser))).all()}
        rows = await voice_panel(session, users["supervisor"], now=now, timezone="Asia/Shanghai")
        expected = Counter((line, outcome) for _, line, _, outcome, *_ in DEMO_VOICE_CALLS)
        for row in rows:
            assert row.answered_today == expected[(row.line, CallOutcome.ANSWERED)]
            assert row.abandoned_today == expected[(row.line, CallOutcome.ABANDONED)]
            assert row.voicemail_today == expected[(row.line, CallOutcome.VOICEMAIL)]
        assert sum(row.answered_today for row in rows) > 0 and sum(row.voicemail_today for row in rows) > 0
        to_log = await calls_to_log(session, FieldCipher(settings.data_key), users[DEMO_VOICE_OPERATOR])
        assert (
            len(to_log)
            == expected[("12355", CallOutcome.ANSWERED)] + expected[("family_edu", CallOutcome.ANSWERED)]
        )
