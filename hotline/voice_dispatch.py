"""The dispatcher: offers waiting calls to operators on duty, by ringing their phone through Twilio.

The longest-waiting call of a line (crisis calls first) goes to the longest-idle AVAILABLE operator who
works that line (StaffUser.line None: every line) and whose unit scope covers the call's unit. Operator
and call are claimed together in one transaction, each by a conditional UPDATE (operator AVAILABLE → BUSY,
call QUEUED → OFFERED): two dispatchers never offer one call twice nor one operator two calls. The Twilio
request is made after that commit; if it fails the claim is undone.

An operator who let a call ring out is not offered that call again. When no operator on duty is left who
has not missed it, the call goes to voicemail at once; otherwise it goes there after
FH_VOICE_VOICEMAIL_WAIT_SECONDS in the queue (hotline.voice_webhooks, on the queue's wait loop).

It runs on events (a call queued, an offer settled, a call ended, an operator going on duty: voice-console
calls `dispatch_line`) and on a short clock as a safety net (`sweep`). It never asks Twilio about a call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit, is_within
from hotline.cipher_contexts import VOICE_ANSWER_PHONE
from hotline.taxonomy import LINES
from hotline.voice_models import (
    CallOutcome,
    CallStatus,
    DutyState,
    OfferOutcome,
    OperatorDuty,
    VoiceCall,
    VoiceOffer,
)
from hotline.voice_records import advance
from hotline.voice_twiml import VOICE_PATH
from notifications.voice_calls_api import OutboundCall, VoiceApi, VoiceApiError

__all__ = ["cancel_ringing_offer", "dispatch_line", "release_operator", "settle_offer", "sweep"]

log = logging.getLogger(__name__)

# Calls looked at per line and round; more wait for the next event or tick.
BATCH = 50
ANSWERING_ROLES = (Role.OPERATOR, Role.SUPERVISOR)


async def dispatch_line(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    cipher: FieldCipher,
    api: VoiceApi | None,
    line: str,
) -> int:
    """Offer this line's waiting calls to its available operators; how many offers were placed."""
    if api is None:
        return 0  # no Twilio account: calls wait for voicemail
    placed = 0
    async with sessionmaker() as session:
        waiting = list(
            (
                await session.exec(
                    select(VoiceCall.id, OrgUnit.path)
                    .join(OrgUnit, col(OrgUnit.id) == VoiceCall.unit_id)
                    .where(VoiceCall.line == line, VoiceCall.status == CallStatus.QUEUED)
                    .order_by(col(VoiceCall.crisis).desc(), col(VoiceCall.queued_at), col(VoiceCall.id))
                    .limit(BATCH)
                )
            ).all()
        )
    for call_id, unit_path in waiting:
        assert call_id is not None
        async with sessionmaker() as session:
            candidates = await _operators_for(session, line, unit_path, call_id)
            if not candidates.available:
                if candidates.missed and not candidates.still_possible:
                    await _to_voicemail(session, call_id)
                    await session.commit()
                continue
            offer = await _claim(session, call_id, candidates.available)
            if offer is None:
                continue
            phone, from_number = offer[1], offer[2]
            offer_row = offer[0]
            await session.commit()
        assert offer_row.id is not None
        try:
            leg_sid = await api.place_call(
                OutboundCall(
                    to=cipher.decrypt(phone, context=VOICE_ANSWER_PHONE),
                    from_=from_number,
                    url=f"{settings.public_base_url}{VOICE_PATH}/offer/whisper?offer={offer_row.id}",
                    status_callback=f"{settings.public_base_url}{VOICE_PATH}/offer/status?offer={offer_row.id}",
                    timeout=settings.voice_ring_seconds,
                )
            )
        except VoiceApiError:
            log.exception("could not ring operator %s for call %s", offer_row.operator_id, call_id)
            async with sessionmaker() as session:
                await settle_offer(session, offer_row.id, accepted=False)
                await session.commit()
            return placed  # Twilio is refusing: the next event or tick tries again
        async with sessionmaker() as session:
            await session.exec(
                update(VoiceOffer)
                .where(col(VoiceOffer.id) == offer_row.id)
                .values(leg_sid=leg_sid)
                .execution_options(synchronize_session=False)
            )
            outcome = (
                await session.exec(select(VoiceOffer.outcome).where(VoiceOffer.id == offer_row.id))
            ).one()
            await session.commit()
        if outcome == OfferOutcome.CANCELED:
            # The caller hung up before Twilio told us the leg's SID: nobody else could cancel it.
            await cancel_leg(api, leg_sid)
        placed += 1
    return placed


