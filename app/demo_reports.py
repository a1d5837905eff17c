"""The demo's history for reports: what the quarter of case work (app.demo_quarter, the last 90 days)
does not reach, so the dashboard and the quarterly report show every comparison at once.

- cases and calls from the start of the previous quarter up to where the demo quarter begins, and from
  the same two quarters a year before (so "previous period" and "a year before" are not empty);
- past consultations of the demo experts over the last half-year, with attendance and their SMS
  (delivered, a few failed, one opted out), written as finished rows: nothing is sent;
- the previous quarter's report signed by each unit's supervisor, and a started draft for this quarter.

Times are laid out back from the moment of seeding, with a fixed random seed, like the demo quarter."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from booking.models import Appointment, AppointmentStatus, Attendance, Expert
from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from core.units import OrgUnit
from core.vocabulary import CATEGORIES
from hotline import cipher_contexts as ctx
from hotline.case_numbers import allocate_case_number
from hotline.case_terms import RiskLevel
from hotline.models import Call, ReferralCase
from hotline.taxonomy import AGE_BANDS, CALLER_TYPES, CaseStatus, Line
from notifications.models import MessageKind, OutboxMessage, OutboxStatus
from reports.figures import FigureScope
from reports.models import ReportDraft, ReportVersion
from reports.periods import PeriodKind, current_period
from reports.quarterly import comparison

__all__ = ["HISTORY_MARK", "seed_report_history"]

SEED = 20261126
# The history cases' district field says what they are, so the demo quarter's own checks can leave them out.
HISTORY_MARK = "（往期演示）"
DEMO_QUARTER_DAYS = 90  # how far back app.demo_quarter lays its cases
_RISKS = [RiskLevel.LOW, RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.UNASSESSED]
_DRAFT = {
    "progress": "本季度热线运行平稳，接听来电并按时完成回访；转介公安、学校等机构的个案均已反馈。",
    "problems": "夜间时段人手偏紧，部分转介反馈超过约定工作日。",
    "plans": "增加夜间值班人员；与教育部门约定转介反馈时限；开展一次接线员培训。",
}


async def seed_report_history(
    session: AsyncSession,
    settings: Settings,
    *,
    units: list[OrgUnit],
    staff: dict[str, StaffUser],
    now: datetime | None = None,
) -> None:
    """Add the history above in the caller's transaction, laid out back from `now`."""
    now = now or utcnow()
    quarter_starts = now - timedelta(days=DEMO_QUARTER_DAYS)
    rng = random.Random(SEED)
    cipher = FieldCipher(settings.data_key)
    zone = ZoneInfo(settings.site_timezone)
    today = now.astimezone(zone).date()
    this_quarter = current_period(PeriodKind.QUARTER, today)
    previous = this_quarter.previous()
    previous_start = previous.utc_bounds(settings.site_timezone)[0]
    operators = [staff["operator"], staff["xihu-operator"]]
    await _cases(session, cipher, settings, rng, operators, previous_start, quarter_starts, count=18, now=now)
    year_ago = timedelta(days=365)
    await _cases(
        session, cipher, settings, rng, operators, previous_start - year_ago, now - year_ago, 40, now
    )
    await _bookings(session, cipher, rng, now)
    await session.flush()
    await _reports(session, settings, units, staff, now)


async def _cases(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    rng: random.Random,
    operators: list[StaffUser],
    start: datetime,
    end: datetime,
    count: int,
    now: datetime,
) -> None:
    span = (end - start).total_seconds()
    for _ in range(count):
        at = start + timedelta(seconds=rng.uniform(0, span))
        operator = rng.choice(operators)
        line = rng.choice([Line.YOUTH_12355, Line.FAMILY_EDUCATION])
        closed_at = at + timedelta(hours=rng.randint(6, 24 * 20))
        closed = closed_at < now and rng.random() < 0.8
        case = ReferralCase(
            number=await allocate_case_number(session, line=line, at=at, timezone=settings.site_timezone),
            line=line,
            unit_id=operator.unit_id,
            status=CaseStatus.CLOSED if closed else CaseStatus.IN_PROGRESS,
            category=rng.choice(list(CATEGORIES)),
            urgency=rng.choice(["routine", "routine", "urgent"]),
            child_age_band=rng.choice(list(AGE_BANDS)),
            created_by_id=operator.id or 0,
            owner_id=operator.id,
            created_at=at,
            updated_at=closed_at if closed else at,
            risk_level=rng.choice(_RISKS),
            child_district=HISTORY_MARK,
            outcome="resolved" if closed else None,
            closed_at=closed_at if closed else None,
        )
        session.add(case)
        await session.flush()
        phone = f"+86139{rng.randint(10_000_000, 99_999_999)}"
        for n in range(1 + (rng.random() < 0.3)):  # three in ten call again
            session.add(
                Call(
                    case_id=case.id or 0,
                    unit_id=case.unit_id,
                    line=line,
                    caller_type=rng.choice(list(CALLER_TYPES)),
                    category=case.category,
                    urgency=case.urgency,
                    summary_ciphertext=cipher.encrypt("（演示）往期来电。", context=ctx.CALL_SUMMARY),
                    caller_phone_ciphertext=cipher.encrypt(phone, context=ctx.CALL_CALLER_PHONE),
                    caller_phone_index=phone_index(cipher, phone),
                    operator_id=operator.id or 0,
                    received_at=at + timedelta(days=2 * n),
                )
            )


