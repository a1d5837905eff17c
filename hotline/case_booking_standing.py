"""After an operator books from a case: whether the parent's number is one online booking refuses, so
the confirmation tells the operator to say the details by phone (booking.phone_standing)."""

from __future__ import annotations

from sqlmodel import select

from booking.models import Appointment
from booking.phone_standing import PhoneStanding, phone_standing
from core.db import AsyncSession
from core.settings import Settings

__all__ = ["standing_of_booking"]


async def standing_of_booking(
    session: AsyncSession, settings: Settings, *, case_id: int, appointment_id: int
) -> PhoneStanding | None:
    """The standing of the number of a consultation booked from this case; None for any other id."""
    appointment = (
        await session.exec(
            select(Appointment).where(Appointment.id == appointment_id, Appointment.case_id == case_id)
        )
    ).first()
    if appointment is None:
        return None
    return await phone_standing(session, settings, appointment.parent_phone_index)
