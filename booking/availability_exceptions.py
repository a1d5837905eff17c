"""Coordinators change an expert's hours on given dates: days off, hours away, extra hours; and set the
booking rules of the expert (overrides) and of their site. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from booking.availability_models import AvailabilityException, BookingRules, ExceptionKind
from booking.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, Expert
from core.accounts import StaffUser
from core.audit import record_audit
from core.china_calendar import DayKind, day_kind, makeup_replaces
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.units import get_visible

__all__ = [
    "RULE_FIELDS",
    "CalendarDay",
    "ExceptionDraft",
    "add_exception",
    "appointments_in_absences",
    "calendar_days_ahead",
    "list_exceptions",
    "parse_exception_form",
    "parse_rules_form",
    "remove_exception",
    "rules_rows",
    "save_rules",
    "visible_expert",
]

MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class ExceptionDraft:
    kind: ExceptionKind
    first_day: date
    last_day: date
    start: time | None
    end: time | None


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0].strip()


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _clock(raw: str) -> time | None:
    try:
        return time.fromisoformat(raw)
    except ValueError:
        return None


def parse_exception_form(form: dict[str, list[str]], *, today: date) -> ExceptionDraft:
    """Check a coordinator's exception; FormInvalid names each wrong field and nothing is saved."""
    errors: dict[str, str] = {}
    kind_raw = _first(form, "kind")
    kind = ExceptionKind(kind_raw) if kind_raw in {k.value for k in ExceptionKind} else None
    if kind is None:
        errors["kind"] = N_("Choose a day off, hours away or extra hours.")
    first = _day(_first(form, "first_day"))
    last = _day(_first(form, "last_day")) if _first(form, "last_day") else first
    if first is None or last is None:
        errors["first_day"] = N_("Enter the dates as year-month-day, e.g. 2026-10-01.")
    elif last < first:
        errors["first_day"] = N_("The last day cannot be before the first day.")
    elif last < today:
        errors["first_day"] = N_("These dates have passed; a change there would change nothing.")
    elif (last - first).days >= MAX_RANGE_DAYS:
        errors["first_day"] = N_("One change covers at most a year; add another for the rest.")
    start_raw, end_raw = _first(form, "start_local"), _first(form, "end_local")
    start, end = _clock(start_raw), _clock(end_raw)
    whole_day = not start_raw and not end_raw
    if kind is ExceptionKind.EXTRA and whole_day:
        errors["hours"] = N_("Extra hours need a start and an end time.")
    elif not whole_day and (start is None or end is None or start >= end):
        errors["hours"] = N_("Enter a start time before the end time, e.g. 09:00 and 12:00.")
    if errors:
        raise FormInvalid(errors)
    assert kind is not None and first is not None and last is not None
    return ExceptionDraft(kind, first, last, None if whole_day else start, None if whole_day else end)


async def visible_expert(session: AsyncSession, expert_id: int, viewer: StaffUser) -> Expert:
    expert = await get_visible(session, Expert, expert_id, viewer.unit_id)
    if expert is None:
        raise NotFound(N_("No such expert."))
    return expert


async def list_exceptions(
    session: AsyncSession, expert_id: int, *, from_day: date
) -> list[AvailabilityException]:
    query = (
        select(AvailabilityException)
        .where(AvailabilityException.expert_id == expert_id, AvailabilityException.last_day >= from_day)
        .order_by(col(AvailabilityException.first_day), col(AvailabilityException.id))
    )
    return list((await session.exec(query)).all())


async def add_exception(
    session: AsyncSession, expert: Expert, draft: ExceptionDraft, *, actor: StaffUser, client_ip: str | None
) -> AvailabilityException:
    row = AvailabilityException(
        expert_id=expert.id or 0,
        kind=draft.kind,
        first_day=draft.first_day,
        last_day=draft.last_day,
        start_local=draft.start,
        end_local=draft.end,
        created_by_id=actor.id,
    )
    session.add(row)
    await session.flush()
    _audit(
        session, actor, "roster.exception.add", expert, client_ip, {"exception": row.id, "kind": draft.kind}
    )
    await session.commit()
    return row


async def remove_exception(
    session: AsyncSession, expert: Expert, exception_id: int, *, actor: StaffUser, client_ip: str | None
) -> None:
    row = await session.get(AvailabilityException, exception_id)
    if row is None or row.expert_id != expert.id:
        raise NotFound(N_("No such change to this expert's hours."))
    await session.delete(row)
    _audit(session, actor, "roster.exception.remove", expert, client_ip, {"exception": exception_id})
    await session.commit()


def _audit(
    session: AsyncSession,
    actor: StaffUser,
    action: str,
    expert: Expert,
    client_ip: str | None,
    detail: dict[str, object],
) -> None:
    record_audit(
        session,
        actor_id=actor.id,
        actor_label=actor.username,
        action=action,
        object_type="expert",
        object_id=expert.id or 0,
        detail=detail,
        client_ip=client_ip,
    )


