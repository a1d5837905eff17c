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
from sqlalchemy import case as sql_case
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
    "compute_periods",
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
    """The periods counted together: every statement reads the rows of all of them at once and groups
    them by `bucket()` (0 for the first period, 1 for the next…), so three periods cost one pass each
    instead of three statements."""

    ranges: tuple[tuple[datetime, datetime], ...]
    dialect: str
    timezone: str

    def during(self, column: Any) -> ColumnElement[bool]:
        # The span from the earliest start to the latest end is what an index range can use (PostgreSQL
        # does not turn the OR of the periods into one); the OR then drops the rows between the periods.
        first, last = min(start for start, _ in self.ranges), max(end for _, end in self.ranges)
        periods = or_(*(and_(col(column) >= start, col(column) < end) for start, end in self.ranges))
        return and_(col(column) >= first, col(column) < last, periods)

    def bucket(self, column: Any) -> ColumnElement[Any]:
        """Which period a row's time falls in (its position in `ranges`), as a labelled column."""
        whens = [
            (and_(col(column) >= start, col(column) < end), number)
            for number, (start, end) in enumerate(self.ranges)
        ]
        return sql_case(*whens, else_=-1).label("period_bucket")

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
        # SQLite knows no zones: shift by the zone's offset at the first period's start (Asia/Shanghai
        # keeps one offset all year; a zone with summer time would be an hour off on some nights).
        offset = ZoneInfo(self.timezone).utcoffset(self.ranges[0][0].replace(tzinfo=None)) or None
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


Buckets = list[Any]  # one entry per period of the window, in its order


async def _by_bucket(session: AsyncSession, query: Any, periods: int) -> list[list[tuple[Any, ...]]]:
    """The rows of a query whose first column is the period bucket, split by it (bucket dropped)."""
    split: list[list[tuple[Any, ...]]] = [[] for _ in range(periods)]
    for bucket, *rest in await _rows(session, query):
        if 0 <= int(bucket) < periods:
            split[int(bucket)].append(tuple(rest))
    return split


async def _counts(session: AsyncSession, query: Any, periods: int) -> list[dict[str, int]]:
    return [
        {str(key): int(count) for key, count in rows if key is not None}
        for rows in await _by_bucket(session, query, periods)
    ]


async def _histogram(
    session: AsyncSession,
    bucket: ColumnElement[Any],
    hours: ColumnElement[Any],
    query: Select[Any],
    periods: int,
) -> list[dict[int, int]]:
    value = hours.label("hours")
    rows = await _by_bucket(
        session, query.add_columns(bucket, value, func.count()).group_by(bucket, value), periods
    )
    return [{int(v): int(count) for v, count in part if v is not None} for part in rows]


def _grouped(bucket: ColumnElement[Any], key: Any, *where: ColumnElement[bool], table: Any) -> Select[Any]:
    return select(bucket, key, func.count()).select_from(table).where(*where).group_by(bucket, key)


