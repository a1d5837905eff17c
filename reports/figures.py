"""The figures of a unit (and the units below it) over a period, every one an SQL aggregate.

Counts are `GROUP BY` / `COUNT(*) FILTER (WHERE …)` on both SQLite and PostgreSQL. Medians are taken from
a histogram the database has already aggregated (durations rounded to the hour, counted per hour), so no
row is ever read into Python: at 100,000 cases the histogram has at most a few thousand entries.

The result is plain JSON (dicts of counts), which is what a signed report stores and an export writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, cast, func, or_, select, true
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from booking.models import Appointment, AppointmentStatus, Attendance, Expert, Site
from core.accounts import StaffUser
from core.db import AsyncSession
from core.units import visible_to
from hotline.case_terms import MandatoryReportStatus, TaskKind, TaskStatus
from hotline.casework_models import Agency, ChildFlag, MandatoryReport, Referral, Task
from hotline.models import Call, ReferralCase
from hotline.voice_levels import answered_in_time, count_where, left_voicemail, queued_and_ended, was_answered
from hotline.voice_models import CallOutcome, VoiceCall
from notifications.models import OutboxMessage, OutboxStatus
from reports.periods import Period

__all__ = [
    "ALL_SECTIONS",
    "BOOKING_SECTIONS",
    "FigureScope",
    "case_table",
    "compute_figures",
    "identified_cases",
    "median_from_histogram",
    "percentile_from_histogram",
]

ALL_SECTIONS = ("calls", "voice", "cases", "referrals", "mandatory_reports", "tasks", "bookings", "sms")
BOOKING_SECTIONS = ("bookings", "sms")  # what a coordinator may see: no case figures at all

# A referral counts as acknowledged on time when the agency signed for it within a day of its sending.
ACK_ON_TIME_HOURS = 24


@dataclass(frozen=True)
class FigureScope:
    """Whose figures: a unit and those below it; for a line-limited viewer, that line's calls and cases;
    for a coordinator, booking figures only."""

    unit_id: int
    line: str | None = None
    booking_only: bool = False

    @property
    def sections(self) -> tuple[str, ...]:
        return BOOKING_SECTIONS if self.booking_only else ALL_SECTIONS

    @classmethod
    def of(cls, viewer: StaffUser, unit_id: int, *, booking_only: bool) -> FigureScope:
        return cls(unit_id=unit_id, line=viewer.line, booking_only=booking_only)


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
    dialect: str
    timezone: str

    def during(self, column: Any) -> ColumnElement[bool]:
        return and_(col(column) >= self.start, col(column) < self.end)

    def hours_between(self, earlier: Any, later: Any) -> ColumnElement[Any]:
        """Hours from one timestamp to another, to the nearest hour, computed by the database."""
        if self.dialect == "postgresql":
            seconds = func.extract("epoch", col(later) - col(earlier))
            return cast(func.round(seconds / 3600), Integer)
        # julianday is a float of days: 10 hours can come back as 9.9999…, so round rather than truncate.
        return cast(func.round((func.julianday(col(later)) - func.julianday(col(earlier))) * 24), Integer)

    def local_day(self, column: Any) -> ColumnElement[Any]:
        """The local calendar day of a UTC timestamp, as 'YYYY-MM-DD' text."""
        if self.dialect == "postgresql":
            return func.to_char(func.timezone(self.timezone, col(column)), "YYYY-MM-DD")
        # SQLite knows no zones: shift by the zone's offset at the period's start (Asia/Shanghai keeps
        # one offset all year; a zone with summer time would be an hour off on some nights).
        offset = ZoneInfo(self.timezone).utcoffset(self.start.replace(tzinfo=None)) or None
        minutes = int(offset.total_seconds() // 60) if offset else 0
        return func.strftime("%Y-%m-%d", col(column), f"{minutes:+d} minutes")


def median_from_histogram(histogram: dict[int, int]) -> float | None:
    """The median of values given as {value: how many}; None when there are none."""
    total = sum(histogram.values())
    if total == 0:
        return None
    ordered = sorted(histogram.items())

    def nth(n: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if seen > n:
                return value
        return ordered[-1][0]

    if total % 2:
        return float(nth(total // 2))
    return (nth(total // 2 - 1) + nth(total // 2)) / 2


def percentile_from_histogram(histogram: dict[int, int], share: float) -> int | None:
    """The nearest-rank percentile (`share` of 0.9 → the value 90 % of the entries are at or below)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(math.ceil(share * total), 1)
    seen = 0
    for value, count in sorted(histogram.items()):
        seen += count
        if seen >= rank:
            return value
    return max(histogram)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def _rows(session: AsyncSession, query: Any) -> list[Any]:
    """The rows of a SELECT of columns (counts and keys), typed loosely as aggregates are."""
    result: Any = await session.exec(query)
    return list(result.all())


