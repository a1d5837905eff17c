"""Twilio's voice webhooks: a call comes in, the caller chooses from the menu, waits in the line's queue,
is bridged to an operator or leaves a voicemail; Twilio reports each step back. Every request is checked
for Twilio's signature (notifications.twilio_signature; 403 otherwise) and answered with TwiML.

Each handler reads the call's row, moves it forward if its table allows, commits, and answers. A
repeated or late request finds the row already moved and answers the same way or hangs up, changing
nothing. Dispatch rounds are started after the commit, in the background (hotline.voice_runtime).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, post
from litestar.datastructures import FormMultiDict
from litestar.response import Response
from sqlalchemy import func, update
from sqlmodel import col, select

from core.db import DbSession, utcnow
from core.privacy import CipherDep
from core.security import csrf_exempt
from core.settings import SettingsDep
from hotline import voice_twiml as twiml
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.taxonomy import LINES
from hotline.voice_dispatch import cancel_ringing_offer, settle_offer
from hotline.voice_lines import is_open, line_for_choice, menu_choices, records_line, route_number
from hotline.voice_models import CallOutcome, CallStatus, OfferOutcome, OperatorDuty, VoiceCall, VoiceOffer
from hotline.voice_records import (
    FINAL_TWILIO_STATUSES,
    advance,
    end_call,
    find_call,
    open_call,
    seconds_between,
)
from hotline.voice_runtime import voice_runtime
from notifications.twilio_signature import refuse, verified_form

__all__ = ["VoiceWebhooks"]

IN_CONVERSATION = (CallStatus.QUEUED, CallStatus.OFFERED)
MENU_STATUSES = (CallStatus.RINGING, CallStatus.IN_MENU)  # where a menu choice may still move a call


def _xml(body: str) -> Response[str]:
    return Response(body, media_type="application/xml", status_code=200)


def _field(form: FormMultiDict, name: str) -> str:
    return str(form.get(name) or "")


def _int_field(form: FormMultiDict, name: str) -> int | None:
    raw = _field(form, name)
    return int(raw) if raw.isdigit() else None


def _query_id(request: Request[Any, Any, Any], name: str) -> int | None:
    raw = request.query_params.get(name) or ""
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


async def _position(db: DbSession, call: VoiceCall) -> int:
    """1 + the calls of the same line ahead of this one: crisis calls first, then by waiting time."""
    earlier = (col(VoiceCall.crisis) == call.crisis) & (col(VoiceCall.queued_at) < call.queued_at)
    ahead = earlier if call.crisis else (col(VoiceCall.crisis).is_(True) | earlier)
    count = await db.exec(
        select(func.count())
        .select_from(VoiceCall)
        .where(VoiceCall.line == call.line, col(VoiceCall.status).in_(IN_CONVERSATION), ahead)
    )
    return int(count.one()) + 1


async def _caller_left(request: Request[Any, Any, Any], db: DbSession, ended: VoiceCall | None) -> None:
    """Commit; and if this request ended a call whose operator's phone was still ringing, settle that offer
    (operator free again) in the same commit and cancel the leg after it, so nobody answers to silence.
    Only the request that ended the call gets here with it: a repeated callback finds it ended already."""
    offer = await cancel_ringing_offer(db, ended.id) if ended is not None and ended.id is not None else None
    await db.commit()
    if offer is not None and offer.leg_sid:
        voice_runtime(request).cancel_leg(offer.leg_sid)


class VoiceWebhooks(Controller):
    """Raw forms, not typed bodies: Twilio signs every field it posts, so the signature is checked over the
    form exactly as it came. No CSRF token: Twilio cannot send ours; its signature is the stronger proof."""

    path = twiml.VOICE_PATH
    include_in_schema = False
    opt = csrf_exempt()

    @post("/incoming", name="webhooks:twilio-voice-incoming", status_code=200)
    async def incoming(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        to_number = _field(form, "To")
        route = route_number(settings, to_number)
        line = line_for_choice(settings, route, None)
        # A main-menu number is open while any line is: the caller's choice picks the line.
        now = utcnow()
        open_now = (
            is_open(settings, route.line, now)
            if route.line
            else any(is_open(settings, each, now) for each in LINES)
        )
        call, created = await open_call(
            db,
            cipher,
            call_sid=_field(form, "CallSid"),
            unit_id=route.unit_id,
            line=line,
            to_number=to_number,
            caller=_field(form, "From"),
            status=CallStatus.IN_MENU if open_now else CallStatus.RECORDING,
            outcome=None if open_now else CallOutcome.OUT_OF_HOURS,
            now=now,
        )
        if created:
            await db.commit()
        elif call.status == CallStatus.RINGING:  # the row came from a status callback that ran ahead
            extra = {} if open_now else {"outcome": CallOutcome.OUT_OF_HOURS}
            target = CallStatus.IN_MENU if open_now else CallStatus.RECORDING
            call = await advance(db, call.call_sid, target, lambda _row: extra) or call
            await db.commit()
        # A retried request (Twilio's, on a timeout) is answered as the first was.
        if call.status == CallStatus.IN_MENU:
            return _xml(twiml.menu(settings, greet=True, recording_notice=records_line(settings, line)))
        if call.status == CallStatus.RECORDING:
            return _xml(twiml.voicemail(settings, out_of_hours=call.outcome == CallOutcome.OUT_OF_HOURS))
        return _xml(twiml.hang_up())

    @post("/menu", name="webhooks:twilio-voice-menu", status_code=200)
    async def menu_choice(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        call = await find_call(db, _field(form, "CallSid"))
        if call is None:
            return _xml(twiml.hang_up())
        if call.status in (CallStatus.QUEUED, CallStatus.OFFERED):  # a retry: the queue it is in
            return _xml(twiml.to_queue(settings, call.line, call.crisis, recording_notice=False))
        if call.status not in MENU_STATUSES:  # a retry after the call moved on
            return _xml(twiml.hang_up())
        choice = menu_choices(settings).get(_field(form, "Digits"))  # none or unknown: an operator
        route = route_number(settings, call.to_number)
        line = line_for_choice(settings, route, choice)
        crisis = choice is not None and choice.digit == settings.voice_crisis_digit
        if not is_open(settings, line, utcnow()):
            moved = await advance(
                db,
                call.call_sid,
                CallStatus.RECORDING,
                lambda _r: {
                    "outcome": CallOutcome.OUT_OF_HOURS,
                    "line": line,
                    "menu_choice": choice and choice.code,
                },
                only_if=lambda row: row.status in MENU_STATUSES,
            )
            await db.commit()
            return _xml(twiml.closed_for_voicemail(settings) if moved else twiml.hang_up())
        now = utcnow()
        moved = await advance(
            db,
            call.call_sid,
            CallStatus.QUEUED,
            lambda row: {
                "line": line,
                "menu_choice": choice.code if choice else None,
                "crisis": crisis,
                "queued_at": row.queued_at or now,
            },
            only_if=lambda row: row.status in MENU_STATUSES,
        )
        await db.commit()
        if moved is None:
            return _xml(twiml.hang_up())
        voice_runtime(request).kick(line)
        notice = records_line(settings, line) and not records_line(settings, call.line)
        return _xml(twiml.to_queue(settings, line, crisis, recording_notice=notice))

    @post("/wait", name="webhooks:twilio-voice-wait", status_code=200)
    async def wait(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        call = await find_call(db, _field(form, "CallSid"))
        if call is None or call.status in (CallStatus.RECORDING, CallStatus.ENDED):
            return _xml(twiml.leave_queue())
        now = utcnow()
        waited = seconds_between(call.queued_at, now) or 0
        if call.status == CallStatus.QUEUED and waited >= settings.voice_voicemail_wait_seconds:
            await advance(
                db,
                call.call_sid,
                CallStatus.RECORDING,
                lambda _r: {"outcome": CallOutcome.VOICEMAIL},
                only_if=lambda row: row.status == CallStatus.QUEUED,
            )
            await db.commit()
            return _xml(twiml.leave_queue())
        position = await _position(db, call)
        voice_runtime(request).kick(call.line)  # the queue's own clock: a missed event is caught up here
        return _xml(twiml.hold(settings, position))

    @post("/queue-exit", name="webhooks:twilio-voice-queue-exit", status_code=200)
    async def queue_exit(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        """The <Enqueue> action: the caller left the queue (bridged call over, voicemail, hung up)."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        call = await find_call(db, _field(form, "CallSid"))
        result = _field(form, "QueueResult")
        if call is not None and call.status == CallStatus.RECORDING and result != "hangup":
            return _xml(twiml.voicemail(settings, out_of_hours=False))
        if call is not None and result == "hangup":
            ended = await end_call(db, settings, call.call_sid, twilio_status="completed", duration=None)
            await _caller_left(request, db, ended)
            voice_runtime(request).kick(call.line)
        return _xml(twiml.hang_up())

    @post("/voicemail-done", name="webhooks:twilio-voice-voicemail-done", status_code=200)
    async def voicemail_done(self, request: Request[Any, Any, Any], settings: SettingsDep) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        return _xml(twiml.voicemail_thanks(settings))

    @post("/voicemail-recording", name="webhooks:twilio-voice-voicemail-recording", status_code=200)
    async def voicemail_recording(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        recording_sid = _field(form, "RecordingSid")[:64]
        if _field(form, "RecordingStatus") in ("", "completed") and recording_sid:
            due = utcnow() + timedelta(hours=settings.voice_callback_hours)
            await db.exec(
                update(VoiceCall)
                .where(col(VoiceCall.call_sid) == _field(form, "CallSid"))
                .values(
                    voicemail_sid=recording_sid,
                    voicemail_seconds=_int_field(form, "RecordingDuration"),
                    callback_due_at=func.coalesce(VoiceCall.callback_due_at, due),
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            await db.commit()
        return _xml(twiml.hang_up())

    @post("/status", name="webhooks:twilio-voice-status", status_code=200)
    async def status(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Response[Any]:
        """The number's status callback: the caller's call rang, was answered, ended."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        call_sid = _field(form, "CallSid")
        twilio_status = _field(form, "CallStatus")
        # A callback can outrun the incoming webhook: the row is made here then, from what it says.
        to_number = _field(form, "To")
        route = route_number(settings, to_number)
        await open_call(
            db,
            cipher,
            call_sid=call_sid,
            unit_id=route.unit_id,
            line=line_for_choice(settings, route, None),
            to_number=to_number,
            caller=_field(form, "From"),
        )
        ended = None
        if twilio_status in FINAL_TWILIO_STATUSES:
            ended = await end_call(
                db, settings, call_sid, twilio_status=twilio_status, duration=_int_field(form, "CallDuration")
            )
        await _caller_left(request, db, ended)
        if ended is not None:
            voice_runtime(request).kick(ended.line)
        return Response({"ok": True}, status_code=200)

    @post("/offer/whisper", name="webhooks:twilio-voice-whisper", status_code=200)
    async def offer_whisper(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        """The operator answered their phone: say what the call is, then bridge it."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        offer_id = _query_id(request, "offer")
        offer = await db.get(VoiceOffer, offer_id) if offer_id else None
        call = await db.get(VoiceCall, offer.voice_call_id) if offer else None
        if (
            offer is None
            or call is None
            or offer.outcome != OfferOutcome.RINGING
            or call.status != CallStatus.OFFERED
            or call.operator_id != offer.operator_id
        ):
            return _xml(twiml.caller_gone(settings))
        return _xml(
            twiml.whisper(
                settings,
                offer_id=offer.id or 0,
                line=call.line,
                choice=call.menu_choice,
                crisis=call.crisis,
                record=records_line(settings, call.line),
            )
        )

    @post("/offer/connect", name="webhooks:twilio-voice-connect", status_code=200)
    async def offer_connect(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        """<Queue url>: run on the queued caller's leg just before the bridge. It names the caller's CallSid
        and the operator leg that dequeued it, so the record says who was really bridged with whom."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        offer_id = _query_id(request, "offer")
        offer = await db.get(VoiceOffer, offer_id) if offer_id else None
        call_sid = _field(form, "CallSid")
        now = utcnow()
        moved = await advance(
            db,
            call_sid,
            CallStatus.CONNECTED,
            lambda row: {
                "answered_at": row.answered_at or now,
                "queue_wait_seconds": seconds_between(row.queued_at, now),
                "outcome": CallOutcome.ANSWERED,
                "operator_id": offer.operator_id if offer else row.operator_id,
            },
        )
        if moved is not None and offer is not None:
            await db.exec(
                update(VoiceOffer)
                .where(col(VoiceOffer.id) == offer.id, col(VoiceOffer.outcome) == OfferOutcome.RINGING)
                .values(outcome=OfferOutcome.ACCEPTED, settled_at=now, voice_call_id=moved.id)
                .execution_options(synchronize_session=False)
            )
            await db.exec(
                update(OperatorDuty)
                .where(col(OperatorDuty.staff_user_id) == offer.operator_id)
                .values(current_call_id=moved.id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        await db.commit()
        return _xml(twiml.empty())

    @post("/offer/status", name="webhooks:twilio-voice-offer-status", status_code=200)
    async def offer_status(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        """The operator leg's progress. Its end settles the offer: missed (the call waits again, the next
        operator is tried) or, after a conversation, the operator is free again."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        offer_id = _query_id(request, "offer")
        if offer_id is None or _field(form, "CallStatus") not in FINAL_TWILIO_STATUSES:
            return Response({"ok": True}, status_code=200)
        offer = await settle_offer(db, offer_id, accepted=False)
        await db.commit()
        if offer is not None:
            call = await db.get(VoiceCall, offer.voice_call_id)
            if call is not None:
                voice_runtime(request).kick(call.line)
        return Response({"ok": True}, status_code=200)

    @post("/recording", name="webhooks:twilio-voice-recording", status_code=200)
    async def conversation_recording(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        """A recorded conversation (lines with recording on): kept as Twilio's SID only."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        offer_id = _query_id(request, "offer")
        offer = await db.get(VoiceOffer, offer_id) if offer_id else None
        if offer is not None and _field(form, "RecordingSid"):
            await db.exec(
                update(VoiceCall)
                .where(col(VoiceCall.id) == offer.voice_call_id, col(VoiceCall.recording_sid).is_(None))
                .values(recording_sid=_field(form, "RecordingSid")[:64], updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await db.commit()
        return Response({"ok": True}, status_code=200)

    @post("/callback/bridge", name="webhooks:twilio-voice-callback-bridge", status_code=200)
    async def callback_bridge(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Response[Any]:
        """An operator calling a caller back answered their phone: now dial the caller."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        call_id = _query_id(request, "call")
        call = await db.get(VoiceCall, call_id) if call_id else None
        if call is None or not call.caller_phone_ciphertext:
            return _xml(twiml.hang_up())
        caller = cipher.decrypt(call.caller_phone_ciphertext, context=VOICE_CALLER_PHONE)
        return _xml(twiml.callback_bridge(settings, caller=caller, caller_id=call.to_number))

    @post("/callback/status", name="webhooks:twilio-voice-callback-status", status_code=200)
    async def callback_status(self, request: Request[Any, Any, Any], settings: SettingsDep) -> Response[Any]:
        """The callback leg's progress: nothing to record (the callback was marked done when placed)."""
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        return Response({"ok": True}, status_code=200)
