"""Calling back: voicemails and calls abandoned in the queue wait here, due FH_VOICE_CALLBACK_HOURS after
they came, until an operator calls the caller back through Twilio (their answer phone rings first, then
the caller is dialled from the number they had called). Playing a voicemail or a recorded conversation
is an audited act; the audio stays with Twilio, referenced by SID.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import Conflict, NotFound, UserFacingError
from core.i18n import N_
from core.privacy import FieldCipher, mask_phone
from core.settings import Settings
from core.units import get_visible, visible_to
from hotline.cipher_contexts import VOICE_ANSWER_PHONE, VOICE_CALLER_PHONE
from hotline.voice_models import OperatorDuty, VoiceCall
from hotline.voice_twiml import VOICE_PATH
from notifications.voice_calls_api import OutboundCall, VoiceApi, VoiceApiError

__all__ = ["DueCallback", "due_callbacks", "place_callback", "recording_url"]

# Rows on the page; the most overdue first.
LIMIT = 200
TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True)
class DueCallback:
    id: int
    masked_phone: str
    line: str
    called_at: datetime
    outcome: str | None
    voicemail_seconds: int | None
    has_voicemail: bool
    due_at: datetime


def _scope(viewer: StaffUser) -> list[object]:
    where: list[object] = [visible_to(VoiceCall.unit_id, viewer.unit_id)]
    if viewer.line is not None:
        where.append(VoiceCall.line == viewer.line)
    return where


async def due_callbacks(session: AsyncSession, cipher: FieldCipher, viewer: StaffUser) -> list[DueCallback]:
    rows = await session.exec(
        select(VoiceCall)
        .where(
            col(VoiceCall.callback_done_at).is_(None),
            col(VoiceCall.callback_due_at).is_not(None),
            col(VoiceCall.caller_phone_ciphertext).is_not(None),
            *_scope(viewer),  # type: ignore[arg-type]
        )
        .order_by(col(VoiceCall.callback_due_at), col(VoiceCall.id))
        .limit(LIMIT)
    )
    return [
        DueCallback(
            id=call.id or 0,
            masked_phone=mask_phone(
                cipher.decrypt(call.caller_phone_ciphertext or "", context=VOICE_CALLER_PHONE)
            ),
            line=call.line,
            called_at=call.ringing_at,
            outcome=call.outcome,
            voicemail_seconds=call.voicemail_seconds,
            has_voicemail=call.voicemail_sid is not None,
            due_at=call.callback_due_at or call.ringing_at,
        )
        for call in rows.all()
    ]


async def visible_call(session: AsyncSession, viewer: StaffUser, call_id: int) -> VoiceCall:
    call = await get_visible(session, VoiceCall, call_id, viewer.unit_id)
    if call is None or (viewer.line is not None and call.line != viewer.line):
        raise NotFound(N_("No such call."))
    return call


async def place_callback(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    api: VoiceApi | None,
    *,
    viewer: StaffUser,
    call_id: int,
    client_ip: str | None,
) -> VoiceCall:
    """Ring the operator's answer phone; when they answer, Twilio dials the caller. Marked done (and
    audited) once Twilio has taken the call; claimed first, so two operators never both call back."""
    call = await visible_call(session, viewer, call_id)
    duty = await session.get(OperatorDuty, viewer.id)
    if duty is None or not duty.answer_phone_ciphertext:
        raise UserFacingError(N_("Set the phone you answer on (go on duty) before calling back."))
    if api is None:
        raise UserFacingError(N_("Calls cannot be placed: Twilio is not configured on this server."))
    now = utcnow()
    claimed = await session.exec(
        update(VoiceCall)
        .where(col(VoiceCall.id) == call.id, col(VoiceCall.callback_done_at).is_(None))
        .values(callback_done_at=now, callback_by_id=viewer.id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        await session.rollback()
        raise Conflict(N_("This caller has already been called back."))
    await session.commit()
    try:
        await api.place_call(
            OutboundCall(
                to=cipher.decrypt(duty.answer_phone_ciphertext, context=VOICE_ANSWER_PHONE),
                from_=call.to_number,
                url=f"{settings.public_base_url}{VOICE_PATH}/callback/bridge?call={call.id}",
                status_callback=f"{settings.public_base_url}{VOICE_PATH}/callback/status?call={call.id}",
                timeout=30,
            )
        )
    except VoiceApiError:
        await session.exec(
            update(VoiceCall)
            .where(col(VoiceCall.id) == call.id, col(VoiceCall.callback_by_id) == viewer.id)
            .values(callback_done_at=None, callback_by_id=None)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        raise UserFacingError(N_("Twilio did not place the call. Try again in a minute.")) from None
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="voice_call.call_back",
        object_type="voice_call",
        object_id=call.id or 0,
        client_ip=client_ip,
    )
    await session.commit()
    return call


async def recording_url(
    session: AsyncSession,
    settings: Settings,
    *,
    viewer: StaffUser,
    call_id: int,
    kind: str,
    client_ip: str | None,
) -> str:
    """Twilio's address of the call's voicemail or recorded conversation; the listening is audited."""
    call = await visible_call(session, viewer, call_id)
    sid = call.voicemail_sid if kind == "voicemail" else call.recording_sid
    if not sid:
        raise NotFound(N_("This call has no recording."))
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action=f"voice_call.play_{kind}",
        object_type="voice_call",
        object_id=call.id or 0,
        detail={"recording_sid": sid},
        client_ip=client_ip,
    )
    await session.commit()
    base = (settings.twilio_api_base or TWILIO_API).rstrip("/")
    return f"{base}/2010-04-01/Accounts/{settings.twilio_account_sid}/Recordings/{sid}.mp3"
