"""The supervisor's voice panel: per line, calls waiting now and the longest wait, operators on duty / busy
/ paused, and today's answered, abandoned and voicemail counts with the service level. Three grouped
SQL statements within the supervisor's units (and line); "today" is the site's calendar day.

Service level: of today's calls that reached the queue and have ended, the share an operator answered
within 20 s of queueing (`queue_wait_seconds`, as the status callbacks record it). Calls that never
queued (out of hours, hung up in the menu) are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, func, or_
from sqlalchemy import case as sql_case
from sqlalchemy import select as sql_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession
from core.units import visible_to
from hotline.taxonomy import LINES
from hotline.voice_models import CallOutcome, CallStatus, DutyState, OperatorDuty, VoiceCall
from hotline.voice_screen import voice_call_in_scope

__all__ = ["SERVICE_LEVEL_SECONDS", "VoiceLineFigures", "voice_panel"]

SERVICE_LEVEL_SECONDS = 20


@dataclass
class VoiceLineFigures:
    line: str
    waiting: int = 0
    longest_wait_seconds: int | None = None  # of the calls waiting now
    available: int = 0  # on duty and idle
    busy: int = 0
    paused: int = 0
    answered_today: int = 0
    abandoned_today: int = 0
    voicemail_today: int = 0
    queued_ended_today: int = 0  # the service level's denominator
    answered_in_time_today: int = 0
    service_level: float | None = None  # 0..1; None when no queued call ended today

    @property
    def on_duty(self) -> int:
        return self.available + self.busy + self.paused


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0).cast(Integer)


def today_start(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


async def voice_panel(
    session: AsyncSession, viewer: StaffUser, *, now: datetime, timezone: str
) -> list[VoiceLineFigures]:
    lines = [viewer.line] if viewer.line else list(LINES)
    figures = {line: VoiceLineFigures(line=line) for line in lines}
    scope = voice_call_in_scope(viewer)

    waiting = await session.exec(
        select(VoiceCall.line, func.count(), func.min(VoiceCall.queued_at))
        .where(col(VoiceCall.status) == CallStatus.QUEUED, scope)
        .group_by(col(VoiceCall.line))
    )
    for line, count, oldest in waiting.all():
        if line in figures:
            figures[line].waiting = count
            if oldest is not None:
                figures[line].longest_wait_seconds = max(int((now - oldest).total_seconds()), 0)

    start = today_start(now, timezone)
    queued_ended = and_(col(VoiceCall.queued_at).is_not(None), col(VoiceCall.status) == CallStatus.ENDED)
    today = await session.exec(  # type: ignore[call-overload]
        sql_select(
            col(VoiceCall.line),
            _count(col(VoiceCall.outcome) == CallOutcome.ANSWERED),
            _count(col(VoiceCall.outcome) == CallOutcome.ABANDONED),
            _count(
                or_(
                    col(VoiceCall.outcome) == CallOutcome.VOICEMAIL, col(VoiceCall.voicemail_sid).is_not(None)
                )
            ),
            _count(queued_ended),
            _count(
                and_(
                    queued_ended,
                    col(VoiceCall.outcome) == CallOutcome.ANSWERED,
                    col(VoiceCall.queue_wait_seconds) <= SERVICE_LEVEL_SECONDS,
                )
            ),
        )
        .where(
            col(VoiceCall.ringing_at) >= start, col(VoiceCall.ringing_at) < start + timedelta(days=1), scope
        )
        .group_by(col(VoiceCall.line))
    )
    for line, answered, abandoned, voicemail, denominator, in_time in today.all():
        if line in figures:
            row = figures[line]
            row.answered_today, row.abandoned_today, row.voicemail_today = answered, abandoned, voicemail
            row.queued_ended_today, row.answered_in_time_today = denominator, in_time
            row.service_level = in_time / denominator if denominator else None

    # An operator of every line (StaffUser.line is None) counts on each line they take calls on.
    duty = await session.exec(
        select(StaffUser.line, OperatorDuty.state, func.count())
        .join(StaffUser, col(StaffUser.id) == col(OperatorDuty.staff_user_id))
        .where(
            col(OperatorDuty.state) != DutyState.OFF,
            col(StaffUser.is_active),
            col(StaffUser.role).in_([Role.OPERATOR, Role.SUPERVISOR]),
            visible_to(StaffUser.unit_id, viewer.unit_id),
        )
        .group_by(col(StaffUser.line), col(OperatorDuty.state))
    )
    for staff_line, state, count in duty.all():
        for line in [staff_line] if staff_line else lines:
            if line in figures and state in (DutyState.AVAILABLE, DutyState.BUSY, DutyState.PAUSED):
                setattr(figures[line], str(state), getattr(figures[line], str(state)) + count)
    return list(figures.values())