async def appointments_in_absences(
    session: AsyncSession, expert_id: int, absences: list[AvailabilityException], timezone: str
) -> list[Appointment]:
    """Booked appointments that fall in a day off or hours away: an absence never cancels them, so the
    coordinator sees them here and rebooks them."""
    now = utcnow()
    rows = (
        await session.exec(
            select(Appointment)
            .where(
                Appointment.expert_id == expert_id,
                col(Appointment.status).in_(ACTIVE_STATUSES),
                Appointment.ends_at > now,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    zone = ZoneInfo(timezone)
    off = [a for a in absences if a.kind == ExceptionKind.OFF]

    def in_absence(a: Appointment) -> bool:
        start, end = a.starts_at.astimezone(zone), a.ends_at.astimezone(zone)
        for x in off:
            if x.first_day <= start.date() <= x.last_day:
                if x.start_local is None or x.end_local is None:
                    return True
                if start.time() < x.end_local and end.time() > x.start_local:
                    return True
        return False

    return [
        a
        for a in rows
        if (a.status == AppointmentStatus.CONFIRMED or (a.hold_expires_at or now) > now) and in_absence(a)
    ]


@dataclass(frozen=True)
class CalendarDay:
    day: date
    kind: DayKind
    replaces: int | None  # the weekday a make-up working day takes the hours of


def calendar_days_ahead(today: date, days: int) -> list[CalendarDay]:
    """Holidays and make-up working days in the next `days` days, for the coordinator to see."""
    found = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        kind = day_kind(day)
        if kind in (DayKind.HOLIDAY, DayKind.MAKEUP_WORKDAY):
            found.append(CalendarDay(day, kind, makeup_replaces(day)))
    return found


# ---- booking rules ---------------------------------------------------------------------------------------

# Form field -> (column, lowest, highest); blank means "inherit".
RULE_FIELDS: dict[str, tuple[str, int, int]] = {
    "min_notice_hours": ("min_notice_minutes", 0, 24 * 30),
    "window_days": ("window_days", 1, 365),
    "release_days_before": ("release_days_before", 1, 365),
    "daily_cap": ("daily_cap", 1, 50),
    "cutoff_hours": ("cutoff_hours", 0, 24 * 14),
}


def parse_rules_form(form: dict[str, list[str]]) -> dict[str, object]:
    """Column -> value (None inherits); FormInvalid names each wrong field."""
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    for field_name, (column, low, high) in RULE_FIELDS.items():
        raw = _first(form, field_name)
        if not raw:
            values[column] = None
            continue
        number = int(raw) if raw.isdigit() else None
        if number is None or not low <= number <= high:
            errors[field_name] = N_("Enter a whole number within the range shown, or leave it empty.")
            continue
        values[column] = number * 60 if field_name == "min_notice_hours" else number
    for field_name in ("release_at", "cutoff_day_before_at"):
        raw = _first(form, field_name)
        values[field_name] = _clock(raw) if raw else None
        if raw and values[field_name] is None:
            errors[field_name] = N_("Enter a time such as 18:00, or leave it empty.")
    if values.get("release_at") is not None and values.get("release_days_before") is None:
        errors["release_days_before"] = N_("Say how many days ahead slots are released at that time.")
    holidays = _first(form, "follows_holidays")
    values["follows_holidays"] = {"yes": True, "no": False}.get(holidays)
    if errors:
        raise FormInvalid(errors)
    return values


async def rules_rows(
    session: AsyncSession, expert: Expert
) -> tuple[BookingRules | None, BookingRules | None]:
    """(the site's rules, the expert's overrides), either None when not set."""
    site_row = (
        (await session.exec(select(BookingRules).where(BookingRules.site_id == expert.site_id))).first()
        if expert.site_id is not None
        else None
    )
    expert_row = (await session.exec(select(BookingRules).where(BookingRules.expert_id == expert.id))).first()
    return site_row, expert_row


async def save_rules(
    session: AsyncSession,
    expert: Expert,
    values: dict[str, object],
    *,
    for_site: bool,
    actor: StaffUser,
    client_ip: str | None,
) -> None:
    """Replace the site's rules (for every expert there) or this expert's overrides."""
    if for_site and expert.site_id is None:
        raise FormInvalid({"scope": N_("This expert has no site; set the rules for the expert instead.")})
    site_row, expert_row = await rules_rows(session, expert)
    row = site_row if for_site else expert_row
    if row is None:
        row = BookingRules(site_id=expert.site_id) if for_site else BookingRules(expert_id=expert.id)
        session.add(row)
    for column, value in values.items():
        if column == "follows_holidays" and not for_site:
            continue  # a site follows holidays or not; an expert's days off are exceptions
        setattr(row, column, value)
    row.updated_at = utcnow()
    _audit(
        session,
        actor,
        "roster.rules.site" if for_site else "roster.rules.expert",
        expert,
        client_ip,
        {k: str(v) for k, v in values.items() if v is not None},
    )
    await session.commit()