async def _bookings(session: AsyncSession, cipher: FieldCipher, rng: random.Random, now: datetime) -> None:
    """Past consultations, one every few days per expert at 10:00 or 15:00 Shanghai time."""
    experts = (await session.exec(select(Expert).order_by(col(Expert.id)))).all()
    for expert in experts:
        day = now - timedelta(days=200)
        # Stops a week back: the last days and the next ones belong to the expert's own page
        # (app/demo_b_expert.py), whose consultations must not meet these at one start.
        while day < now - timedelta(days=8):
            day += timedelta(days=rng.randint(2, 5))
            hour = rng.choice([2, 7])  # 10:00 or 15:00 in Shanghai, in UTC
            starts = day.replace(hour=hour, minute=0, second=0, microsecond=0)
            cancelled = rng.random() < 0.12
            attendance = (
                None
                if cancelled
                else rng.choice([Attendance.ATTENDED] * 8 + [Attendance.LATE, Attendance.NO_SHOW])
            )
            phone = f"+86138{rng.randint(10_000_000, 99_999_999)}"
            appointment = Appointment(
                expert_id=expert.id or 0,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=expert.slot_minutes),
                mode=rng.choice(expert.modes.split(",")),
                status=AppointmentStatus.CANCELLED if cancelled else AppointmentStatus.CONFIRMED,
                parent_name_ciphertext=cipher.encrypt("（演示）家长", context="appointment.parent_name"),
                parent_phone_ciphertext=cipher.encrypt(phone, context="appointment.parent_phone"),
                parent_phone_index=phone_index(cipher, phone),
                topic=rng.choice(expert.specialties.split(",")),
                ical_uid=f"{uuid.UUID(int=rng.getrandbits(128))}@family-hotline",
                created_at=starts - timedelta(days=3),
                updated_at=starts,
                confirmed_at=starts - timedelta(days=3),
                cancelled_at=starts - timedelta(days=1) if cancelled else None,
                attendance=attendance,
                attendance_recorded_at=starts + timedelta(hours=2) if attendance else None,
            )
            session.add(appointment)
            await session.flush()
            roll = rng.random()
            status = (
                OutboxStatus.DELIVERED
                if roll < 0.9
                else OutboxStatus.FAILED
                if roll < 0.97
                else OutboxStatus.SUPPRESSED
            )
            sent = starts - timedelta(days=3)
            session.add(
                OutboxMessage(
                    kind=MessageKind.BOOKING_CONFIRMED,
                    to_ciphertext=cipher.encrypt(phone, context="outbox.to"),
                    to_index=phone_index(cipher, phone),
                    body_ciphertext=cipher.encrypt("【演示】预约已确认。", context="outbox.body"),
                    status=status,
                    attempts=0 if status == OutboxStatus.SUPPRESSED else 1,
                    not_before=sent,
                    sent_at=None if status == OutboxStatus.SUPPRESSED else sent,
                    related_type="appointment",
                    related_id=appointment.id,
                    created_at=sent,
                    updated_at=sent,
                )
            )


async def _reports(
    session: AsyncSession,
    settings: Settings,
    units: list[OrgUnit],
    staff: dict[str, StaffUser],
    now: datetime,
) -> None:
    """Last quarter signed by each unit's supervisor, with its figures; this quarter's text begun."""
    today = now.astimezone(ZoneInfo(settings.site_timezone)).date()
    this_quarter = current_period(PeriodKind.QUARTER, today)
    previous = this_quarter.previous()
    for unit, signer in ((units[0], staff["supervisor"]), (units[1], staff["xihu-supervisor"])):
        assert unit.id is not None
        figures = await comparison(
            session, FigureScope(unit_id=unit.id), previous, timezone=settings.site_timezone, now=now
        )
        session.add(
            ReportVersion(
                unit_id=unit.id,
                unit_name=unit.name,
                period=previous.code,
                version=1,
                figures_json=json.dumps(figures, ensure_ascii=False, sort_keys=True),
                progress=_DRAFT["progress"],
                problems=_DRAFT["problems"],
                plans=_DRAFT["plans"],
                signed_by_id=signer.id or 0,
                signed_by_name=signer.display_name,
                signed_at=now - timedelta(days=(today - previous.report_due()).days),
            )
        )
        session.add(
            ReportDraft(
                unit_id=unit.id,
                period=this_quarter.code,
                progress=_DRAFT["progress"],
                updated_by_id=signer.id,
                updated_at=now,
            )
        )
