"""The supervisor's voice panel: per line, calls waiting now and the longest wait, operators on duty / busy
/ paused, and today's answered, abandoned and voicemail counts with the service level. Three grouped
SQL statements within the supervisor's units (and line); "today" is the site's calendar day.

Service level and voicemail are defined once in hotline.voice_levels (the reports count with the same
conditions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession
from core.units import visible_to
from hotline.taxonomy import LINES
from hotline.voice_levels import (
    SERVICE_LEVEL_SECONDS,
    answered_in_time,
    count_where,
    left_voicemail,
    queued_and_ended,
    was_answered,
)
from hotline.voice_models import CallOutcome, CallStatus, DutyState, OperatorDuty, VoiceCall
from hotline.voice_screen import voice_call_in_scope

__all__ = ["SERVICE_LEVEL_SECONDS", "VoiceLineFigures", "voice_panel"]


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
    today = await session.exec(  # type: ignore[call-overload]
        sql_select(
            col(VoiceCall.line),
            count_where(was_answered()),
            count_where(col(VoiceCall.outcome) == CallOutcome.ABANDONED),
            count_where(left_voicemail()),
            count_where(queued_and_ended()),
            count_where(answered_in_time()),
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
