"""The coordinator's day: every booking of the viewer's unit scope for a day or a week, by site, expert
and mode, with filters and each booking's status, and the day sheet reception prints.

Parents' names are masked; a coordinator who must greet someone by name reveals one row, which is its own
audited act (`appointment.name_reveal`), as unmasking a caller's number is on the case page.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_
from sqlmodel import col, select

from booking.expert_desk import ATTENDANCE_LABELS
from booking.models import Appointment, AppointmentStatus, Expert, Site
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.privacy import FieldCipher, mask_name, mask_phone
from core.units import visible_to
from core.vocabulary import MODES

__all__ = [
    "DAY_STATUSES",
    "DayFilters",
    "DayOverview",
    "OverviewRow",
    "bookings_overview",
    "parse_filters",
    "reveal_name",
]

# What a row of the day says, in this order on the filter: the booking's state, or once the session is
# past and recorded, what happened (booking.models.Attendance).
DAY_STATUSES: dict[str, str] = {
    AppointmentStatus.CONFIRMED: N_("Confirmed"),
    AppointmentStatus.HELD: N_("Waiting for the SMS code"),
    AppointmentStatus.CANCELLED: N_("Cancelled"),
    **ATTENDANCE_LABELS,
}
SPANS = ("day", "week")


@dataclass(frozen=True)
class DayFilters:
    day: date
    span: str = "day"  # "day" or "week" (seven days from `day`)
    site_id: int | None = None
    expert_id: int | None = None
    mode: str | None = None
    status: str | None = None

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for links and the reveal form)."""
        values = {
            "day": self.day.isoformat(),
            "span": self.span,
            "site": str(self.site_id or ""),
            "expert": str(self.expert_id or ""),
            "mode": self.mode or "",
            "status": self.status or "",
        }
        return {k: v for k, v in values.items() if v}


def _int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 2**31 else None


def parse_filters(
    *,
    day: str | None,
    span: str | None,
    site: str | None,
    expert: str | None,
    mode: str | None,
    status: str | None,
    timezone: str,
    now: datetime | None = None,
) -> DayFilters:
    """Lenient, as filters should be: an unknown value means "no filter", a bad date means today."""
    today = (now or utcnow()).astimezone(ZoneInfo(timezone)).date()
    try:
        chosen = date.fromisoformat(day) if day else today
    except ValueError:
        chosen = today
    return DayFilters(
        day=chosen,
        span=span if span in SPANS else "day",
        site_id=_int_or_none(site),
        expert_id=_int_or_none(expert),
        mode=mode if mode in MODES else None,
        status=status if status in DAY_STATUSES else None,
    )


@dataclass(frozen=True)
class OverviewRow:
    id: int
    starts_at: datetime
    ends_at: datetime
    expert_id: int
    expert_name: str
    site_name: str
    mode: str
    topic: str
    status: str  # a key of DAY_STATUSES
    parent_name: str  # masked, unless this row was revealed
    parent_phone: str  # always masked
    revealed: bool
    from_case: bool
    can_move: bool  # confirmed and not yet begun


@dataclass(frozen=True)
class DayOverview:
    filters: DayFilters
    starts: datetime
    ends: datetime
    rows: list[OverviewRow]
    experts: list[Expert]  # for the filter
    sites: list[Site]
    by_site: list[tuple[str, int]] = field(default_factory=list)
    by_expert: list[tuple[str, int]] = field(default_factory=list)
    by_mode: list[tuple[str, int]] = field(default_factory=list)
    by_status: list[tuple[str, int]] = field(default_factory=list)


def status_of(appointment: Appointment) -> str:
    return appointment.attendance or appointment.status


