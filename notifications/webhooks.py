"""Twilio's calls to us: delivery status callbacks and inbound SMS (STOP / START), signature-checked.

Every request must carry a valid X-Twilio-Signature (notifications.twilio_signature, shared with the
voice webhooks); anything else gets 403 and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, post
from litestar.response import Response

from core.db import DbSession
from core.privacy import CipherDep, mask_phone, phone_index
from core.security import csrf_exempt
from core.settings import SettingsDep
from notifications.delivery import OUTBOX_ID_PARAM, apply_delivery_status
from notifications.opt_out import record_opt_out, remove_opt_out
from notifications.twilio_signature import refuse, verified_form

__all__ = ["INBOUND_PATH", "TwilioWebhooks", "keyword_action"]

log = logging.getLogger(__name__)

WEBHOOKS_PATH = "/webhooks/twilio"
INBOUND_PATH = WEBHOOKS_PATH + "/sms-inbound"  # configured on the Twilio number
# notifications.delivery.STATUS_CALLBACK_PATH names the other one, given to Twilio with each SMS.

# Twilio's standard opt-out words, plus what mainland senders print on their texts: 退订, TD ("回TD退订"),
# T ("回T退订") and R ("拒收请回复R", required on promotional texts).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "TD", "T", "R", "退订"})
START_WORDS = frozenset({"START", "UNSTOP"})

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def keyword_action(body: str) -> str | None:
    """ "stop", "start" or None for an inbound text. Case, spaces and trailing punctuation are ignored,
    so "Stop." and " 退订。" count; a sentence that merely contains the word does not."""
    word = body.strip().strip(".!。！,，").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


class TwilioWebhooks(Controller):
    """Handlers read the raw form, not a typed body: Twilio signs every posted field, including ones a
    dataclass would not name, so the signature must be checked over the form exactly as it came. No CSRF
    token either: Twilio cannot send ours, and its signature is the stronger proof."""

    path = WEBHOOKS_PATH
    include_in_schema = False
    opt = csrf_exempt()

    @post("/sms-status", name="webhooks:twilio-sms-status", status_code=200)
    async def sms_status_callback(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        raw_id = request.query_params.get(OUTBOX_ID_PARAM)
        changed = await apply_delivery_status(
            db,
            message_sid=str(form.get("MessageSid") or form.get("SmsSid") or ""),
            twilio_status=str(form.get("MessageStatus") or form.get("SmsStatus") or ""),
            error_code=str(form.get("ErrorCode") or "") or None,
            outbox_id=int(raw_id) if raw_id and raw_id.isdigit() else None,
        )
        await db.commit()
        # 200 either way: a repeated or late callback is not an error, and Twilio does not retry them.
        return Response({"updated": changed}, status_code=200)

    @post("/sms-inbound", name="webhooks:twilio-sms-inbound", status_code=200)
    async def sms_inbound(
        self, request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Response[Any]:
        form = await verified_form(request, settings)
        if isinstance(form, str):
            return refuse(request, form)
        sender = str(form.get("From") or "")
        action = keyword_action(str(form.get("Body") or ""))
        if sender and action == "stop":
            await record_opt_out(db, phone_index(cipher, sender), source="sms_stop")
            log.info("SMS opt-out from %s", mask_phone(sender))
        elif sender and action == "start":
            await remove_opt_out(db, phone_index(cipher, sender))
            log.info("SMS opt-in again from %s", mask_phone(sender))
        await db.commit()
        # Empty TwiML: no automatic reply. Carriers and Twilio send their own STOP confirmations.
        return Response(EMPTY_TWIML, media_type="application/xml", status_code=200)
