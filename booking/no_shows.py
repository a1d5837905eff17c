"""The no-show rule: after `no_show_limit` no-shows within `no_show_window_months`, a phone number cannot
book online for `no_show_suspension_days` after the no-show that reached the limit.

Counted from `appointment.attendance = 'no_show'` (what the expert recorded), by the phone's blind index,
so the rule needs no record of its own and follows a correction of the attendance at once. Staff lift a
suspension with a reason (`SuspensionLift`, audited): no-shows before the lift no longer count.

Exemptions are asked before a number is declared suspended. Booking knows nothing of them: a higher layer
(the ordered guidance programme, whose parents are never suspended) registers a check with
`register_exemption` in app/wiring.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from booking.models import Appointment, Attendance, SuspensionLift
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher
from core.settings import Settings

__all__ = [
    "ExemptionCheck",
    "NoShowRecord",
    "lift_suspension",
    "no_show_record",
    "register_exemption",
    "suspension_for",
    "unregister_exemption",
]

# A month of the rule is 30 days: "3 in 6 months" needs no calendar arithmetic and reads the same to all.
MONTH = timedelta(days=30)

# (session, phone_index) -> True when that number must never be suspended.
ExemptionCheck = Callable[[AsyncSession, str], Awaitable[bool]]
_EXEMPTIONS: list[ExemptionCheck] = []


def register_exemption(check: ExemptionCheck) -> None:
    """Add a check consulted before any number is suspended (idempotent)."""
    if check not in _EXEMPTIONS:
        _EXEMPTIONS.append(check)


def unregister_exemption(check: ExemptionCheck) -> None:
    if check in _EXEMPTIONS:
        _EXEMPTIONS.remove(check)


async def _exempt(session: AsyncSession, phone_index: str) -> bool:
    for check in _EXEMPTIONS:
        if await check(session, phone_index):
            return True
    return False


@dataclass(frozen=True)
class NoShowRecord:
    """What staff see for a number: the no-shows that count, and the suspension they cause (if any)."""

    counted: int  # no-shows within the window before now, since the last lift
    suspended_until: datetime | None
    exempt: bool
    last_lift: datetime | None

    @property
    def suspended(self) -> bool:
        return self.suspended_until is not None and not self.exempt


def _suspended_until(no_shows: list[datetime], settings: Settings, now: datetime) -> datetime | None:
    """The end of the suspension in force at `now`: the latest no-show that was the limit-th within the
    window ending at it, plus the suspension period; None when none is in force."""
    window = MONTH * settings.no_show_window_months
    period = timedelta(days=settings.no_show_suspension_days)
    until: datetime | None = None
    for j, at in enumerate(no_shows):  # ascending
        within = sum(1 for earlier in no_shows[: j + 1] if earlier > at - window)
        if within >= settings.no_show_limit and at + period > now:
            until = at + period
    return until


async def no_show_record(
    session: AsyncSession, settings: Settings, phone_index: str, *, now: datetime | None = None
) -> NoShowRecord:
    now = now or utcnow()
    last_lift = (
        await session.exec(
            select(func.max(SuspensionLift.lifted_at)).where(SuspensionLift.phone_index == phone_index)
        )
    ).one()
    window = MONTH * settings.no_show_window_months
    since = now - window - timedelta(days=max(settings.no_show_suspension_days, 0))
    if last_lift is not None:
        last_lift = last_lift if last_lift.tzinfo else last_lift.replace(tzinfo=now.tzinfo)
        since = max(since, last_lift)
    rows = await session.exec(
        select(Appointment.starts_at)
        .where(
            Appointment.parent_phone_index == phone_index,
            Appointment.attendance == Attendance.NO_SHOW,
            col(Appointment.starts_at) > since,
            col(Appointment.starts_at) <= now,
        )
        .order_by(col(Appointment.starts_at))
    )
    no_shows = list(rows.all())
    until = _suspended_until(no_shows, settings, now) if settings.no_show_limit > 0 else None
    return NoShowRecord(
        counted=sum(1 for at in no_shows if at > now - window),
        suspended_until=until,
        exempt=until is not None and await _exempt(session, phone_index),
        last_lift=last_lift,
    )


async def suspension_for(
    session: AsyncSession, settings: Settings, phone_index: str, *, now: datetime | None = None
) -> NoShowRecord | None:
    """The record of a number that may not book online now, or None when it may."""
    record = await no_show_record(session, settings, phone_index, now=now)
    return record if record.suspended else None


async def lift_suspension(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    phone_index: str,
    reason: str,
    actor_id: int,
    actor_label: str,
    client_ip: str | None,
    now: datetime | None = None,
) -> SuspensionLift:
    """Staff lift a suspension: a lift row and its audit row, committed together."""
    lift = SuspensionLift(
        phone_index=phone_index,
        lifted_at=now or utcnow(),
        lifted_by_id=actor_id,
        reason_ciphertext=cipher.encrypt(reason, context="suspension_lift.reason"),
    )
    session.add(lift)
    await session.flush()
    record_audit(
        session,
        actor_id=actor_id,
        actor_label=actor_label,
        action="booking.suspension_lifted",
        object_type="suspension_lift",
        object_id=lift.id or 0,
        client_ip=client_ip,
    )
    await session.commit()
    return lift
