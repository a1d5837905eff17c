"""Tables of notifications: the SMS outbox and per-number opt-outs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, utcnow

__all__ = ["OutboxMessage", "SmsOptOut"]


class OutboxMessage(SQLModel, table=True):
    """One SMS to send. Written in the same transaction as the booking it belongs to.

    status: pending → sending → sent → delivered, or failed / undelivered / suppressed (opt-out) /
    withdrawn (never sent: no longer needed, e.g. the reminder of a cancelled appointment).
    Recipient and body are encrypted: the body can hold a one-time code or a manage link.
    """

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)  # otp | booking_confirmed | booking_cancelled | reminder
    to_ciphertext: str
    to_index: str = Field(max_length=64, index=True)
    body_ciphertext: str
    status: str = Field(default="pending", max_length=20, index=True)
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
