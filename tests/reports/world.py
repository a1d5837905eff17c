"""A small world whose figures can be counted by hand: a city (the top unit) with district A (and a centre
A1 below it) and a sibling district B. Times are given in Shanghai local time and stored in UTC, several
of them a few minutes either side of a quarter's boundary.

Expected for A and below, 2026-Q3 (1 July – 30 September, local):
- calls: 3 (case 1 twice from one phone, case 2 once) — 2 on line 12355, 1 on family_edu;
  1 repeat caller with 2 calls; previous quarter 1 call; same quarter 2025: 2 calls.
- cases: 2 opened (1 high risk, 1 unassessed), 1 closed after 10 hours; flags: out_of_school 1.
- referral: 1 to the police, acknowledged after 5 h, feedback after 48 h, on time.
- mandatory report: 1, reported after 6 h, not late.
- tasks due: 2, 1 done on time; satisfaction: 1 satisfied.
- bookings: 3 (1 cancelled); attendance recorded 2: 1 attended, 1 no-show; modes: phone 2, video 1.
- SMS: 3 about its appointments: 1 delivered, 1 failed, 1 suppressed (opted out).
Sibling B has one of everything in the same quarter, which must never be counted for A.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from booking.models import Appointment, Expert, Site
from core.accounts import StaffUser
from core.db import create_sessionmaker
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from hotline.casework_models import Agency, ChildFlag, MandatoryReport, Referral, Task
from hotline.models import Call, ReferralCase
from notifications.models import OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(text: str) -> datetime:
    """'2026-07-01 00:30' in Shanghai, as an aware UTC time."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class World:
    a: int
    a1: int
    b: int


async def units(engine: AsyncEngine) -> World:
    async with create_sessionmaker(engine)() as s:
        a = await create_unit(
            s, name="A区", kind=UnitKind.GUIDANCE_CENTRE, region_code="330106", parent_id=DEFAULT_UNIT_ID
        )
        b = await create_unit(
            s, name="B区", kind=UnitKind.GUIDANCE_CENTRE, region_code="330105", parent_id=DEFAULT_UNIT_ID
        )
        a1 = await create_unit(
            s, name="A1中心", kind=UnitKind.GUIDANCE_CENTRE, region_code="330106", parent_id=a.id
        )
        await s.commit()
        assert a.id and a1.id and b.id
        return World(a=a.id, a1=a1.id, b=b.id)


class Seeder:
    def __init__(self, engine: AsyncEngine, staff: StaffUser) -> None:
        self.engine = engine
        self.staff_id = staff.id or 0
        self.rows: list[object] = []

    def case(
        self,
        unit: int,
        at: datetime,
        *,
        line: str = "12355",
        risk: str = "unassessed",
        closed_after_h: int | None = None,
    ) -> ReferralCase:
        case = ReferralCase(
            number=f"T-{secrets.token_hex(5)}",
            line=line,
            unit_id=unit,
            category="violence",
            urgency="urgent",
            child_age_band="6-11",
            created_by_id=self.staff_id,
            created_at=at,
            risk_level=risk,
            status="closed" if closed_after_h is not None else "accepted",
            closed_at=at + timedelta(hours=closed_after_h) if closed_after_h is not None else None,
        )
        self.rows.append(case)
        return case

    def call(self, case: ReferralCase, at: datetime, phone: str | None = None) -> None:
        self.rows.append(
            Call(
                case_id=case.id,
                unit_id=case.unit_id,
                line=case.line,
                caller_type="parent",
                category=case.category,
                urgency=case.urgency,
                summary_ciphertext="x",
                caller_phone_index=phone,
                operator_id=self.staff_id,
                received_at=at,
            )
        )

    async def flush(self) -> None:
        async with create_sessionmaker(self.engine)() as s:
            for row in self.rows:
                s.add(row)
                await s.flush()
            await s.commit()
        self.rows = []