class _Figures:
    def __init__(self, session: AsyncSession, scope: FigureScope, window: _Window) -> None:
        self.session = session
        self.scope = scope
        self.w = window
        self.n = len(window.ranges)

    def _case_line(self) -> ColumnElement[bool]:
        return col(ReferralCase.line) == self.scope.line if self.scope.line else true()

    def _scoped_case_items(self, model: Any) -> Select[Any]:
        """An empty SELECT over a case item's table in scope (joining the case only for a line)."""
        query = select().select_from(model).where(visible_to(model.unit_id, self.scope.unit_id))
        if self.scope.line:
            query = query.join(ReferralCase, col(ReferralCase.id) == model.case_id).where(self._case_line())
        return query

    async def calls(self) -> Buckets:
        where = [visible_to(Call.unit_id, self.scope.unit_id), self.w.during(Call.received_at)]
        if self.scope.line:
            where.append(col(Call.line) == self.scope.line)
        s = self.session
        bucket = self.w.bucket(Call.received_at)
        # One GROUP BY over the five codes and the day (a few thousand combinations at most, whatever the
        # number of calls), each breakdown then summed from those counts: one pass over the calls.
        names = ("line", "category", "caller_type", "urgency", "child_age_band", "day")
        keys = (
            col(Call.line),
            col(Call.category),
            col(Call.caller_type),
            col(Call.urgency),
            col(ReferralCase.child_age_band),
            self.w.local_day(Call.received_at),
        )
        combined = await _by_bucket(
            s,
            select(bucket, *keys, func.count())
            .select_from(Call)
            .join(ReferralCase, col(ReferralCase.id) == col(Call.case_id))
            .where(*where)
            .group_by(bucket, *keys),
            self.n,
        )
        phone_bucket = self.w.bucket(Call.received_at)
        repeat = (
            select(phone_bucket, col(Call.caller_phone_index), func.count().label("calls"))
            .where(*where, col(Call.caller_phone_index).is_not(None))
            .group_by(phone_bucket, col(Call.caller_phone_index))
            .having(func.count() > 1)
            .subquery()
        )
        repeats = await _by_bucket(
            s,
            select(repeat.c.period_bucket, func.count(), func.coalesce(func.sum(repeat.c.calls), 0)).group_by(
                repeat.c.period_bucket
            ),
            self.n,
        )
        out: Buckets = []
        for rows, repeated in zip(combined, repeats, strict=True):
            by: dict[str, dict[str, int]] = {name: {} for name in names}
            for *codes, count in rows:
                for name, code in zip(names, codes, strict=True):
                    by[name][str(code)] = by[name].get(str(code), 0) + int(count)
            callers, repeat_calls = repeated[0] if repeated else (0, 0)
            out.append(
                {
                    "total": sum(by["line"].values()),
                    "by": by,
                    "repeat_callers": int(callers),
                    "repeat_calls": int(repeat_calls),
                }
            )
        return out

    async def voice(self) -> Buckets:
        """Voice calls by line and outcome, the service level (hotline.voice_levels, as the supervisor's
        panel counts it) and the queue wait of answered calls, scoped like the logged calls."""
        where = [visible_to(VoiceCall.unit_id, self.scope.unit_id), self.w.during(VoiceCall.ringing_at)]
        if self.scope.line:
            where.append(col(VoiceCall.line) == self.scope.line)
        bucket = self.w.bucket(VoiceCall.ringing_at)
        outcomes = {
            "answered": was_answered(),
            "abandoned": col(VoiceCall.outcome) == CallOutcome.ABANDONED,
            "voicemail": left_voicemail(),
            "out_of_hours": col(VoiceCall.outcome) == CallOutcome.OUT_OF_HOURS,
        }
        # One GROUP BY over the line and the seconds an answered call waited (at most a few hundred
        # groups): the outcome counts and the wait histogram from one pass over the period's calls.
        answered_wait = sql_case(
            (and_(was_answered(), col(VoiceCall.queued_at).is_not(None)), col(VoiceCall.queue_wait_seconds)),
            else_=None,
        ).label("answered_wait")
        lines = await _by_bucket(
            self.session,
            select(
                bucket,
                col(VoiceCall.line),
                answered_wait,
                func.count(),
                *(count_where(condition) for condition in outcomes.values()),
                count_where(queued_and_ended()),
                count_where(answered_in_time()),
            )
            .where(*where)
            .group_by(bucket, col(VoiceCall.line), answered_wait),
            self.n,
        )
        out: Buckets = []
        for rows in lines:
            by_line: dict[str, dict[str, int]] = {}
            wait: dict[int, int] = {}
            queued = in_time = 0
            for line, waited, total, *counts, line_queued, line_in_time in rows:
                sums = by_line.setdefault(str(line), dict.fromkeys(("total", *outcomes), 0))
                for name, count in zip(("total", *outcomes), (total, *counts), strict=True):
                    sums[name] += int(count)
                if waited is not None:
                    wait[int(waited)] = wait.get(int(waited), 0) + int(total)
                queued, in_time = queued + int(line_queued), in_time + int(line_in_time)
            totals = {name: sum(c[name] for c in by_line.values()) for name in ("total", *outcomes)}
            out.append(
                {
                    **totals,
                    "queued_ended": queued,
                    "answered_in_time": in_time,
                    "service_level_rate": _rate(in_time, queued),
                    "median_wait_seconds": median_from_histogram(wait),
                    "p90_wait_seconds": percentile_from_histogram(wait, 0.9),
                    "by_line": by_line,
                }
            )
        return out

    async def cases(self) -> Buckets:
        scope = [visible_to(ReferralCase.unit_id, self.scope.unit_id), self._case_line()]
        opened = [*scope, self.w.during(ReferralCase.created_at)]
        created = self.w.bucket(ReferralCase.created_at)
        s = self.session
        hours = await _histogram(
            s,
            self.w.bucket(ReferralCase.closed_at),
            self.w.hours_between(ReferralCase.created_at, ReferralCase.closed_at),
            select().select_from(ReferralCase).where(*scope, self.w.during(ReferralCase.closed_at)),
            self.n,
        )
        flags = await _counts(
            s,
            select(created, col(ChildFlag.flag), func.count())
            .join(ReferralCase, col(ReferralCase.id) == col(ChildFlag.case_id))
            .where(*opened)
            .group_by(created, col(ChildFlag.flag)),
            self.n,
        )
        # Status and risk of the opened cases from one GROUP BY over both.
        pairs = await _by_bucket(
            s,
            select(created, col(ReferralCase.status), col(ReferralCase.risk_level), func.count())
            .where(*opened)
            .group_by(created, col(ReferralCase.status), col(ReferralCase.risk_level)),
            self.n,
        )
        out: Buckets = []
        for number in range(self.n):
            by_status: dict[str, int] = {}
            by_risk: dict[str, int] = {}
            for status, risk, count in pairs[number]:
                by_status[str(status)] = by_status.get(str(status), 0) + int(count)
                by_risk[str(risk)] = by_risk.get(str(risk), 0) + int(count)
            out.append(
                {
                    "opened": sum(by_status.values()),
                    "closed": sum(hours[number].values()),
                    "median_hours_to_close": median_from_histogram(hours[number]),
                    "by": {"status": by_status, "risk": by_risk, "flag": flags[number]},
                }
            )
        return out

    async def referrals(self) -> Buckets:
        base = self._scoped_case_items(Referral).where(self.w.during(Referral.sent_at))
        bucket = self.w.bucket(Referral.sent_at)
        ack_hours = self.w.hours_between(Referral.sent_at, Referral.acknowledged_at)
        on_time_ack = and_(col(Referral.acknowledged_at).is_not(None), ack_hours <= ACK_ON_TIME_HOURS)
        on_time_feedback = and_(
            col(Referral.feedback_at).is_not(None), col(Referral.feedback_at) <= col(Referral.due_at)
        )
        kinds = await _by_bucket(
            self.session,
            base.join(Agency, col(Agency.id) == col(Referral.agency_id))
            .add_columns(
                bucket,
                col(Agency.kind),
                func.count(),
                func.count().filter(on_time_ack),
                func.count().filter(col(Referral.feedback_at).is_not(None)),
                func.count().filter(on_time_feedback),
            )
            .group_by(bucket, col(Agency.kind)),
            self.n,
        )
        feedback_hours = await _histogram(
            self.session,
            bucket,
            self.w.hours_between(Referral.sent_at, Referral.feedback_at),
            base.where(col(Referral.feedback_at).is_not(None)),
            self.n,
        )
        out: Buckets = []
        for rows, histogram in zip(kinds, feedback_hours, strict=True):
            by_kind = {
                str(kind): {
                    "sent": int(n),
                    "ack_on_time": int(a),
                    "feedback": int(f),
                    "feedback_on_time": int(ft),
                }
                for kind, n, a, f, ft in rows
            }
            sent = sum(k["sent"] for k in by_kind.values())
            median_hours = median_from_histogram(histogram)
            out.append(
                {
                    "sent": sent,
                    "by_kind": by_kind,
                    "ack_on_time_rate": _rate(sum(k["ack_on_time"] for k in by_kind.values()), sent),
                    "feedback_on_time_rate": _rate(
                        sum(k["feedback_on_time"] for k in by_kind.values()), sent
                    ),
                    "median_days_to_feedback": round(median_hours / 24, 1)
                    if median_hours is not None
                    else None,
                }
            )
        return out

    async def mandatory_reports(self, now: datetime) -> Buckets:
        base = self._scoped_case_items(MandatoryReport).where(self.w.during(MandatoryReport.created_at))
        bucket = self.w.bucket(MandatoryReport.created_at)
        late = or_(
            col(MandatoryReport.reported_at) > col(MandatoryReport.due_at),
            and_(
                col(MandatoryReport.status) == MandatoryReportStatus.PENDING,
                col(MandatoryReport.due_at) < now,
            ),
        )
        counts = await _by_bucket(
            self.session,
            base.add_columns(
                bucket,
                func.count(),
                func.count().filter(col(MandatoryReport.status) == MandatoryReportStatus.RECORDED),
                func.count().filter(late),
            ).group_by(bucket),
            self.n,
        )
        hours = await _histogram(
            self.session,
            bucket,
            self.w.hours_between(MandatoryReport.created_at, MandatoryReport.reported_at),
            base.where(col(MandatoryReport.reported_at).is_not(None)),
            self.n,
        )
        out: Buckets = []
        for rows, histogram in zip(counts, hours, strict=True):
            count, recorded, overdue = rows[0] if rows else (0, 0, 0)
            out.append(
                {
                    "count": int(count),
                    "recorded": int(recorded),
                    "overdue": int(overdue),
                    "median_hours_to_report": median_from_histogram(histogram),
                }
            )
        return out

    async def tasks(self) -> Buckets:
        bucket = self.w.bucket(Task.due_at)
        due = self._scoped_case_items(Task).where(
            self.w.during(Task.due_at), col(Task.status) != TaskStatus.CANCELLED
        )
        on_time = and_(col(Task.status) == TaskStatus.DONE, col(Task.done_at) <= col(Task.due_at))
        totals = await _by_bucket(
            self.session,
            due.add_columns(
                bucket,
                func.count(),
                func.count().filter(col(Task.status) == TaskStatus.DONE),
                func.count().filter(on_time),
            ).group_by(bucket),
            self.n,
        )
        done_bucket = self.w.bucket(Task.done_at)
        satisfaction = await _counts(
            self.session,
            self._scoped_case_items(Task)
            .where(
                col(Task.kind) == TaskKind.SATISFACTION,
                col(Task.status) == TaskStatus.DONE,
                self.w.during(Task.done_at),
            )
            .add_columns(done_bucket, col(Task.result), func.count())
            .group_by(done_bucket, col(Task.result)),
            self.n,
        )
        out: Buckets = []
        for rows, results in zip(totals, satisfaction, strict=True):
            total, done, done_on_time = rows[0] if rows else (0, 0, 0)
            out.append(
                {
                    "due": int(total),
                    "done": int(done),
                    "done_on_time": int(done_on_time),
                    "on_time_rate": _rate(int(done_on_time), int(total)),
                    "satisfaction": results,
                }
            )
        return out

    async def bookings(self) -> Buckets:
        where = [
            visible_to(Expert.unit_id, self.scope.unit_id),
            self.w.during(Appointment.starts_at),
            col(Appointment.status).in_([AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED]),
        ]
        bucket = self.w.bucket(Appointment.starts_at)
        # One GROUP BY over status, site, expert, mode and attendance (a few hundred combinations), each
        # breakdown summed from it.
        names = ("status", "site", "expert", "mode", "attendance")
        keys = (
            col(Appointment.status),
            col(Site.name),
            col(Expert.name),
            col(Appointment.mode),
            col(Appointment.attendance),
        )
        combined = await _by_bucket(
            self.session,
            select(bucket, *keys, func.count())
            .select_from(Appointment)
            .join(Expert, col(Expert.id) == col(Appointment.expert_id))
            .outerjoin(Site, col(Site.id) == col(Expert.site_id))
            .where(*where)
            .group_by(bucket, *keys),
            self.n,
        )
        out: Buckets = []
        for rows in combined:
            by: dict[str, dict[str, int]] = {name: {} for name in names}
            for *codes, count in rows:
                for name, code in zip(names, codes, strict=True):
                    if code is None and name != "site":
                        continue  # no attendance recorded (yet)
                    key = str(code or "—") if name == "site" else str(code)
                    by[name][key] = by[name].get(key, 0) + int(count)
            by_status, by_attendance = by.pop("status"), by["attendance"]
            recorded = sum(by_attendance.values())
            came = by_attendance.get(Attendance.ATTENDED, 0) + by_attendance.get(Attendance.LATE, 0)
            out.append(
                {
                    "total": sum(by_status.values()),
                    "cancelled": by_status.get(AppointmentStatus.CANCELLED, 0),
                    "attendance_recorded": recorded,
                    "attendance_rate": _rate(came, recorded),
                    "no_show_rate": _rate(by_attendance.get(Attendance.NO_SHOW, 0), recorded),
                    "by": by,
                }
            )
        return out

    async def sms(self) -> Buckets:
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
        by_status: list[dict[str, int]] = [{} for _ in range(self.n)]
        bucket = self.w.bucket(OutboxMessage.created_at)
        for related_type, model, scope in sources:
            query = (
                select(bucket, col(OutboxMessage.status), func.count())
                .select_from(OutboxMessage)
                .join(model, model.id == col(OutboxMessage.related_id))
                .where(
                    col(OutboxMessage.related_type) == related_type,
                    self.w.during(OutboxMessage.created_at),
                    *scope,
                )
                .group_by(bucket, col(OutboxMessage.status))
            )
            if model is Appointment:
                query = query.join(Expert, col(Expert.id) == col(Appointment.expert_id))
            for number, counts in enumerate(await _counts(self.session, query, self.n)):
                for status, count in counts.items():
                    by_status[number][status] = by_status[number].get(status, 0) + count
        out: Buckets = []
        for statuses in by_status:
            delivered = statuses.get(OutboxStatus.DELIVERED, 0)
            failed = statuses.get(OutboxStatus.FAILED, 0) + statuses.get(OutboxStatus.UNDELIVERED, 0)
            out.append(
                {
                    "total": sum(statuses.values()),
                    "sent": statuses.get(OutboxStatus.SENT, 0)
                    + delivered
                    + statuses.get(OutboxStatus.UNDELIVERED, 0),
                    "delivered": delivered,
                    "failed": failed,
                    "opted_out": statuses.get(OutboxStatus.SUPPRESSED, 0),
                    "by": {"status": statuses},
                }
            )
        return out


