"""The coordinator's day pages: the overview with filters, the printable day sheet, and revealing one
parent's name (a POST, audited, never a link: the name must not land in history or a prefetch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Template

from booking.day_overview import DAY_STATUSES, DayFilters, bookings_overview, parse_filters, reveal_name
from booking.page_helpers import vocabularies
from core.accounts import Role, StaffUser
from core.db import DbSession
from core.http import client_ip
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep

__all__ = ["DAY_READERS", "CoordinatorDay"]

# Supervisors read the day too (and from it an expert's session notes); only coordinators move bookings.
DAY_READERS = requires_roles(Role.COORDINATOR, Role.ADMIN, Role.SUPERVISOR)

StaffRequest = Request[StaffUser, Any, Any]


@dataclass(frozen=True)
class RevealForm:
    appointment_id: int = 0


def overview_filters(
    settings: SettingsDep,
    day: FromQuery[str | None] = None,
    span: FromQuery[str | None] = None,
    site: FromQuery[str | None] = None,
    expert: FromQuery[str | None] = None,
    mode: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
) -> DayFilters:
    """The overview's filters from its query (one place for the page and its reveal form)."""
    return parse_filters(
        day=day, span=span, site=site, expert=expert, mode=mode, status=status,
        timezone=settings.site_timezone,
    )  # fmt: skip


def sheet_filters(
    settings: SettingsDep,
    day: FromQuery[str | None] = None,
    site: FromQuery[str | None] = None,
    expert: FromQuery[str | None] = None,
    mode: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
) -> DayFilters:
    """The day sheet's filters: always one day."""
    return overview_filters(settings, day=day, span="day", site=site, expert=expert, mode=mode, status=status)


class CoordinatorDay(Controller):
    path = "/roster/day"
    guards = (DAY_READERS,)
    include_in_schema = False

    async def _page(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: NamedDependency[DayFilters],
        *,
        sheet: bool,
        revealed_id: int | None = None,
    ) -> Template:
        overview = await bookings_overview(
            db, cipher, request.user, filters, timezone=settings.site_timezone, revealed_id=revealed_id
        )
        return Template(
            template_name="roster/day_sheet.html" if sheet else "roster/day.html",
            context={
                "overview": overview,
                "query": urlencode(filters.query()),
                "DAY_STATUSES": DAY_STATUSES,
                "can_move": request.user.role in (Role.COORDINATOR.value, Role.ADMIN.value),
                "reads_sessions": request.user.role == Role.SUPERVISOR.value,
                **vocabularies(),
            },
            headers={"Cache-Control": "no-store"},
        )

    @get("/", name="roster:day", dependencies={"filters": Provide(overview_filters, sync_to_thread=False)})
    async def day_page(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: NamedDependency[DayFilters],
    ) -> Template:
        return await self._page(request, db, settings, cipher, filters, sheet=False)

    @post(
        "/reveal",
        name="roster:day_reveal",
        dependencies={"filters": Provide(overview_filters, sync_to_thread=False)},
    )
    async def day_reveal(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: NamedDependency[DayFilters],
        data: URLEncodedBody[RevealForm],
    ) -> Template:
        revealed = await reveal_name(db, request.user, data.appointment_id, client_ip=client_ip(request))
        return await self._page(request, db, settings, cipher, filters, sheet=False, revealed_id=revealed)

    @get(
        "/sheet",
        name="roster:day_sheet",
        dependencies={"filters": Provide(sheet_filters, sync_to_thread=False)},
    )
    async def sheet(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: NamedDependency[DayFilters],
    ) -> Template:
        return await self._page(request, db, settings, cipher, filters, sheet=True)

    @post(
        "/sheet/reveal",
        name="roster:day_sheet_reveal",
        dependencies={"filters": Provide(sheet_filters, sync_to_thread=False)},
    )
    async def sheet_reveal(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: NamedDependency[DayFilters],
        data: URLEncodedBody[RevealForm],
    ) -> Template:
        revealed = await reveal_name(db, request.user, data.appointment_id, client_ip=client_ip(request))
        return await self._page(request, db, settings, cipher, filters, sheet=True, revealed_id=revealed)