class _Candidates:
    def __init__(self) -> None:
        self.available: list[int] = []  # longest idle first
        self.missed = False  # someone already let this call ring out
        self.still_possible = False  # someone on duty (free or busy) has not missed it


async def _operators_for(session: AsyncSession, line: str, unit_path: str, call_id: int) -> _Candidates:
    rows = (
        await session.exec(
            select(OperatorDuty.staff_user_id, OperatorDuty.state, OperatorDuty.idle_since, OrgUnit.path)
            .join(StaffUser, col(StaffUser.id) == OperatorDuty.staff_user_id)
            .join(OrgUnit, col(OrgUnit.id) == StaffUser.unit_id)
            .where(
                col(OperatorDuty.state).in_((DutyState.AVAILABLE, DutyState.BUSY)),
                col(OperatorDuty.answer_phone_ciphertext).is_not(None),
                col(StaffUser.is_active).is_(True),
                col(StaffUser.role).in_(ANSWERING_ROLES),
                col(StaffUser.line).is_(None) | (StaffUser.line == line),
            )
        )
    ).all()
    missed = set(
        (
            await session.exec(
                select(VoiceOffer.operator_id).where(
                    VoiceOffer.voice_call_id == call_id, VoiceOffer.outcome == OfferOutcome.MISSED
                )
            )
        ).all()
    )
    found = _Candidates()
    found.missed = bool(missed)
    idle: list[tuple[datetime, int]] = []
    for staff_id, state, idle_since, operator_path in rows:
        if not is_within(unit_path, operator_path) or staff_id in missed:
            continue
        found.still_possible = True
        if state == DutyState.AVAILABLE:
            idle.append((idle_since or datetime.min.replace(tzinfo=utcnow().tzinfo), staff_id))
    found.available = [staff_id for _, staff_id in sorted(idle)]
    return found


