"""Tables of notifications: the SMS outbox and per-number opt-outs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.transitions import Transitions

__all__ = ["OUTBOX_TRANSITIONS", "MessageKind", "OutboxMessage", "OutboxStatus", "SmsOptOut"]


class MessageKind(StrEnum):
    """What an SMS says; each kind has its template `templates/sms/<kind>.txt`."""

    OTP = "otp"
    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_CANCELLED = "booking_cancelled"
    REMINDER = "reminder"


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting to be sent (first try, retry after backoff, or a reminder not due yet)
    SENDING = "sending"  # claimed by one worker, which is talking to the provider
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # never sent: the recipient opted out
    WITHDRAWN = "withdrawn"  # never sent: no longer needed (the reminder of a cancelled appointment)


_S = OutboxStatus
# Delivery callbacks may arrive before the worker records the send, so `pending`/`sending` can move to any
# delivery outcome; a row never moves back down from an outcome, and the never-sent ones stay as they are.
OUTBOX_TRANSITIONS = Transitions(
    "outbox message",
    {
        _S.PENDING: {_S.SENDING, _S.WITHDRAWN, _S.SENT, _S.DELIVERED, _S.UNDELIVERED, _S.FAILED},
        _S.SENDING: {
            _S.PENDING,  # a retry after a provider outage, or a dead worker's row released
            _S.SENT,
            _S.DELIVERED,
            _S.UNDELIVERED,
            _S.FAILED,
            _S.SUPPRESSED,
            _S.WITHDRAWN,
        },
        _S.SENT: {_S.DELIVERED, _S.UNDELIVERED, _S.FAILED},
    },
)


class OutboxMessage(SQLModel, table=True):
    """One SMS to send. Written in the same transaction as the booking it belongs to.

    status: pending → sending → sent → delivered, or failed / undelivered / suppressed (opt-out) /
    withdrawn (never sent: no longer needed, e.g. the reminder of a cancelled appointment).
    Recipient and body are encrypted: the body can hold a one-time code or a manage link.
    """

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)  # MessageKind
    to_ciphertext: str
    to_index: str = Field(max_length=64, index=True)
    body_ciphertext: str
    status: str = Field(default=OutboxStatus.PENDING, max_length=20, index=True)  # OutboxStatus
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_sid: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    provider_status: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=500)
    related_type: str | None = Field(default=None, max_length=40)
    related_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SmsOptOut(SQLModel, table=True):
    """A number that replied STOP (or 退订/TD). Keyed by blind index, never the number in clear."""

    __tablename__ = "sms_opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone_index: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    opted_out_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    source: str = Field(default="sms_stop", max_length=40)
