"""Screen-pop: the call an operator is being offered or is on, with the caller's earlier cases.

The console learns of it from the database, not from a message bus: every second a stream reads the
operator's offered or connected call by `voice_call.operator_id` (indexed; one row at most), which works
whatever number of app processes serve the consoles and the Twilio callbacks. Only when that call (or its
status) changes is the whole pop read: the caller's number decrypted to be masked, and their earlier
cases found by blind index within the operator's scope (hotline.repeat_callers), a read that is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar.response import ServerSentEventMessage
from sqlalchemy import and_
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.privacy import FieldCipher, mask_phone
from core.units import visible_to
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.models import ReferralCase
from hotline.repeat_callers import RelatedCase, cases_called_about_from
from hotline.voice_models import CallStatus, VoiceCall

__all__ = [
    "ACTIVE_STATUSES",
    "MENU_CHOICES",
    "CallToLog",
    "ScreenPop",
    "active_call_key",
    "calls_to_log",
    "screen_pop",
    "screen_pop_events",
    "voice_call_in_scope",
]

ACTIVE_STATUSES = (CallStatus.OFFERED, CallStatus.CONNECTED)
# The menu of the issue (#8): what the caller pressed, in words. An unknown code is shown as it is.
MENU_CHOICES: dict[str, str] = {
    "1": N_("Family-education consultation"),
    "2": N_("A child's safety"),
    "3": N_("Book or change an expert appointment"),
    "0": N_("An operator now"),
}
POLL_SECONDS = 1.0

ActiveKey = tuple[int, str, datetime]


def voice_call_in_scope(viewer: StaffUser) -> ColumnElement[bool]:
    """Voice calls of the viewer's units (and line, for someone limited to one)."""
    units = visible_to(VoiceCall.unit_id, viewer.unit_id)
    return units if viewer.line is None else and_(units, col(VoiceCall.line) == viewer.line)


@dataclass(frozen=True)
class ScreenPop:
    voice_call_id: int
    status: str  # CallStatus: offered or connected
    line: str
    menu_choice: str | None
    crisis: bool
    caller_masked: str  # "" when the number was withheld
    waited_seconds: int  # in the menu and the queue before an operator answered (or until now)
    started_at: datetime  # when the call reached us
    answered_at: datetime | None
    earlier_cases: list[RelatedCase]
    logged_case_number: str | None  # already logged into this case


@dataclass(frozen=True)
class CallToLog:
    """An answered call of the operator's that is in no case yet: it stays on the console until logged."""

    voice_call_id: int
    line: str
    caller_masked: str
    started_at: datetime
    duration_seconds: int | None


TO_LOG_LIMIT = 10


async def calls_to_log(session: AsyncSession, cipher: FieldCipher, viewer: StaffUser) -> list[CallToLog]:
    rows = await session.exec(
        select(VoiceCall)
        .where(
            col(VoiceCall.operator_id) == viewer.id,
            col(VoiceCall.status) == CallStatus.ENDED,
            col(VoiceCall.answered_at).is_not(None),
            col(VoiceCall.hotline_call_id).is_(None),
            voice_call_in_scope(viewer),
        )
        .order_by(col(VoiceCall.answered_at).desc())
        .limit(TO_LOG_LIMIT)
    )
    return [
        CallToLog(
            voice_call_id=call.id or 0,
            line=call.line,
            caller_masked=mask_phone(
                cipher.decrypt_optional(call.caller_phone_ciphertext, context=VOICE_CALLER_PHONE)
            ),
            started_at=call.answered_at or call.ringing_at,
            duration_seconds=call.duration_seconds,
        )
        for call in rows.all()
    ]


async def active_call_key(session: AsyncSession, viewer: StaffUser) -> ActiveKey | None:
    """The cheap read of each tick: which call is on the operator's screen, and how far it has got."""
    found = await session.exec(
        select(VoiceCall.id, VoiceCall.status, VoiceCall.updated_at)
        .where(
            col(VoiceCall.operator_id) == viewer.id,
            col(VoiceCall.status).in_(ACTIVE_STATUSES),
            voice_call_in_scope(viewer),
        )
        .order_by(col(VoiceCall.updated_at).desc())
        .limit(1)
    )
    row = found.first()
    return None if row is None else (row[0] or 0, row[1], row[2])


def _waited(call: VoiceCall, now: datetime) -> int:
    if call.queue_wait_seconds is not None:
        return call.queue_wait_seconds
    end = call.answered_at or now
    return max(int((end - (call.queued_at or call.ringing_at)).total_seconds()), 0)


async def screen_pop(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    *,
    now: datetime,
    client_ip: str | None = None,
) -> ScreenPop | None:
    """The whole pop of the operator's current call, or None. Reading the caller's history is audited
    (and committed) each time it is shown."""
    call = (
        await session.exec(
            select(VoiceCall)
            .where(
                col(VoiceCall.operator_id) == viewer.id,
                col(VoiceCall.status).in_(ACTIVE_STATUSES),
                voice_call_in_scope(viewer),
            )
            .order_by(col(VoiceCall.updated_at).desc())
            .limit(1)
        )
    ).first()
    if call is None:
        return None
    phone = cipher.decrypt_optional(call.caller_phone_ciphertext, context=VOICE_CALLER_PHONE)
    indexes = [call.caller_phone_index] if call.caller_phone_index else []
    earlier = await cases_called_about_from(session, indexes, viewer=viewer)
    logged = await session.get(ReferralCase, call.case_id) if call.case_id is not None else None
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="voice.caller_history",
        object_type="voice_call",
        object_id=call.id or 0,
        detail={"earlier_cases": [case.number for case in earlier]},
        client_ip=client_ip,
    )
    await session.commit()
    return ScreenPop(
        voice_call_id=call.id or 0,
        status=call.status,
        line=call.line,
        menu_choice=call.menu_choice,
        crisis=call.crisis,
        caller_masked=mask_phone(phone),
        waited_seconds=_waited(call, now),
        started_at=call.ringing_at,
        answered_at=call.answered_at,
        earlier_cases=earlier,
        logged_case_number=logged.number if logged is not None else None,
    )


async def screen_pop_events(
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    viewer: StaffUser,
    render: Callable[[ScreenPop | None, list[CallToLog]], str],
    *,
    client_ip: str | None = None,
    seconds: float,
    poll: float = POLL_SECONDS,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> AsyncIterator[ServerSentEventMessage]:
    """A `pop` event with the rendered panel (the current call, or the answered calls still to log) first
    and then whenever the operator's call changes; a
    comment every 15 s keeps proxies from closing a quiet stream. Each tick has its own short session.
    The stream ends after `seconds` (Settings.screen_pop_stream_seconds) and the browser's EventSource
    opens a new one: no request lives forever, and a logged-out operator's console stops at the reconnect."""
    last: ActiveKey | str | None = "nothing sent yet"
    quiet = 0.0
    for _ in range(max(int(seconds / poll), 1)):
        async with sessionmaker() as session:
            key = await active_call_key(session, viewer)
            if key != last:
                pop = (
                    await screen_pop(session, cipher, viewer, now=utcnow(), client_ip=client_ip)
                    if key
                    else None
                )
                to_log = await calls_to_log(session, cipher, viewer)
                yield ServerSentEventMessage(event="pop", data=render(pop, to_log))
                last, quiet = key, 0.0
        quiet += poll
        if quiet >= 15:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            quiet = 0.0
        await sleep(poll)
