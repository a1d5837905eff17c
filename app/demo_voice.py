"""Demo phone calls: a few voice calls of today that have ended (answered, abandoned in the queue, a
voicemail), so the supervisor's voice panel shows figures and the demo operator has an answered call
to log. Numbers are invented; stored encrypted with their blind index, as the telephony stores them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from core.units import OrgUnit
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.voice_models import CallOutcome, CallStatus, VoiceCall

__all__ = ["DEMO_VOICE_CALLS", "seed_voice"]

# (minutes before now, line, caller, outcome, seconds waited in the queue, talk seconds, menu digit)
DEMO_VOICE_CALLS = [
    (95, "12355", "+8613600001111", CallOutcome.ANSWERED, 8, 420, "2"),
    (80, "12355", "+8613600002222", CallOutcome.ANSWERED, 35, 610, "1"),
    (62, "family_edu", "+8613600003333", CallOutcome.ANSWERED, 12, 300, "1"),
    (45, "12355", "+8613600004444", CallOutcome.ABANDONED, 50, None, "0"),
    (30, "family_edu", "+8613600005555", CallOutcome.VOICEMAIL, 90, None, "3"),
    (12, "12355", "+8613600006666", CallOutcome.ANSWERED, 15, 240, "0"),
]
DEMO_VOICE_OPERATOR = "operator"


async def seed_voice(
    session: AsyncSession,
    settings: Settings,
    *,
    units: Sequence[OrgUnit],
    staff: Mapping[str, StaffUser],
    now: datetime | None = None,
) -> int:
    """Add the calls (all within today in the site's zone) to the city unit; returns how many."""
    now = now or utcnow()
    cipher = FieldCipher(settings.data_key)
    local = now.astimezone(ZoneInfo(settings.site_timezone))
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    operator = staff[DEMO_VOICE_OPERATOR]
    for number, (minutes, line, caller, outcome, waited, talked, digit) in enumerate(DEMO_VOICE_CALLS):
        ringing = max(now - timedelta(minutes=minutes), today + timedelta(seconds=number + 1))
        queued = ringing + timedelta(seconds=20)  # the menu
        answered = queued + timedelta(seconds=waited) if outcome == CallOutcome.ANSWERED else None
        ended = (answered or queued + timedelta(seconds=waited)) + timedelta(seconds=talked or 60)
        session.add(
            VoiceCall(
                call_sid=f"CADEMO{number:026d}",
                unit_id=units[0].id or 0,
                line=line,
                to_number="+8657112355",
                caller_phone_ciphertext=cipher.encrypt(caller, context=VOICE_CALLER_PHONE),
                caller_phone_index=phone_index(cipher, caller),
                menu_choice=digit,
                crisis=digit == "2",
                status=CallStatus.ENDED,
                outcome=outcome,
                ringing_at=ringing,
                queued_at=queued,
                answered_at=answered,
                ended_at=min(ended, now),
                queue_wait_seconds=waited,
                duration_seconds=talked,
                operator_id=operator.id if answered else None,
                voicemail_sid=f"REDEMO{number:026d}" if outcome == CallOutcome.VOICEMAIL else None,
                voicemail_seconds=40 if outcome == CallOutcome.VOICEMAIL else None,
                updated_at=min(ended, now),
            )
        )
    await session.flush()
    return len(DEMO_VOICE_CALLS)