async def _counts(session: AsyncSession, query: Any) -> dict[str, int]:
    rows = await _rows(session, query)
    return {str(key): int(count) for key, count in rows if key is not None}


async def _histogram(session: AsyncSession, hours: ColumnElement[Any], query: Select[Any]) -> dict[int, int]:
    bucket = hours.label("hours")
    rows = await _rows(session, query.add_columns(bucket, func.count()).group_by(bucket))
    return {int(hours_value): int(count) for hours_value, count in rows if hours_value is not None}


def _grouped(key: Any, *where: ColumnElement[bool], table: Any) -> Select[Any]:
    return select(key, func.count()).select_from(table).where(*where).group_by(key)


class _Figures:
    def __init__(self, session: AsyncSession, scope: FigureScope, window: _Window) -> None:
        self.session = session
        self.scope = scope
        self.w = window

    def _case_line(self) -> ColumnElement[bool]:
        return col(ReferralCase.line) == self.scope.line if self.scope.line else true()

    def _scoped_case_items(self, model: Any) -> Select[Any]:
        """An empty SELECT over a case item's table in scope (joining the case only for a line)."""
        query = select().select_from(model).where(visible_to(model.unit_id, self.scope.unit_id))
        if self.scope.line:
            query = query.join(ReferralCase, col(ReferralCase.id) == model.case_id).where(self._case_line())
        return query

    async def calls(self) -> dict[str, Any]:
        where = [visible_to(Call.unit_id, self.scope.unit_id), self.w.during(Call.received_at)]
        if self.scope.line:
            where.append(col(Call.line) == self.scope.line)
        s = self.session
        # One GROUP BY over the five codes (a few thousand combinations at most, whatever the number of
        # calls), each breakdown then summed from those counts: one pass over the period's calls instead
        # of five.
        names = ("line", "category", "caller_type", "urgency", "child_age_band")
        keys = (col(Call.line), col(Call.category), col(Call.caller_type), col(Call.urgency))
        combined = await _rows(
            s,
            select(*keys, col(ReferralCase.child_age_band), func.count())
            .select_from(Call)
            .join(ReferralCase, col(ReferralCase.id) == col(Call.case_id))
            .where(*where)
            .group_by(*keys, col(ReferralCase.child_age_band)),
        )
        by: dict[str, dict[str, int]] = {name: {} for name in names}
        for *codes, count in combined:
            for name, code in zip(names, codes, strict=True):
                by[name][str(code)] = by[name].get(str(code), 0) + int(count)
        by["day"] = await _counts(s, _grouped(self.w.local_day(Call.received_at), *where, table=Call))
        repeat = (
            select(col(Call.caller_phone_index), func.count().label("calls"))
            .where(*where, col(Call.caller_phone_index).is_not(None))
            .group_by(col(Call.caller_phone_index))
            .having(func.count() > 1)
            .subquery()
        )
        callers, repeat_calls = (
            await _rows(s, select(func.count(), func.coalesce(func.sum(repeat.c.calls), 0)))
        )[0]
        return {
            "total": sum(by["line"].values()),
            "by": by,
            "repeat_callers": int(callers),
            "repeat_calls": int(repeat_calls),
        }

    async def voice(self) -> dict[str, Any]:
        """Voice calls by line and outcome, the service level (hotline.voice_levels, as the supervisor's
        panel counts it) and the queue wait of answered calls, scoped like the logged calls."""
        where = [visible_to(VoiceCall.unit_id, self.scope.unit_id), self.w.during(VoiceCall.ringing_at)]
        if self.scope.line:
            where.append(col(VoiceCall.line) == self.scope.line)
        outcomes = {
            "answered": was_answered(),
            "abandoned": col(VoiceCall.outcome) == CallOutcome.ABANDONED,
            "voicemail": left_voicemail(),
            "out_of_hours": col(VoiceCall.outcome) == CallOutcome.OUT_OF_HOURS,
        }
        rows = await _rows(
            self.session,
            select(
                col(VoiceCall.line),
                func.count(),
                *(count_where(condition) for condition in outcomes.values()),
                count_where(queued_and_ended()),
                count_where(answered_in_time()),
            )
            .where(*where)
            .group_by(col(VoiceCall.line)),
        )
        by_line: dict[str, dict[str, int]] = {}
        queued = in_time = 0
        for line, total, *counts, line_queued, line_in_time in rows:
            by_line[str(line)] = {"total": int(total), **dict(zip(outcomes, map(int, counts), strict=True))}
            queued, in_time = queued + int(line_queued), in_time + int(line_in_time)
        # Seconds waited are whole numbers and mostly under a few minutes: a small histogram.
        waits = await _histogram(
            self.session,
            cast(col(VoiceCall.queue_wait_seconds), Integer),
            select()
            .select_from(VoiceCall)
            .where(*where, was_answered(), col(VoiceCall.queued_at).is_not(None)),
        )
        totals = {name: sum(counts[name] for counts in by_line.values()) for name in ("total", *outcomes)}
        return {
            **totals,
            "queued_ended": queued,
            "answered_in_time": in_time,
            "service_level_rate": _rate(in_time, queued),
            "median_wait_seconds": median_from_histogram(waits),
            "p90_wait_seconds": percentile_from_histogram(waits, 0.9),
            "by_line": by_line,
        }

    async def cases(self) -> dict[str, Any]:
        scope = [visible_to(ReferralCase.unit_id, self.scope.unit_id), self._case_line()]
        opened = [*scope, self.w.during(ReferralCase.created_at)]
        s = self.session
        closed_where = [*scope, self.w.during(ReferralCase.closed_at)]
        hours = await _histogram(
            s,
            self.w.hours_between(ReferralCase.created_at, ReferralCase.closed_at),
            select().select_from(ReferralCase).where(*closed_where),
        )
        flags = await _counts(
            s,
            select(col(ChildFlag.flag), func.count())
            .join(ReferralCase, col(ReferralCase.id) == col(ChildFlag.case_id))
            .where(*opened)
            .group_by(col(ChildFlag.flag)),
        )
        by_status = await _counts(s, _grouped(col(ReferralCase.status), *opened, table=ReferralCase))
        return {
            "opened": sum(by_status.values()),
            "closed": sum(hours.values()),
            "median_hours_to_close": median_from_histogram(hours),
            "by": {
                "status": by_status,
                "risk": await _counts(s, _grouped(col(ReferralCase.risk_level), *opened, table=ReferralCase)),
                "flag": flags,
            },
        }

    async def referrals(self) -> dict[str, Any]:
        base = self._scoped_case_items(Referral).where(self.w.during(Referral.sent_at))
        ack_hours = self.w.hours_between(Referral.sent_at, Referral.acknowledged_at)
        on_time_ack = and_(col(Referral.acknowledged_at).is_not(None), ack_hours <= ACK_ON_TIME_HOURS)
        on_time_feedback = and_(
            col(Referral.feedback_at).is_not(None), col(Referral.feedback_at) <= col(Referral.due_at)
        )
        rows = await _rows(
            self.session,
            base.join(Agency, col(Agency.id) == col(Referral.agency_id))
            .add_columns(
                col(Agency.kind),
                func.count(),
                func.count().filter(on_time_ack),
                func.count().filter(col(Referral.feedback_at).is_not(None)),
                func.count().filter(on_time_feedback),
            )
            .group_by(col(Agency.kind)),
        )
        by_kind = {
            str(kind): {
                "sent": int(n),
                "ack_on_time": int(a),
                "feedback": int(f),
                "feedback_on_time": int(ft),
            }
            for kind, n, a, f, ft in rows
        }
        feedback_hours = await _histogram(
            self.session,
            self.w.hours_between(Referral.sent_at, Referral.feedback_at),
            base.where(col(Referral.feedback_at).is_not(None)),
        )
        sent = sum(k["sent"] for k in by_kind.values())
        median_hours = median_from_histogram(feedback_hours)
        return {
            "sent": sent,
            "by_kind": by_kind,
            "ack_on_time_rate": _rate(sum(k["ack_on_time"] for k in by_kind.values()), sent),
            "feedback_on_time_rate": _rate(sum(k["feedback_on_time"] for k in by_kind.values()), sent),
            "median_days_to_feedback": round(median_hours / 24, 1) if median_hours is not None else None,
        }

    async def mandatory_reports(self, now: datetime) -> dict[str, Any]:
        base = self._scoped_case_items(MandatoryReport).where(self.w.during(MandatoryReport.created_at))
        late = or_(
            col(MandatoryReport.reported_at) > col(MandatoryReport.due_at),
            and_(
                col(MandatoryReport.status) == MandatoryReportStatus.PENDING,
                col(MandatoryReport.due_at) < now,
            ),
        )
        count, recorded, overdue = (
            await _rows(
                self.session,
                base.add_columns(
                    func.count(),
                    func.count().filter(col(MandatoryReport.status) == MandatoryReportStatus.RECORDED),
                    func.count().filter(late),
                ),
            )
        )[0]
        hours = await _histogram(
            self.session,
            self.w.hours_between(MandatoryReport.created_at, MandatoryReport.reported_at),
            base.where(col(MandatoryReport.reported_at).is_not(None)),
        )
        return {
            "count": int(count),
            "recorded": int(recorded),
            "overdue": int(overdue),
            "median_hours_to_report": median_from_histogram(hours),
        }

    async def tasks(self) -> dict[str, Any]:
        due = self._scoped_case_items(Task).where(
            self.w.during(Task.due_at), col(Task.status) != TaskStatus.CANCELLED
        )
        on_time = and_(col(Task.status) == TaskStatus.DONE, col(Task.done_at) <= col(Task.due_at))
        total, done, done_on_time = (
            await _rows(
                self.session,
                due.add_columns(
                    func.count(),
                    func.count().filter(col(Task.status) == TaskStatus.DONE),
                    func.count().filter(on_time),
                ),
            )
        )[0]
        satisfaction = await _counts(
            self.session,
            self._scoped_case_items(Task)
            .where(
                col(Task.kind) == TaskKind.SATISFACTION,
                col(Task.status) == TaskStatus.DONE,
                self.w.during(Task.done_at),
            )
            .add_columns(col(Task.result), func.count())
            .group_by(col(Task.result)),
        )
        return {
            "due": int(total),
            "done": int(done),
            "done_on_time": int(done_on_time),
            "on_time_rate": _rate(int(done_on_time), int(total)),
            "satisfaction": satisfaction,
        }

    async def bookings(self) -> dict[str, Any]:
        where = [
            visible_to(Expert.unit_id, self.scope.unit_id),
            self.w.during(Appointment.starts_at),
            col(Appointment.status).in_([AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED]),
        ]

        def grouped(*keys: Any) -> Select[Any]:
            return (
                select(*keys, func.count())
                .select_from(Appointment)
                .join(Expert, col(Expert.id) == col(Appointment.expert_id))
                .where(*where)
                .group_by(*keys)
            )

        s = self.session
        by_status = await _counts(s, grouped(col(Appointment.status)))
        site_rows = await _rows(
            s, grouped(col(Site.name)).outerjoin(Site, col(Site.id) == col(Expert.site_id))
        )
        by_attendance = await _counts(s, grouped(col(Appointment.attendance)))
        recorded = sum(by_attendance.values())
        came = by_attendance.get(Attendance.ATTENDED, 0) + by_attendance.get(Attendance.LATE, 0)
        return {
            "total": sum(by_status.values()),
            "cancelled": by_status.get(AppointmentStatus.CANCELLED, 0),
            "attendance_recorded": recorded,
            "attendance_rate": _rate(came, recorded),
            "no_show_rate": _rate(by_attendance.get(Attendance.NO_SHOW, 0), recorded),
            "by": {
                "site": {str(name or "—"): int(n) for name, n in site_rows},
                "expert": await _counts(s, grouped(col(Expert.name))),
                "mode": await _counts(s, grouped(col(Appointment.mode))),
                "attendance": by_attendance,
            },
        }

    async def sms(self) -> dict[str, Any]:
        """Outbox rows of the scope: those about its appointments; for hotline staff also about its
        referrals and the alerts to its staff. Rows in the outbox carry no unit of their own."""
        unit = self.scope.unit_id
        # One join per kind of row (the outbox's (related_type, created_at) index finds the period's rows,
        # each then looked up by key), the small status counts added up; an IN over every appointment of
        # the scope would hash them all first.
        sources: list[tuple[str, Any, list[ColumnElement[bool]]]] = [
            (
                "appointment",
                Appointment,
                [visible_to(Expert.unit_id, unit)],
            )
        ]
        if not self.scope.booking_only:
            sources.append(("referral", Referral, [visible_to(Referral.unit_id, unit)]))
            sources.append(("staff_alert", StaffUser, [visible_to(StaffUser.unit_id, unit)]))
        by_status: dict[str, int] = {}
        for related_type, model, scope in sources:
            query = (
                select(col(OutboxMessage.status), func.count())
                .select_from(OutboxMessage)
                .join(model, model.id == col(OutboxMessage.related_id))
                .where(
                    col(OutboxMessage.related_type) == related_type,
                    self.w.during(OutboxMessage.created_at),
                    *scope,
                )
                .group_by(col(OutboxMessage.status))
            )
            if model is Appointment:
                query = query.join(Expert, col(Expert.id) == col(Appointment.expert_id))
            for status, count in (await _counts(self.session, query)).items():
                by_status[status] = by_status.get(status, 0) + count
        delivered = by_status.get(OutboxStatus.DELIVERED, 0)
        failed = by_status.get(OutboxStatus.FAILED, 0) + by_status.get(OutboxStatus.UNDELIVERED, 0)
        return {
            "total": sum(by_status.values()),
            "sent": by_status.get(OutboxStatus.SENT, 0)
            + delivered
            + by_status.get(OutboxStatus.UNDELIVERED, 0),
            "delivered": delivered,
            "failed": failed,
            "opted_out": by_status.get(OutboxStatus.SUPPRESSED, 0),
            "by": {"status": by_status},
        }