async def seed(engine: AsyncEngine, staff: StaffUser, w: World) -> dict[str, int]:
    """The rows above; returns a few ids the tests name."""
    sd = Seeder(engine, staff)
    c1 = sd.case(w.a, local("2026-07-01 00:30"), risk="high", closed_after_h=10)
    c2 = sd.case(w.a1, local("2026-09-30 23:30"), line="family_edu")
    c3 = sd.case(w.a, local("2026-10-01 00:30"))  # Q4: after the boundary
    c_prev = sd.case(w.a, local("2026-05-10 10:00"))
    c_last_year = sd.case(w.a, local("2025-08-10 10:00"))
    cb = sd.case(w.b, local("2026-08-01 10:00"), risk="high", closed_after_h=1)
    await sd.flush()
    sd.call(c1, local("2026-07-01 00:30"), phone="p1")
    sd.call(c1, local("2026-07-03 09:00"), phone="p1")
    sd.call(c2, local("2026-09-30 23:30"), phone="p2")
    sd.call(c3, local("2026-10-01 00:30"), phone="p2")
    sd.call(c_prev, local("2026-05-10 10:00"))
    sd.call(c_last_year, local("2025-08-10 10:00"))
    sd.call(c_last_year, local("2025-08-11 10:00"))
    sd.call(cb, local("2026-08-01 10:00"), phone="p1")
    sd.call(cb, local("2026-08-02 10:00"), phone="p1")
    police = Agency(unit_id=w.a, name="派出所", kind="police")
    police_b = Agency(unit_id=w.b, name="B派出所", kind="police")
    sd.rows += [ChildFlag(case_id=c1.id, flag="out_of_school"), ChildFlag(case_id=cb.id, flag="unsupervised")]
    sd.rows += [police, police_b]
    await sd.flush()
    sent = local("2026-07-02 10:00")
    for case, agency in ((c1, police), (cb, police_b)):
        sd.rows.append(
            Referral(
                case_id=case.id,
                unit_id=case.unit_id,
                agency_id=agency.id,
                status="feedback",
                urgency="urgent",
                reason_ciphertext="x",
                request_ciphertext="x",
                token_hash=secrets.token_hex(32),
                sent_by_id=sd.staff_id,
                sent_at=sent,
                due_on=(sent + timedelta(days=7)).date(),
                due_at=sent + timedelta(days=7),
                acknowledged_at=sent + timedelta(hours=5),
                feedback_at=sent + timedelta(hours=48),
            )
        )
        sd.rows.append(
            MandatoryReport(
                case_id=case.id,
                unit_id=case.unit_id,
                status="recorded",
                trigger="category:violence",
                created_at=case.created_at,
                due_at=case.created_at + timedelta(hours=24),
                reported_at=case.created_at + timedelta(hours=6),
            )
        )
    due = local("2026-08-10 12:00")
    sd.rows += [
        Task(
            case_id=c1.id,
            unit_id=w.a,
            kind="callback",
            title="t",
            due_at=due,
            status="done",
            done_at=due - timedelta(hours=1),
        ),
        Task(
            case_id=c1.id,
            unit_id=w.a,
            kind="callback",
            title="t",
            due_at=due,
            status="done",
            done_at=due + timedelta(hours=1),
        ),
        Task(
            case_id=c1.id,
            unit_id=w.a,
            kind="satisfaction",
            title="t",
            due_at=local("2026-10-20 12:00"),
            status="done",
            done_at=local("2026-09-01 12:00"),
            result="satisfied",
        ),
        Task(case_id=cb.id, unit_id=w.b, kind="callback", title="t", due_at=due, status="done", done_at=due),
    ]
    site = Site(name="A咨询室", unit_id=w.a)
    site_b = Site(name="B咨询室", unit_id=w.b)
    sd.rows += [site, site_b]
    await sd.flush()
    expert = Expert(name="王老师", unit_id=w.a1, site_id=site.id)
    expert_b = Expert(name="李老师", unit_id=w.b, site_id=site_b.id)
    sd.rows += [expert, expert_b]
    await sd.flush()
    appointments = []
    for n, (exp, status, mode, attendance) in enumerate(
        [
            (expert, "confirmed", "phone", "attended"),
            (expert, "confirmed", "phone", "no_show"),
            (expert, "cancelled", "video", None),
            (expert_b, "confirmed", "phone", "attended"),
        ]
    ):
        start = local(f"2026-08-{10 + n} 10:00")
        appointment = Appointment(
            expert_id=exp.id,
            starts_at=start,
            ends_at=start + timedelta(minutes=50),
            mode=mode,
            status=status,
            parent_name_ciphertext="x",
            parent_phone_ciphertext="x",
            parent_phone_index=f"pp{n}",
            ical_uid=secrets.token_hex(10),
            attendance=attendance,
        )
        appointments.append(appointment)
        sd.rows.append(appointment)
    await sd.flush()
    for appointment, status in zip(
        appointments, ["delivered", "failed", "suppressed", "delivered"], strict=True
    ):
        sd.rows.append(
            OutboxMessage(
                kind="booking_confirmed",
                to_ciphertext="x",
                to_index="i",
                body_ciphertext="x",
                status=status,
                related_type="appointment",
                related_id=appointment.id,
                created_at=appointment.starts_at - timedelta(days=1),
            )
        )
    await sd.flush()
    return {"c1": c1.id or 0, "cb": cb.id or 0}
