"""Moving a consultation booked from a case to another time: booking's `reschedule` does the move, the
race and the SMS; this module checks the consultation belongs to the case and writes the timeline entry
in the same transaction (through `before_commit`), so the case never shows a move that did not happen."""

from __future__ import annotations

from datetime import datetime

from booking.models import Appointment, AppointmentMove
from booking.reschedule import Rescheduled, reschedule
from core.accounts import StaffUser
from core.db import AsyncSession, get_by_outside_id
from core.errors import NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.case_events import record_event
from hotline.case_views import find_case
from hotline.models import ReferralCase

__all__ = ["EVENT_KIND", "case_appointment", "reschedule_from_case"]

EVENT_KIND = "appointment.moved"


async def case_appointment(
    session: AsyncSession, number: str, appointment_id: int, viewer: StaffUser
) -> tuple[ReferralCase, Appointment]:
    """The case (in the viewer's scope) and one consultation booked from it; NotFound for any other."""
    case = await find_case(session, number, viewer)
    appointment = await get_by_outside_id(session, Appointment, appointment_id)
    if appointment is None or appointment.case_id != case.id:
        raise NotFound(N_("No such appointment."))
    return case, appointment


async def reschedule_from_case(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    number: str,
    appointment_id: int,
    starts_at: datetime,
    actor: StaffUser,
    client_ip: str | None,
    now: datetime | None = None,
) -> Rescheduled:
    case, _ = await case_appointment(session, number, appointment_id, actor)
    case_id = case.id or 0

    def timeline(appointment: Appointment, move: AppointmentMove) -> None:
        record_event(
            session,
            cipher,
            case_id=case_id,
            kind=EVENT_KIND,
            actor=actor,
            detail={
                "appointment": appointment.id,
                "from": move.from_starts_at.isoformat(),
                "to": move.to_starts_at.isoformat(),
            },
            at=move.moved_at,
        )

    try:
        return await reschedule(
            session,
            cipher,
            settings,
            appointment_id=appointment_id,
            starts_at=starts_at,
            moved_by=actor,
            client_ip=client_ip,
            now=now,
            before_commit=timeline,
        )
    except BaseException:
        await session.rollback()
        raise
