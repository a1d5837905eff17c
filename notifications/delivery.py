"""Delivery status from Twilio's callbacks, applied so that duplicates and late arrivals change nothing.

Twilio posts a callback per status change, may repeat one, and does not promise their order. A callback
only moves a row along the outbox's transition table (`OUTBOX_TRANSITIONS`), which has no way back, so
`sent` arriving after `delivered` is ignored and a repeated `delivered` is a no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, update
from sqlmodel import col

from core.db import AsyncSession, utcnow
from notifications.models import OUTBOX_TRANSITIONS, OutboxMessage, OutboxStatus

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "STATUS_CALLBACK_PATH",
    "apply_delivery_status",
    "our_status_for",
    "status_callback_url",
]

STATUS_CALLBACK_PATH = "/webhooks/twilio/sms-status"
OUTBOX_ID_PARAM = "outbox"

# Twilio MessageStatus → our status. Anything not listed (receiving, received: inbound only) is ignored.
_S = OutboxStatus
_FROM_TWILIO = {
    "accepted": _S.SENT,
    "scheduled": _S.SENT,
    "queued": _S.SENT,
    "sending": _S.SENT,
    "sent": _S.SENT,
    "delivered": _S.DELIVERED,
    "read": _S.DELIVERED,
    "undelivered": _S.UNDELIVERED,
    "failed": _S.FAILED,
    "canceled": _S.FAILED,
}


def our_status_for(twilio_status: str) -> OutboxStatus | None:
    return _FROM_TWILIO.get(twilio_status.strip().lower())


def status_callback_url(settings: Settings, outbox_id: int) -> str | None:
    """Where Twilio reports delivery. The outbox id rides along so a callback that beats our own write
    of the message SID (Twilio can call back within milliseconds) still finds its row."""
    if settings.sms_backend != "twilio":
        return None
    return f"{settings.public_base_url}{STATUS_CALLBACK_PATH}?{OUTBOX_ID_PARAM}={outbox_id}"


async def apply_delivery_status(
    session: AsyncSession,
    *,
    message_sid: str,
    twilio_status: str,
    error_code: str | None = None,
    outbox_id: int | None = None,
) -> bool:
    """Move the row for `message_sid` forward to the status Twilio reports. Returns whether it changed.

    One conditional UPDATE, so two callbacks processed at once cannot interleave a read and a write.
    """
    new_status = our_status_for(twilio_status)
    if new_status is None or not message_sid:
        return False
    # Only forward, as the outbox's transition table allows: `sent` after `delivered` changes nothing, and
    # a row that was never sent (suppressed, withdrawn) is never touched by a callback.
    sources = OUTBOX_TRANSITIONS.sources_of(new_status)
    matches_row = col(OutboxMessage.provider_sid) == message_sid
    if outbox_id is not None:
        # The worker may not have stored the SID yet; the id from our own (signed) callback URL is
        # trusted only while the row has no SID, so it cannot be used to relabel another message.
        matches_row = or_(
            matches_row,
            (col(OutboxMessage.id) == outbox_id) & col(OutboxMessage.provider_sid).is_(None),
        )
    values: dict[str, object] = {
        "status": new_status,
        "provider_status": twilio_status.strip().lower()[:20],
        "updated_at": utcnow(),
    }
    if new_status in (_S.FAILED, _S.UNDELIVERED):
        values["last_error"] = f"Twilio delivery {new_status}" + (
            f": error {error_code}" if error_code else ""
        )
    result = await session.exec(
        update(OutboxMessage).where(matches_row, col(OutboxMessage.status).in_(sources)).values(**values)
    )
    return bool(result.rowcount)
