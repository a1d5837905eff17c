"""The two pages of a move, shared by the parent's manage link, the coordinator and the case page:
free times to pick from, then the old and new time with one button. Callers give the URLs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar.response import Template

from booking.availability import slots_by_local_day
from booking.models import Appointment, Expert
from booking.reschedule import free_times_for_move
from booking.slot_times import iso_utc
from core.db import AsyncSession
from core.settings import Settings

__all__ = ["MoveForm", "move_confirm_page", "move_slots_page"]


@dataclass(frozen=True)
class MoveForm:
    starts_at: str = ""  # parse_start checks it: empty or malformed is a 400 with a message


async def move_slots_page(
    session: AsyncSession,
    settings: Settings,
    appointment: Appointment,
    *,
    confirm_url: str,
    back_url: str,
    notice: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    expert = await session.get(Expert, appointment.expert_id)
    times = await free_times_for_move(session, settings, appointment)
    return Template(
        template_name="booking/reschedule_slots.html",
        context={
            "appointment": appointment,
            "expert": expert,
            "days": slots_by_local_day(times, settings.site_timezone),
            "iso": iso_utc,
            "confirm_url": confirm_url,
            "back_url": back_url,
            "notice": notice,
        },
        status_code=status_code,
        headers=headers or {},
    )


async def move_confirm_page(
    session: AsyncSession,
    appointment: Appointment,
    starts_at: datetime,
    *,
    post_url: str,
    back_url: str,
    headers: dict[str, str] | None = None,
) -> Template:
    expert = await session.get(Expert, appointment.expert_id)
    return Template(
        template_name="booking/reschedule_confirm.html",
        context={
            "appointment": appointment,
            "expert": expert,
            "starts_at": starts_at,
            "iso": iso_utc,
            "post_url": post_url,
            "back_url": back_url,
        },
        headers=headers or {},
    )
