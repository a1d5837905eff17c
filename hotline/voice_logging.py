"""Logging a voice call into a case from the screen-pop: the call form pre-filled from the call record,
and on save the record linked to the logged call in the same transaction as the call itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select, update

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher, mask_phone
from core.settings import Settings
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.intake import CallIntake, CallSource, LoggedCall, log_call
from hotline.models import ReferralCase
from hotline.voice_models import CallStatus, VoiceCall
from hotline.voice_screen import voice_call_in_scope

__all__ = ["VOICE_CHANNEL", "VoiceFacts", "log_voice_call", "loggable_voice_call", "voice_facts"]

VOICE_CHANNEL = "voice"
ALREADY_LOGGED = N_("This call has already been logged into a case.")
# A call is written up while it goes on or after it ended; not while it still rings.
_LOGGABLE = (CallStatus.CONNECTED, CallStatus.ENDED)


@dataclass(frozen=True)
class VoiceFacts:
    """What the form shows of the call and does not let the operator retype."""

    voice_call_id: int
    line: str
    caller_masked: str
    started_at: datetime
    duration_seconds: int | None
    logged_case_number: str | None


async def loggable_voice_call(session: AsyncSession, viewer: StaffUser, voice_call_id: int) -> VoiceCall:
    """The operator's own answered call, in their scope; anything else is "no such call" (404)."""
    call = (
        await session.exec(
            select(VoiceCall).where(
                col(VoiceCall.id) == voice_call_id,
                col(VoiceCall.operator_id) == viewer.id,
                col(VoiceCall.status).in_(_LOGGABLE),
                voice_call_in_scope(viewer),
            )
        )
    ).first()
    if call is None:
        raise NotFound(N_("No such call."))
    return call


def _started(call: VoiceCall) -> datetime:
    return call.answered_at or call.ringing_at


async def voice_facts(session: AsyncSession, cipher: FieldCipher, call: VoiceCall) -> VoiceFacts:
    logged = await session.get(ReferralCase, call.case_id) if call.case_id is not None else None
    phone = cipher.decrypt_optional(call.caller_phone_ciphertext, context=VOICE_CALLER_PHONE)
    return VoiceFacts(
        voice_call_id=call.id or 0,
        line=call.line,
        caller_masked=mask_phone(phone),
        started_at=_started(call),
        duration_seconds=call.duration_seconds,
        logged_case_number=logged.number if logged is not None else None,
    )


async def log_voice_call(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    call: VoiceCall,
    intake: CallIntake,
    actor: StaffUser,
    settings: Settings,
    client_ip: str | None = None,
) -> LoggedCall:
    """Log the call (hotline.intake.log_call, channel "voice", the caller's number and start from the call
    record) and link the record to it: a record logged meanwhile (another tab) refuses, nothing saved."""
    if call.hotline_call_id is not None:
        raise FormInvalid({"voice_call": ALREADY_LOGGED})
    voice_call_id = call.id or 0

    async def link(tx: AsyncSession, case_id: int, call_id: int) -> None:
        linked = await tx.exec(
            update(VoiceCall)
            .where(col(VoiceCall.id) == voice_call_id, col(VoiceCall.hotline_call_id).is_(None))
            .values(case_id=case_id, hotline_call_id=call_id)
        )
        if linked.rowcount != 1:
            raise FormInvalid({"voice_call": ALREADY_LOGGED})
        record_audit(
            tx,
            actor_id=actor.id,
            actor_label=actor.username,
            action="voice.call_logged",
            object_type="voice_call",
            object_id=voice_call_id,
            detail={"hotline_call": call_id},
            client_ip=client_ip,
        )

    phone = cipher.decrypt_optional(call.caller_phone_ciphertext, context=VOICE_CALLER_PHONE)
    return await log_call(
        session,
        cipher,
        intake=intake,
        actor=actor,
        timezone=settings.site_timezone,
        client_ip=client_ip,
        settings=settings,
        source=CallSource(
            channel=VOICE_CHANNEL, received_at=_started(call), caller_phone_e164=phone, link=link
        ),
    )
