"""What the voice figures mean, in one place: the supervisor's live panel (hotline.voice_board) and the
reports (reports.figures) both count with these SQL conditions, so "service level" and "voicemail" say
the same thing on both.

Service level: of the calls that reached the queue and have ended, the share an operator answered within
`SERVICE_LEVEL_SECONDS` of queueing (`queue_wait_seconds`, as the status callbacks record it). Calls that
never queued (out of hours, hung up in the menu) are not in it.
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, func, or_
from sqlalchemy import case as sql_case
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from hotline.voice_models import CallOutcome, CallStatus, VoiceCall

__all__ = [
    "SERVICE_LEVEL_SECONDS",
    "answered_in_time",
    "count_where",
    "left_voicemail",
    "queued_and_ended",
    "was_answered",
]

SERVICE_LEVEL_SECONDS = 20


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet the condition (SUM of a CASE: the same on SQLite and PostgreSQL)."""
    return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0).cast(Integer)


def was_answered() -> ColumnElement[bool]:
    return col(VoiceCall.outcome) == CallOutcome.ANSWERED


def left_voicemail() -> ColumnElement[bool]:
    """A voicemail: the outcome says so, or a message was recorded (an out-of-hours call may leave one)."""
    return or_(col(VoiceCall.outcome) == CallOutcome.VOICEMAIL, col(VoiceCall.voicemail_sid).is_not(None))


def queued_and_ended() -> ColumnElement[bool]:
    """The service level's denominator."""
    return and_(col(VoiceCall.queued_at).is_not(None), col(VoiceCall.status) == CallStatus.ENDED)


def answered_in_time() -> ColumnElement[bool]:
    """The service level's numerator."""
    in_time = col(VoiceCall.queue_wait_seconds) <= SERVICE_LEVEL_SECONDS
    return and_(queued_and_ended(), was_answered(), in_time)