async def _claim(
    session: AsyncSession, call_id: int, operators: list[int]
) -> tuple[VoiceOffer, str, str] | None:
    """Claim the call and the first operator still free; the offer, their answer phone, our number."""
    now = utcnow()
    for operator_id in operators:
        took_operator = await session.exec(
            update(OperatorDuty)
            .where(
                col(OperatorDuty.staff_user_id) == operator_id,
                col(OperatorDuty.state) == DutyState.AVAILABLE,
                col(OperatorDuty.answer_phone_ciphertext).is_not(None),
            )
            .values(state=DutyState.BUSY, current_call_id=call_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if took_operator.rowcount != 1:
            continue  # taken by another dispatcher, paused or gone off duty meanwhile
        took_call = await session.exec(
            update(VoiceCall)
            .where(col(VoiceCall.id) == call_id, col(VoiceCall.status) == CallStatus.QUEUED)
            .values(status=CallStatus.OFFERED, operator_id=operator_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if took_call.rowcount != 1:
            await session.rollback()
            return None  # the call was offered elsewhere, or hung up
        offer = VoiceOffer(voice_call_id=call_id, operator_id=operator_id, offered_at=now)
        session.add(offer)
        await session.flush()
        duty = await session.get(OperatorDuty, operator_id)
        call = await session.get(VoiceCall, call_id)
        assert duty is not None and duty.answer_phone_ciphertext is not None and call is not None
        return offer, duty.answer_phone_ciphertext, call.to_number
    return None


async def _to_voicemail(session: AsyncSession, call_id: int) -> None:
    """Nobody left to ring: the queue's next wait loop sends the caller to voicemail."""
    call = await session.get(VoiceCall, call_id)
    if call is not None:
        await advance(
            session, call.call_sid, CallStatus.RECORDING, lambda _row: {"outcome": CallOutcome.VOICEMAIL}
        )


async def release_operator(session: AsyncSession, operator_id: int, call_id: int, now: datetime) -> None:
    """The operator's phone leg is over: free again, and now the most recently idle."""
    await session.exec(
        update(OperatorDuty)
        .where(
            col(OperatorDuty.staff_user_id) == operator_id,
            col(OperatorDuty.state) == DutyState.BUSY,
            col(OperatorDuty.current_call_id) == call_id,
        )
        .values(state=DutyState.AVAILABLE, current_call_id=None, idle_since=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def settle_offer(session: AsyncSession, offer_id: int, *, accepted: bool) -> VoiceOffer | None:
    """An offer's leg ended. Not accepted: the call waits again (if it still waits for this operator)
    and the operator is free. Accepted: the operator is free once the conversation is over."""
    now = utcnow()
    offer = await session.get(VoiceOffer, offer_id, populate_existing=True)
    if offer is None:
        return None
    if offer.outcome == OfferOutcome.RINGING and not accepted:
        settled = await session.exec(
            update(VoiceOffer)
            .where(col(VoiceOffer.id) == offer_id, col(VoiceOffer.outcome) == OfferOutcome.RINGING)
            .values(outcome=OfferOutcome.MISSED, settled_at=now)
            .execution_options(synchronize_session=False)
        )
        if settled.rowcount == 1:
            await session.exec(
                update(VoiceCall)
                .where(
                    col(VoiceCall.id) == offer.voice_call_id,
                    col(VoiceCall.status) == CallStatus.OFFERED,
                    col(VoiceCall.operator_id) == offer.operator_id,
                )
                .values(status=CallStatus.QUEUED, operator_id=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    await release_operator(session, offer.operator_id, offer.voice_call_id, now)
    return offer


async def cancel_ringing_offer(session: AsyncSession, call_id: int) -> VoiceOffer | None:
    """The caller hung up while an operator's phone rang for them: the offer is settled as canceled and the
    operator is free again. The offer for the one request that settled it (its leg is then to be cancelled
    through Twilio, after the commit), None for every other (a repeated callback, no offer ringing)."""
    ringing = (
        await session.exec(
            select(VoiceOffer)
            .where(VoiceOffer.voice_call_id == call_id, VoiceOffer.outcome == OfferOutcome.RINGING)
            .execution_options(populate_existing=True)
        )
    ).first()
    if ringing is None:
        return None
    now = utcnow()
    settled = await session.exec(
        update(VoiceOffer)
        .where(col(VoiceOffer.id) == ringing.id, col(VoiceOffer.outcome) == OfferOutcome.RINGING)
        .values(outcome=OfferOutcome.CANCELED, settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if settled.rowcount != 1:
        return None
    await release_operator(session, ringing.operator_id, call_id, now)
    return ringing


async def cancel_leg(api: VoiceApi | None, leg_sid: str) -> None:
    """Ask Twilio to stop ringing an operator; a failure only means their phone rings on and the whisper
    tells them the caller has gone."""
    if api is None:
        return
    try:
        await api.cancel(leg_sid)
    except VoiceApiError:
        log.warning("could not cancel the operator leg %s; its whisper says the caller hung up", leg_sid)


async def sweep(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    cipher: FieldCipher,
    api: VoiceApi | None,
    now: datetime | None = None,
) -> int:
    """The safety net: every line dispatched, and queued calls past the wait marked for voicemail (their
    queue's next wait loop takes them there). Returns the offers placed."""
    now = now or utcnow()
    async with sessionmaker() as session:
        overdue = list(
            (
                await session.exec(
                    select(VoiceCall.call_sid).where(
                        VoiceCall.status == CallStatus.QUEUED,
                        col(VoiceCall.queued_at)
                        <= now - timedelta(seconds=settings.voice_voicemail_wait_seconds),
                    )
                )
            ).all()
        )
        for call_sid in overdue:
            await advance(
                session, call_sid, CallStatus.RECORDING, lambda _row: {"outcome": CallOutcome.VOICEMAIL}
            )
        await session.commit()
    placed = 0
    for line in LINES:
        placed += await dispatch_line(sessionmaker, settings, cipher, api, line)
    return placed
