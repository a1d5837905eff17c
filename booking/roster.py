"""The expert roster kept by coordinators: experts, their sites, ways of meeting and weekly hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from litestar.exceptions import PermissionDeniedException
from sqlmodel import col, select

from booking.feed_links import issue_expert_feed
from booking.models import ACTIVE_STATUSES, Appointment, AppointmentStatus, AvailabilityRule, Expert, Site
from core.accounts import Role, StaffUser
from core.audit import record_audit
from core.db import MAX_ROW_ID, AsyncSession, get_by_outside_id, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher, mask_name, mask_phone
from core.units import OrgUnit, get_visible, visible_to
from core.vocabulary import CATEGORIES, MODES

__all__ = [
    "WEEKDAYS",
    "ExpertDraft",
    "ExpertSchedule",
    "RosterAppointment",
    "booking_areas",
    "check_links",
    "create_expert",
    "expert_linked_to",
    "expert_schedule",
    "list_experts",
    "load_expert",
    "parse_expert_form",
    "regenerate_feed_token",
    "site_for_draft",
    "site_of",
    "sites",
    "unlinked_expert_accounts",
    "upcoming_appointments",
]

WEEKDAYS: dict[int, str] = {
    0: N_("Monday"),
    1: N_("Tuesday"),
    2: N_("Wednesday"),
    3: N_("Thursday"),
    4: N_("Friday"),
    5: N_("Saturday"),
    6: N_("Sunday"),
}


async def site_of(session: AsyncSession, expert: Expert | None) -> Site | None:
    """Where the expert meets parents in person, if anywhere."""
    return await session.get(Site, expert.site_id) if expert and expert.site_id else None


async def load_expert(
    session: AsyncSession, expert_id: int, *, viewer_unit_id: int | None = None, for_booking: bool = False
) -> Expert:
    """An expert who takes bookings; anything else is "not found" to a parent or client. Staff pass
    their unit: an expert of another unit is not found either. (Parents' pages are unit-agnostic.)

    `for_booking`: the caller is about to add a booking. PostgreSQL reads the row FOR SHARE, so a
    coordinator's deactivation waits for the booking's transaction, and a booking after it sees the
    expert inactive: no new booking slips in beside a deactivation. (SQLite serialises writers anyway.)"""
    expert: Expert | None = None
    if not for_booking:
        if viewer_unit_id is None:
            expert = await get_by_outside_id(session, Expert, expert_id)
        else:
            expert = await get_visible(session, Expert, expert_id, viewer_unit_id)
    elif 0 < expert_id <= MAX_ROW_ID:
        query = select(Expert).where(col(Expert.id) == expert_id).with_for_update(read=True)
        expert = (await session.exec(query.execution_options(populate_existing=True))).first()
    if expert is None:
        raise NotFound(N_("This expert is not taking bookings."))
    if not expert.active:
        raise NotFound(N_("This expert is not taking new bookings. Please choose another expert."))
    return expert


@dataclass
class ExpertDraft:
    """A validated new expert, ready to save."""

    name: str
    title: str
    specialties: list[str]
    modes: list[str]
    slot_minutes: int
    buffer_minutes: int
    site_id: int | None = None
    new_site_name: str = ""
    new_site_address: str = ""
    user_id: int | None = None
    rules: list[tuple[int, time, time]] = field(default_factory=list)
    bio: str = ""


def _first(form: dict[str, list[str]], key: str) -> str:
    values = form.get(key) or [""]
    return values[0].strip()


def _minutes(raw: str, low: int, high: int) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _clock(raw: str) -> time | None:
    try:
        return time.fromisoformat(raw.strip())
    except ValueError:
        return None


def parse_expert_form(form: dict[str, list[str]]) -> ExpertDraft:
    """Check everything a coordinator typed; FormInvalid names each wrong field, nothing is half-saved."""
    errors: dict[str, str] = {}
    name = " ".join(_first(form, "name").split())
    if not name or len(name) > 60:
        errors["name"] = N_("Enter the expert's name (at most 60 characters).")
    title = _first(form, "title")
    if len(title) > 120:
        errors["title"] = N_("The title can have at most 120 characters.")
    bio = "\n".join(line.rstrip() for line in _first(form, "bio").splitlines())
    if len(bio) > 2000:
        errors["bio"] = N_("The introduction can have at most 2000 characters.")
    specialties = [s for s in form.get("specialties", []) if s]
    if not specialties or any(s not in CATEGORIES for s in specialties):
        errors["specialties"] = N_("Tick at least one specialty.")
    modes = [m for m in form.get("modes", []) if m]
    if not modes or any(m not in MODES for m in modes):
        errors["modes"] = N_("Tick at least one way of meeting parents.")
    slot = _minutes(_first(form, "slot_minutes"), 15, 240)
    if slot is None:
        errors["slot_minutes"] = N_("A consultation lasts between 15 and 240 minutes.")
    buffer = _minutes(_first(form, "buffer_minutes") or "0", 0, 120)
    if buffer is None:
        errors["buffer_minutes"] = N_("The break between consultations is 0 to 120 minutes.")

    site_choice = _first(form, "site_id")
    new_site_name = _first(form, "new_site_name")
    site_id: int | None = None
    if site_choice == "new" or (not site_choice and new_site_name):
        if not new_site_name or len(new_site_name) > 120:
            errors["site"] = N_("Enter the name of the new site (at most 120 characters).")
    elif site_choice:
        site_id = int(site_choice) if site_choice.isdigit() else None
        if site_id is None:
            errors["site"] = N_("Choose a site from the list or enter a new one.")
    elif "in_person" in modes:
        errors["site"] = N_("In-person consultations need a site.")

    user_choice = _first(form, "user_id")
    user_id = int(user_choice) if user_choice.isdigit() else None

    rules: list[tuple[int, time, time]] = []
    weekdays, starts, ends = (
        form.get("rule_weekday", []),
        form.get("rule_start", []),
        form.get("rule_end", []),
    )
    for weekday_raw, start_raw, end_raw in zip(weekdays, starts, ends, strict=False):
        if not start_raw.strip() and not end_raw.strip():
            continue  # an empty row of the form
        start, end = _clock(start_raw), _clock(end_raw)
        weekday = int(weekday_raw) if weekday_raw.isdigit() and int(weekday_raw) in WEEKDAYS else None
        if weekday is None or start is None or end is None or start >= end:
            errors["rules"] = N_("Each opening hour needs a weekday and a start before its end.")
            break
        rules.append((weekday, start, end))
    if not rules and "rules" not in errors:
        errors["rules"] = N_("Add at least one weekly opening hour.")
    for i, (day_a, start_a, end_a) in enumerate(rules):
        for day_b, start_b, end_b in rules[i + 1 :]:
            if day_a == day_b and start_a < end_b and start_b < end_a:
                errors["rules"] = N_("Two opening hours on the same weekday overlap.")

    if errors:
        raise FormInvalid(errors)
    assert slot is not None and buffer is not None
    return ExpertDraft(
        name=name,
        title=title,
        specialties=specialties,
        modes=modes,
        slot_minutes=slot,
        buffer_minutes=buffer,
        site_id=site_id,
        new_site_name=new_site_name if site_id is None else "",
        new_site_address=_first(form, "new_site_address")[:300],
        user_id=user_id,
        rules=rules,
        bio=bio,
    )


async def check_links(
    session: AsyncSession, draft: ExpertDraft, *, unit_id: int, expert_id: int | None = None
) -> None:
    """The draft's site and staff account lie in the scope of `unit_id`, and the account has the expert
    role and is no other expert's; FormInvalid otherwise."""
    if draft.site_id is not None and await get_visible(session, Site, draft.site_id, unit_id) is None:
        raise FormInvalid({"site": N_("Choose a site from the list or enter a new one.")})
    if draft.user_id is not None:
        user = await get_visible(session, StaffUser, draft.user_id, unit_id)
        linked = await expert_linked_to(session, draft.user_id)
        if user is None or user.role != Role.EXPERT.value or (linked is not None and linked.id != expert_id):
            raise FormInvalid({"user_id": N_("Link only a staff account with the expert role.")})


async def site_for_draft(session: AsyncSession, draft: ExpertDraft, *, unit_id: int) -> int | None:
    """The chosen site's id, or the id of the new site the draft names (added to `unit_id`)."""
    if draft.site_id is not None or not draft.new_site_name:
        return draft.site_id
    site = Site(unit_id=unit_id, name=draft.new_site_name, address=draft.new_site_address)
    session.add(site)
    await session.flush()
    return site.id


async def create_expert(
    session: AsyncSession, cipher: FieldCipher, draft: ExpertDraft, *, unit_id: int
) -> Expert:
    """Save the expert (of `unit_id`, the coordinator's unit), a new site if named, and the weekly rules
    in one transaction. A site or linked account from outside the unit's scope is refused."""
    await check_links(session, draft, unit_id=unit_id)
    site_id = await site_for_draft(session, draft, unit_id=unit_id)
    expert = Expert(
        unit_id=unit_id,
        name=draft.name,
        title=draft.title,
        bio=draft.bio,
        specialties=",".join(draft.specialties),
        modes=",".join(draft.modes),
        site_id=site_id,
        slot_minutes=draft.slot_minutes,
        buffer_minutes=draft.buffer_minutes,
        user_id=draft.user_id,
    )
    issue_expert_feed(cipher, expert)
    session.add(expert)
    await session.flush()
    for weekday, start, end in draft.rules:
        session.add(
            AvailabilityRule(expert_id=expert.id or 0, weekday=weekday, start_local=start, end_local=end)
        )
    await session.commit()
    return expert


async def regenerate_feed_token(
    session: AsyncSession, cipher: FieldCipher, expert_id: int, *, viewer_unit_id: int
) -> Expert:
    """A new secret feed URL; the old one stops working at once (e.g. after a lost phone)."""
    expert = await get_visible(session, Expert, expert_id, viewer_unit_id)
    if expert is None:
        raise NotFound(N_("No such expert."))
    issue_expert_feed(cipher, expert)
    await session.commit()
    return expert


async def list_experts(
    session: AsyncSession, *, active_only: bool = False, viewer_unit_id: int | None = None
) -> list[tuple[Expert, Site | None]]:
    """Experts with their sites, by name: every unit's for parents (None), the viewer's unit and below
    for staff."""
    query = (
        select(Expert, Site)
        .join(Site, col(Expert.site_id) == Site.id, isouter=True)
        .order_by(col(Expert.name))
    )
    if active_only:
        query = query.where(col(Expert.active).is_(True))
    if viewer_unit_id is not None:
        query = query.where(visible_to(Expert.unit_id, viewer_unit_id))
    return [(expert, site) for expert, site in (await session.exec(query)).all()]


async def booking_areas(session: AsyncSession) -> list[OrgUnit]:
    """Units a parent can narrow the expert list to: those with an active expert in them or below them
    (a city above its districts), in tree order."""
    staffed = select(OrgUnit.path).join(Expert, col(Expert.unit_id) == OrgUnit.id).where(col(Expert.active))
    paths = set((await session.exec(staffed)).all())
    units = (await session.exec(select(OrgUnit).where(col(OrgUnit.active)).order_by(col(OrgUnit.path)))).all()
    return [unit for unit in units if any(path.startswith(unit.path) for path in paths)]


async def expert_linked_to(session: AsyncSession, user_id: int) -> Expert | None:
    return (await session.exec(select(Expert).where(Expert.user_id == user_id))).first()


async def sites(session: AsyncSession, *, viewer_unit_id: int) -> list[Site]:
    query = select(Site).where(visible_to(Site.unit_id, viewer_unit_id)).order_by(col(Site.name))
    return list((await session.exec(query)).all())


async def unlinked_expert_accounts(session: AsyncSession, *, viewer_unit_id: int) -> list[StaffUser]:
    linked = select(Expert.user_id).where(col(Expert.user_id).is_not(None))
    query = select(StaffUser).where(
        visible_to(StaffUser.unit_id, viewer_unit_id),
        StaffUser.role == Role.EXPERT.value,
        col(StaffUser.id).not_in(linked),
        col(StaffUser.is_active).is_(True),
    )
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class RosterAppointment:
    """One line of an expert's schedule as staff see it: masked by default."""

    id: int
    starts_at: datetime
    ends_at: datetime
    mode: str
    status: str
    topic: str
    parent_name: str
    parent_phone: str
    notes: str | None


async def upcoming_appointments(
    session: AsyncSession,
    cipher: FieldCipher,
    expert_id: int,
    *,
    with_notes: bool,
    now: datetime | None = None,
) -> list[RosterAppointment]:
    """Confirmed and held bookings from now on. Notes are decrypted only for the expert's own view."""
    now = now or utcnow()
    rows = (
        await session.exec(
            select(Appointment)
            .where(
                Appointment.expert_id == expert_id,
                col(Appointment.status).in_(ACTIVE_STATUSES),
                Appointment.ends_at >= now,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    return [
        RosterAppointment(
            id=a.id or 0,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            mode=a.mode,
            status=a.status,
            topic=a.topic,
            parent_name=mask_name(
                cipher.decrypt(a.parent_name_ciphertext, context="appointment.parent_name")
            ),
            parent_phone=mask_phone(
                cipher.decrypt(a.parent_phone_ciphertext, context="appointment.parent_phone")
            ),
            notes=cipher.decrypt_optional(a.notes_ciphertext, context="appointment.notes")
            if with_notes
            else None,
        )
        for a in rows
        if a.status == AppointmentStatus.CONFIRMED
        or (a.hold_expires_at is not None and a.hold_expires_at > now)
    ]


@dataclass(frozen=True)
class ExpertSchedule:
    expert: Expert
    site: Site | None
    appointments: list[RosterAppointment]
    own: bool  # the viewer is this expert: read-only page, with the parents' intake notes


async def expert_schedule(
    session: AsyncSession, cipher: FieldCipher, viewer: StaffUser, expert_id: int, *, client_ip: str | None
) -> ExpertSchedule:
    """An expert's page. Experts may open only their own, staff those of their unit and below; every
    opening is written to the audit log."""
    expert = await get_visible(session, Expert, expert_id, viewer.unit_id)
    if expert is None:
        raise NotFound(N_("No such expert."))
    own = viewer.role == Role.EXPERT.value
    if own and expert.user_id != viewer.id:
        raise PermissionDeniedException(N_("Your role does not allow this page."))
    site = await site_of(session, expert)
    # Never intake notes here: an expert reads them on /expert, one audited read per consultation.
    rows = await upcoming_appointments(session, cipher, expert_id, with_notes=False)
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.schedule.read",
        object_type="expert",
        object_id=expert_id,
        detail={"appointments": len(rows)},
        client_ip=client_ip,
    )
    await session.commit()
    return ExpertSchedule(expert=expert, site=site, appointments=rows, own=own)
