"""Tables of voice intake: one row per call Twilio brings us, one per offer of a call to an operator,
and each operator's duty (the phone they answer on, on duty / paused / busy).

Twilio's status callbacks are the single source of truth about a call: they are retried and may arrive
twice or out of order, so a call row is keyed by its `CallSid` and moves only forward (see
`CALL_TRANSITIONS`). The caller's number is personal data: encrypted, with a blind index to find the
caller's earlier cases. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from core.transitions import Transitions

__all__ = [
    "CALL_TRANSITIONS",
    "CallOutcome",
    "CallStatus",
    "DutyState",
    "OfferOutcome",
    "OperatorDuty",
    "VoiceCall",
    "VoiceOffer",
]


class CallStatus(StrEnum):
    RINGING = "ringing"  # Twilio asked us what to do with a new call
    IN_MENU = "in_menu"  # the caller hears the menu
    QUEUED = "queued"  # waiting in the line's Twilio queue
    OFFERED = "offered"  # an operator's phone is ringing for it
    CONNECTED = "connected"  # bridged to an operator
    RECORDING = "recording"  # leaving a voicemail
    ENDED = "ended"  # hung up; `outcome` says how it went


CALL_TRANSITIONS = Transitions(
    "voice_call",
    {
        CallStatus.RINGING: {CallStatus.IN_MENU, CallStatus.QUEUED, CallStatus.RECORDING, CallStatus.ENDED},
        CallStatus.IN_MENU: {CallStatus.QUEUED, CallStatus.RECORDING, CallStatus.ENDED},
        CallStatus.QUEUED: {CallStatus.OFFERED, CallStatus.CONNECTED, CallStatus.RECORDING, CallStatus.ENDED},
        CallStatus.OFFERED: {CallStatus.QUEUED, CallStatus.CONNECTED, CallStatus.RECORDING, CallStatus.ENDED},
        CallStatus.CONNECTED: {CallStatus.ENDED},
        CallStatus.RECORDING: {CallStatus.ENDED},
    },
)


class CallOutcome(StrEnum):
    ANSWERED = "answered"  # an operator spoke with the caller
    ABANDONED = "abandoned"  # hung up in the menu or the queue
    VOICEMAIL = "voicemail"  # left a message (nobody on duty, or nobody answered in time)
    OUT_OF_HOURS = "out_of_hours"  # called when the line was closed (may have left a voicemail too)
    FAILED = "failed"  # Twilio could not complete it


class VoiceCall(SQLModel, table=True):
    __tablename__ = "voice_call"
    __table_args__ = (
        # The dispatcher takes the longest-waiting call of a line; crisis calls first.
        Index("ix_voice_call_queue", "line", "status", "crisis", "queued_at"),
        # The callback list: voicemails and abandoned calls not yet called back, by due time.
        Index("ix_voice_call_callback", "callback_done_at", "callback_due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_sid: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit whose number was called
    line: str = Field(max_length=20, index=True)  # hotline.taxonomy.Line
    to_number: str = Field(max_length=32)  # our number that was called (not personal data)
    caller_phone_ciphertext: str | None = None
    caller_phone_index: str | None = Field(default=None, max_length=64, index=True)
    menu_choice: str | None = Field(default=None, max_length=20)
    crisis: bool = False  # chose the child-safety option: front of the queue
    status: str = Field(default=CallStatus.RINGING, max_length=20)  # CallStatus
    outcome: str | None = Field(default=None, max_length=20)  # CallOutcome, once ended
    ringing_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    queue_wait_seconds: int | None = None
    duration_seconds: int | None = None  # as Twilio reports it (CallDuration)
    operator_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    recording_sid: str | None = Field(default=None, max_length=64)  # the conversation, if the line records
    voicemail_sid: str | None = Field(default=None, max_length=64)  # referenced by SID only, never stored
    voicemail_seconds: int | None = None
    callback_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    callback_done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    callback_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    case_id: int | None = Field(default=None, foreign_key="referral_case.id", index=True)  # logged into
    hotline_call_id: int | None = Field(default=None, foreign_key="hotline_call.id")  # the logged call
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OfferOutcome(StrEnum):
    RINGING = "ringing"
    ACCEPTED = "accepted"  # the operator answered and was bridged
    MISSED = "missed"  # no answer, busy or failed: the call goes to the next operator
    CANCELED = "canceled"  # the caller hung up while it rang: we cancelled the operator's leg


class VoiceOffer(SQLModel, table=True):
    """One outbound call to an operator's phone offering a waiting call (its own CallSid)."""

    __tablename__ = "voice_offer"

    id: int | None = Field(default=None, primary_key=True)
    voice_call_id: int = Field(foreign_key="voice_call.id", index=True)
    operator_id: int = Field(foreign_key="staff_user.id", index=True)
    leg_sid: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    outcome: str = Field(default=OfferOutcome.RINGING, max_length=20)  # OfferOutcome
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DutyState(StrEnum):
    OFF = "off"
    AVAILABLE = "available"  # on duty and idle: may be offered a call
    PAUSED = "paused"  # on duty, not taking calls for now
    BUSY = "busy"  # being offered a call or on one


class OperatorDuty(SQLModel, table=True):
    """An operator's voice duty: the phone they answer on (desk or mobile, encrypted) and their state.
    `idle_since` orders available operators: the longest idle is offered the next call."""

    __tablename__ = "operator_duty"
    __table_args__ = (Index("ix_operator_duty_state_idle", "state", "idle_since"),)

    staff_user_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    state: str = Field(default=DutyState.OFF, max_length=20)  # DutyState
    answer_phone_ciphertext: str | None = None
    idle_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    current_call_id: int | None = Field(default=None, foreign_key="voice_call.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