def _window(filters: DayFilters, timezone: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    start = datetime.combine(filters.day, time(0), tzinfo=zone)
    days = 7 if filters.span == "week" else 1
    # Asia/Shanghai keeps no daylight saving, so a local day is 24 hours; adding days to the local
    # midnight and converting keeps that true wherever the site's zone would not.
    end = datetime.combine(filters.day + timedelta(days=days), time(0), tzinfo=zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


async def bookings_overview(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    filters: DayFilters,
    *,
    timezone: str,
    revealed_id: int | None = None,
    now: datetime | None = None,
) -> DayOverview:
    """Bookings of the viewer's unit and below in the chosen window, soonest first. Holds that expired
    are left out (nobody is coming); cancelled ones stay, so reception knows not to wait."""
    now = now or utcnow()
    starts, ends = _window(filters, timezone)
    query = (
        select(Appointment, Expert, Site)
        .join(Expert, col(Expert.id) == Appointment.expert_id)
        .join(Site, col(Site.id) == Expert.site_id, isouter=True)
        .where(
            visible_to(Expert.unit_id, viewer.unit_id),
            col(Appointment.starts_at) >= starts,
            col(Appointment.starts_at) < ends,
            col(Appointment.status).in_(
                (AppointmentStatus.HELD, AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED)
            ),
            or_(col(Appointment.status) != AppointmentStatus.HELD, col(Appointment.hold_expires_at) > now),
        )
        .order_by(col(Appointment.starts_at), col(Expert.name))
    )
    if filters.site_id is not None:
        query = query.where(Expert.site_id == filters.site_id)
    if filters.expert_id is not None:
        query = query.where(Appointment.expert_id == filters.expert_id)
    if filters.mode is not None:
        query = query.where(Appointment.mode == filters.mode)
    rows: list[OverviewRow] = []
    for appointment, expert, site in (await session.exec(query)).all():
        status = status_of(appointment)
        if filters.status is not None and status != filters.status:
            continue
        name = cipher.decrypt(appointment.parent_name_ciphertext, context="appointment.parent_name")
        phone = cipher.decrypt(appointment.parent_phone_ciphertext, context="appointment.parent_phone")
        revealed = appointment.id == revealed_id
        rows.append(
            OverviewRow(
                id=appointment.id or 0,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                expert_id=expert.id or 0,
                expert_name=expert.name,
                site_name=site.name if site else "",
                mode=appointment.mode,
                topic=appointment.topic,
                status=status,
                parent_name=name if revealed else mask_name(name),
                parent_phone=mask_phone(phone),
                revealed=revealed,
                from_case=appointment.case_id is not None,
                can_move=appointment.status == AppointmentStatus.CONFIRMED and appointment.starts_at > now,
            )
        )
    experts = list(
        (
            await session.exec(
                select(Expert).where(visible_to(Expert.unit_id, viewer.unit_id)).order_by(col(Expert.name))
            )
        ).all()
    )
    sites = list(
        (
            await session.exec(
                select(Site).where(visible_to(Site.unit_id, viewer.unit_id)).order_by(col(Site.name))
            )
        ).all()
    )
    return DayOverview(
        filters=filters,
        starts=starts,
        ends=ends,
        rows=rows,
        experts=experts,
        sites=sites,
        by_site=sorted(Counter(r.site_name for r in rows).items()),
        by_expert=sorted(Counter(r.expert_name for r in rows).items()),
        by_mode=sorted(Counter(r.mode for r in rows).items()),
        by_status=[(s, n) for s in DAY_STATUSES if (n := sum(1 for r in rows if r.status == s))],
    )


async def reveal_name(
    session: AsyncSession, viewer: StaffUser, appointment_id: int, *, client_ip: str | None
) -> int | None:
    """Audit the reveal of one parent's name; the id when it is a booking the viewer may see, else None
    (nothing is written then, and the page shows every name masked)."""
    found = (
        await session.exec(
            select(Appointment.id)
            .join(Expert, col(Expert.id) == Appointment.expert_id)
            .where(Appointment.id == appointment_id, visible_to(Expert.unit_id, viewer.unit_id))
        )
    ).first()
    if found is None:
        return None
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="appointment.name_reveal",
        object_type="appointment",
        object_id=appointment_id,
        client_ip=client_ip,
    )
    await session.commit()
    return found