async def compute_periods(
    session: AsyncSession, scope: FigureScope, periods: list[Period], *, timezone: str, now: datetime
) -> list[dict[str, Any]]:
    """Every figure of `scope` for each of `periods` (JSON-ready dicts keyed by section, ALL_SECTIONS),
    the periods counted together: one statement per figure, whatever the number of periods."""
    bind = session.bind
    dialect = bind.dialect.name if bind is not None else "sqlite"
    window = _Window(tuple(p.utc_bounds(timezone) for p in periods), dialect, timezone)
    figures = _Figures(session, scope, window)
    out: list[dict[str, Any]] = [
        {"period": p.code, "start": p.start.isoformat(), "end": p.end.isoformat()} for p in periods
    ]
    sections: list[tuple[str, Any]] = []
    if "calls" in scope.sections:
        sections += [
            ("calls", figures.calls()),
            ("voice", figures.voice()),
            ("cases", figures.cases()),
            ("referrals", figures.referrals()),
            ("mandatory_reports", figures.mandatory_reports(now)),
            ("tasks", figures.tasks()),
        ]
    sections += [("bookings", figures.bookings()), ("sms", figures.sms())]
    for name, pending in sections:
        for figures_of_period, section in zip(out, await pending, strict=True):
            figures_of_period[name] = section
    return out


async def compute_figures(
    session: AsyncSession, scope: FigureScope, period: Period, *, timezone: str, now: datetime
) -> dict[str, Any]:
    """Every figure of `scope` for `period`, as JSON-ready dicts keyed by section (ALL_SECTIONS)."""
    return (await compute_periods(session, scope, [period], timezone=timezone, now=now))[0]


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
