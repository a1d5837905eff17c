"""Tables of notifications: the SMS outbox and per-number opt-outs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.transitions import Transitions

__all__ = [
    "OUTBOX_TRANSITIONS",
    "SEND_PRIORITY",
    "MessageKind",
    "OutboxMessage",
    "OutboxStatus",
    "OutboxWorker",
    "SmsOptOut",
]


class MessageKind(StrEnum):
    """What an SMS says; each kind has its template `templates/sms/<kind>.txt`."""

    OTP = "otp"
    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_CANCELLED = "booking_cancelled"
    REMINDER = "reminder"
    STAFF_ALERT = "staff_alert"  # to an on-duty supervisor or a case owner: a case number, what is needed
    REFERRAL_LINK = "referral_link"  # to an agency contact: a referral's secret link
    BOOKING_RESCHEDULED = "booking_rescheduled"  # the consultation moved to another time


# Which SMS go first when many are due at once (after an outage): lower goes sooner. A parent waits on the
# booking page for a one-time code; a confirmation or a reminder can follow a little later.
SEND_PRIORITY: dict[str, int] = {
    MessageKind.OTP: 0,
    MessageKind.BOOKING_CONFIRMED: 1,
    MessageKind.BOOKING_CANCELLED: 1,
    MessageKind.REMINDER: 2,
    # A child may be in danger now: an alert goes before anything but a code a parent is waiting for.
    MessageKind.STAFF_ALERT: 0,
    MessageKind.REFERRAL_LINK: 1,
    MessageKind.BOOKING_RESCHEDULED: 1,
}


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
            _S.PENDING,  # a retry after a provider outage, or the row of a stopped or dead worker released
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

    `claimed_by` names the worker (see `OutboxWorker`) that moved the row to `sending`. `in_doubt_since` is
    set while an earlier attempt may have reached the provider without our learning its SID (its worker
    died or was stopped mid-send, or the connection failed after the request left): it is when the first
    such attempt was claimed, and before sending again the worker looks for that message at the provider.
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
    claimed_by: str | None = Field(default=None, max_length=80)
    in_doubt_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    provider_sid: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    provider_status: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, max_length=500)
    related_type: str | None = Field(default=None, max_length=40)
    related_id: int | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxWorker(SQLModel, table=True):
    """A process that sends SMS (an arq worker, or the web process in embedded mode) and its heartbeat.

    Kept in the database, not Redis, because the database is what outlives a Redis outage. A row in
    `sending` whose claimant has no fresh heartbeat here belongs to a worker that is gone.
    """

    __tablename__ = "outbox_worker"

    name: str = Field(primary_key=True, max_length=80)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    beat_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SmsOptOut(SQLModel, table=True):
    """A number that replied STOP (or 退订/TD). Keyed by blind index, never the number in clear."""

    __tablename__ = "sms_opt_out"

    id: int | None = Field(default=None, primary_key=True)
    phone_index: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    opted_out_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    source: str = Field(default="sms_stop", max_length=40)