async def compute_figures(
    session: AsyncSession, scope: FigureScope, period: Period, *, timezone: str, now: datetime
) -> dict[str, Any]:
    """Every figure of `scope` for `period`, as JSON-ready dicts keyed by section (ALL_SECTIONS)."""
    start, end = period.utc_bounds(timezone)
    bind = session.bind
    dialect = bind.dialect.name if bind is not None else "sqlite"
    figures = _Figures(session, scope, _Window(start, end, dialect, timezone))
    out: dict[str, Any] = {
        "period": period.code,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }
    sections = scope.sections
    if "calls" in sections:
        out["calls"] = await figures.calls()
        out["voice"] = await figures.voice()
        out["cases"] = await figures.cases()
        out["referrals"] = await figures.referrals()
        out["mandatory_reports"] = await figures.mandatory_reports(now)
        out["tasks"] = await figures.tasks()
    out["bookings"] = await figures.bookings()
    out["sms"] = await figures.sms()
    return out


async def case_table(
    session: AsyncSession, scope: FigureScope, period: Period, *, timezone: str
) -> list[tuple[str, str, str, int]]:
    """Cases opened in the period counted by category, child age band and risk: a de-identified list."""
    start, end = period.utc_bounds(timezone)
    keys = (col(ReferralCase.category), col(ReferralCase.child_age_band), col(ReferralCase.risk_level))
    where = [
        visible_to(ReferralCase.unit_id, scope.unit_id),
        col(ReferralCase.created_at) >= start,
        col(ReferralCase.created_at) < end,
    ]
    if scope.line:
        where.append(col(ReferralCase.line) == scope.line)
    rows = await _rows(session, select(*keys, func.count()).where(*where).group_by(*keys).order_by(*keys))
    return [(str(a), str(b), str(c), int(n)) for a, b, c, n in rows]


async def identified_cases(
    session: AsyncSession, scope: FigureScope, period: Period, *, timezone: str, limit: int = 20_000
) -> list[tuple[Any, ...]]:
    """Cases opened in the period, one row each, by number (for an administrator's identified export):
    codes and times only, never the encrypted free text or the child's name."""
    start, end = period.utc_bounds(timezone)
    query = (
        select(
            col(ReferralCase.number),
            col(ReferralCase.line),
            col(ReferralCase.unit_id),
            col(ReferralCase.category),
            col(ReferralCase.risk_level),
            col(ReferralCase.status),
            col(ReferralCase.created_at),
            col(ReferralCase.closed_at),
        )
        .where(
            visible_to(ReferralCase.unit_id, scope.unit_id),
            col(ReferralCase.created_at) >= start,
            col(ReferralCase.created_at) < end,
        )
        .order_by(col(ReferralCase.created_at), col(ReferralCase.id))
        .limit(limit)
    )
    return [tuple(row) for row in await _rows(session, query)]
