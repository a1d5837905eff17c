"""The reminder before a report is due: five days before the 25th of a quarter's last month (and before
30 June / 31 December for the half-year and year summaries), every supervisor of a unit whose report for
that period is not signed gets an alert, and an SMS through the outbox when on duty (hotline.alerts).

Run daily by an arq cron job in the worker (app.wiring). "Once" is the alert's dedupe key per unit and
period, so running it every day of the window, or in two workers, reminds each person once."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession, utcnow
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.alerts import alert_staff
from reports.models import ReportVersion
from reports.periods import Period, PeriodKind, current_period

__all__ = ["REMINDER_TEXT", "REMIND_DAYS_BEFORE", "periods_to_remind", "remind_unsigned_reports"]

REMIND_DAYS_BEFORE = 5
REMINDER_TEXT = N_("The report for {period} is due on {due} and has not been signed.")


def periods_to_remind(today: date) -> list[Period]:
    """The report periods (holding `today`) whose due date is at most REMIND_DAYS_BEFORE days away."""
    found = []
    for kind in (PeriodKind.QUARTER, PeriodKind.HALF_YEAR, PeriodKind.YEAR):
        period = current_period(kind, today)
        if today <= period.report_due() <= today + timedelta(days=REMIND_DAYS_BEFORE):
            found.append(period)
    return found


async def _unsigned_units(session: AsyncSession, period: Period) -> list[int]:
    """Units with an active supervisor and no signed version of the period's report."""
    signed = select(ReportVersion.unit_id).where(col(ReportVersion.period) == period.code)
    rows = await session.exec(
        select(StaffUser.unit_id)
        .where(
            StaffUser.role == Role.SUPERVISOR,
            col(StaffUser.is_active).is_(True),
            col(StaffUser.unit_id).not_in(signed),
        )
        .distinct()
    )
    return sorted(rows.all())


async def remind_unsigned_reports(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    cipher: FieldCipher,
    today: date | None = None,
) -> int:
    """Alert the supervisors of every unit with an unsigned report falling due; returns alerts written."""
    today = today or utcnow().astimezone(ZoneInfo(settings.site_timezone)).date()
    written = 0
    for period in periods_to_remind(today):
        async with sessionmaker() as session:
            for unit_id in await _unsigned_units(session, period):
                supervisors = await session.exec(
                    select(StaffUser).where(
                        StaffUser.unit_id == unit_id,
                        StaffUser.role == Role.SUPERVISOR,
                        col(StaffUser.is_active).is_(True),
                    )
                )
                written += await alert_staff(
                    session,
                    cipher,
                    settings,
                    recipients=list(supervisors.all()),
                    case_id=None,
                    kind="report.unsigned",
                    text=(REMINDER_TEXT, {"period": period.code, "due": period.report_due().isoformat()}),
                    dedupe_key=f"report:{unit_id}:{period.code}",
                )
            await session.commit()
    return written
