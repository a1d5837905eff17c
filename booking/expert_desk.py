"""The expert's own page: their schedule, each consultation's intake, and after the session what
happened (attendance) and their session notes; their calendar feed and its rotation.

Who reads what, and each read is in the audit log:
- a consultation's intake notes (what the parent wrote when booking) and its case number: only the
  expert it is booked with (`appointment.intake_read`);
- session notes (encrypted): the expert who wrote them and supervisors of the expert's unit or above
  (`appointment.session_notes_read`); never coordinators, administrators or another expert.
Another expert's consultation is "not found", as a sibling unit's rows are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import column, table, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from booking.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentMove,
    AppointmentStatus,
    Attendance,
    Expert,
    Site,
)
from booking.roster import expert_linked_to, regenerate_feed_token, site_of
from core.accounts import Role, StaffUser
from core.audit import record_audit
from core.db import AsyncSession, get_by_outside_id, utcnow
from core.errors import Conflict, FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher, mask_name
from core.units import get_visible

__all__ = [
    "ATTENDANCE_LABELS",
    "SESSION_NOTES_CONTEXT",
    "DeskAppointment",
    "ExpertDesk",
    "SessionView",
    "expert_desk",
    "open_appointment",
    "record_attendance",
    "rotate_own_feed",
    "save_session_notes",
]

SESSION_NOTES_CONTEXT = "appointment.session_notes"  # associated data of the encrypted notes
SESSION_NOTES_MAX = 4000
PAST_SHOWN = timedelta(days=30)  # past consultations listed to record, newest first

ATTENDANCE_LABELS: dict[str, str] = {
    Attendance.ATTENDED: N_("Attended"),
    Attendance.LATE: N_("Came late"),
    Attendance.NO_SHOW: N_("No-show"),
    Attendance.CANCELLED_LATE: N_("Cancelled late"),
}

# hotline's case table, named here only to print a case number: booking imports nothing of hotline.
_CASES = table("referral_case", column("id"), column("number"))


@dataclass(frozen=True)
class DeskAppointment:
    id: int
    starts_at: datetime
    ends_at: datetime
    mode: str
    topic: str
    status: str
    attendance: str | None
    parent_name: str  # masked: the page is on an expert's screen, maybe in a shared room
    has_session_notes: bool


@dataclass(frozen=True)
class ExpertDesk:
    expert: Expert
    site: Site | None
    upcoming: list[DeskAppointment]
    to_record: list[DeskAppointment]  # past, confirmed, nothing recorded yet
    recorded: list[DeskAppointment]  # past, recorded


def _desk_row(a: Appointment, cipher: FieldCipher) -> DeskAppointment:
    return DeskAppointment(
        id=a.id or 0,
        starts_at=a.starts_at,
        ends_at=a.ends_at,
        mode=a.mode,
        topic=a.topic,
        status=a.status,
        attendance=a.attendance,
        parent_name=mask_name(cipher.decrypt(a.parent_name_ciphertext, context="appointment.parent_name")),
        has_session_notes=a.session_notes_ciphertext is not None,
    )


async def own_expert(session: AsyncSession, viewer: StaffUser) -> Expert:
    expert = await expert_linked_to(session, viewer.id or 0)
    if expert is None:
        raise NotFound(N_("Your account is not linked to an expert on the roster yet. Ask the coordinator."))
    return expert


async def expert_desk(
    session: AsyncSession, cipher: FieldCipher, viewer: StaffUser, *, now: datetime | None = None
) -> ExpertDesk:
    """The logged-in expert's schedule: what is coming, what is past and waiting to be recorded."""
    now = now or utcnow()
    expert = await own_expert(session, viewer)
    rows = (
        await session.exec(
            select(Appointment)
            .where(
                Appointment.expert_id == expert.id,
                col(Appointment.status).in_((*ACTIVE_STATUSES, AppointmentStatus.CANCELLED)),
                col(Appointment.ends_at) >= now - PAST_SHOWN,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    upcoming, to_record, recorded = [], [], []
    for a in rows:
        live_hold = a.status == AppointmentStatus.HELD and (a.hold_expires_at or now) > now
        if a.starts_at > now and (a.status == AppointmentStatus.CONFIRMED or live_hold):
            upcoming.append(_desk_row(a, cipher))
        elif a.starts_at <= now and a.attendance is not None:
            recorded.append(_desk_row(a, cipher))
        elif a.starts_at <= now and a.status == AppointmentStatus.CONFIRMED:
            to_record.append(_desk_row(a, cipher))
    return ExpertDesk(
        expert=expert,
        site=await site_of(session, expert),
        upcoming=upcoming,
        to_record=list(reversed(to_record)),
        recorded=list(reversed(recorded)),
    )


@dataclass(frozen=True)
class SessionView:
    """One consultation as its reader may see it: intake only for its own expert."""

    appointment: Appointment
    expert: Expert
    own: bool  # the reader is the expert it is booked with
    intake_notes: str | None  # None for anyone but the own expert
    case_number: str | None  # likewise
    session_notes: str | None
    moves: list[AppointmentMove]
    can_record: bool  # own, and the consultation has begun


async def _readable(
    session: AsyncSession, viewer: StaffUser, appointment_id: int
) -> tuple[Appointment, Expert]:
    """The appointment if the viewer may open it (its own expert, or a supervisor over that expert's
    unit); NotFound for everyone and everything else, so ids reveal nothing."""
    appointment = await get_by_outside_id(session, Appointment, appointment_id)
    expert = await session.get(Expert, appointment.expert_id) if appointment else None
    if appointment is None or expert is None:
        raise NotFound(N_("No such appointment."))
    if viewer.role == Role.EXPERT.value and expert.user_id == viewer.id and expert.user_id is not None:
        return appointment, expert
    if viewer.role == Role.SUPERVISOR.value and await get_visible(
        session, Expert, expert.id or 0, viewer.unit_id
    ):
        return appointment, expert
    raise NotFound(N_("No such appointment."))


async def open_appointment(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    appointment_id: int,
    *,
    client_ip: str | None,
    now: datetime | None = None,
) -> SessionView:
    """Read one consultation, audited: intake for its own expert, session notes for it and supervisors."""
    now = now or utcnow()
    appointment, expert = await _readable(session, viewer, appointment_id)
    own = viewer.role == Role.EXPERT.value
    case_number = None
    if own and appointment.case_id is not None:
        case_number = await session.scalar(
            sa_select(_CASES.c.number).where(_CASES.c.id == appointment.case_id)
        )
    moves = (
        await session.exec(
            select(AppointmentMove)
            .where(AppointmentMove.appointment_id == appointment.id)
            .order_by(col(AppointmentMove.moved_at))
        )
    ).all()
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="appointment.intake_read" if own else "appointment.session_notes_read",
        object_type="appointment",
        object_id=appointment_id,
        client_ip=client_ip,
    )
    await session.commit()
    return SessionView(
        appointment=appointment,
        expert=expert,
        own=own,
        intake_notes=cipher.decrypt_optional(appointment.notes_ciphertext, context="appointment.notes")
        if own
        else None,
        case_number=str(case_number) if case_number else None,
        session_notes=cipher.decrypt_optional(
            appointment.session_notes_ciphertext, context=SESSION_NOTES_CONTEXT
        ),
        moves=list(moves),
        can_record=own and appointment.starts_at <= now,
    )


async def _own_begun(
    session: AsyncSession, viewer: StaffUser, appointment_id: int, now: datetime
) -> Appointment:
    appointment, _ = await _readable(session, viewer, appointment_id)
    if viewer.role != Role.EXPERT.value:
        raise NotFound(N_("No such appointment."))
    if appointment.starts_at > now:
        raise Conflict(N_("What happened can be recorded once the consultation has begun."))
    return appointment


async def record_attendance(
    session: AsyncSession,
    viewer: StaffUser,
    appointment_id: int,
    attendance: str,
    *,
    client_ip: str | None,
    now: datetime | None = None,
) -> Appointment:
    """The expert records what happened. A confirmed consultation takes any outcome; one the parent
    cancelled can only be marked "cancelled late". Recording again corrects the earlier answer."""
    now = now or utcnow()
    if attendance not in ATTENDANCE_LABELS:
        raise FormInvalid({"attendance": N_("Choose what happened.")})
    appointment = await _own_begun(session, viewer, appointment_id, now)
    allowed: tuple[str, ...] = (AppointmentStatus.CONFIRMED,)
    if attendance == Attendance.CANCELLED_LATE:
        allowed = (AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED)
    moved = await session.exec(
        update(Appointment)
        .where(col(Appointment.id) == appointment_id, col(Appointment.status).in_(allowed))
        .values(attendance=attendance, attendance_recorded_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        await session.rollback()
        raise Conflict(N_("Only a consultation that took place, or was cancelled late, can be recorded."))
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="appointment.attendance",
        object_type="appointment",
        object_id=appointment_id,
        detail={"attendance": attendance, "before": appointment.attendance},
        client_ip=client_ip,
    )
    await session.commit()
    await session.refresh(appointment)
    return appointment


async def save_session_notes(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    appointment_id: int,
    text: str,
    *,
    client_ip: str | None,
    now: datetime | None = None,
) -> Appointment:
    """The expert's notes after the session, encrypted; an empty text clears them."""
    now = now or utcnow()
    cleaned = text.replace("\r\n", "\n").strip()
    if len(cleaned) > SESSION_NOTES_MAX:
        raise FormInvalid({"notes": N_("Session notes can have at most 4000 characters.")})
    appointment = await _own_begun(session, viewer, appointment_id, now)
    appointment.session_notes_ciphertext = cipher.encrypt_optional(
        cleaned or None, context=SESSION_NOTES_CONTEXT
    )
    appointment.updated_at = now
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="appointment.session_notes",
        object_type="appointment",
        object_id=appointment_id,
        detail={"length": len(cleaned)},
        client_ip=client_ip,
    )
    await session.commit()
    return appointment


async def rotate_own_feed(
    session: AsyncSession, cipher: FieldCipher, viewer: StaffUser, *, client_ip: str | None
) -> Expert:
    """The expert gives their calendar feed a new secret address; the old one answers 404 at once."""
    expert = await own_expert(session, viewer)
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="expert.feed_rotate",
        object_type="expert",
        object_id=expert.id or 0,
        client_ip=client_ip,
    )
    return await regenerate_feed_token(session, cipher, expert.id or 0, viewer_unit_id=expert.unit_id)
