"""What staff should tell a parent whose number online booking refuses: staff still book for it
(booking.appointments.book_for_parent skips booking.online_admission), but an opted-out number gets no
confirmation SMS, and a suspended one cannot manage or rebook online, so the operator says it by phone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from booking.no_shows import suspension_for
from core.db import AsyncSession
from core.settings import Settings
from notifications.opt_out import is_opted_out

__all__ = ["PhoneStanding", "phone_standing"]


@dataclass(frozen=True)
class PhoneStanding:
    opted_out: bool  # replied STOP (or the carrier refused): the outbox sends it nothing
    suspended_until: datetime | None  # no online booking until then (no-shows)

    @property
    def refused_online(self) -> bool:
        return self.opted_out or self.suspended_until is not None


async def phone_standing(
    session: AsyncSession, settings: Settings, phone_index: str, *, now: datetime | None = None
) -> PhoneStanding:
    """The same two checks online admission makes first, as facts rather than refusals."""
    suspended = await suspension_for(session, settings, phone_index, now=now)
    return PhoneStanding(
        opted_out=await is_opted_out(session, phone_index),
        suspended_until=suspended.suspended_until if suspended else None,
    )
