"""The coordinators' page for an expert's availability: exceptions (days off, hours away, extra hours),
the holidays ahead, and the booking rules of the expert and their site. POSTs on their own paths, each
with the form's CSRF token; a wrong form comes back with its errors and nothing saved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from booking import availability_exceptions as avail
from booking.booking_rules import resolve
from booking.roster import WEEKDAYS, site_of
from booking.roster_routes import ROSTER_EDITORS
from core.accounts import StaffUser
from core.db import DbSession, utcnow
from core.errors import FormInvalid
from core.http import client_ip
from core.settings import SettingsDep

__all__ = ["ExpertAvailability"]

StaffRequest = Request[StaffUser, Any, Any]
HOLIDAYS_SHOWN_DAYS = 120


async def _form_values(request: StaffRequest) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [str(value) for value in form.getall(key)] for key in form if key != "_csrf_token"}


class ExpertAvailability(Controller):
    path = "/roster/experts/{expert_id:int}/availability"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    async def _page(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        expert_id: int,
        *,
        errors: dict[str, str] | None = None,
        values: dict[str, list[str]] | None = None,
        status: int = 200,
    ) -> Template:
        expert = await avail.visible_expert(db, expert_id, request.user)
        today = utcnow().astimezone(ZoneInfo(settings.site_timezone)).date()
        exceptions = await avail.list_exceptions(db, expert_id, from_day=today)
        site_rules, expert_rules = await avail.rules_rows(db, expert)
        return Template(
            template_name="roster/availability.html",
            context={
                "expert": expert,
                "site": await site_of(db, expert),
                "exceptions": exceptions,
                "clashes": await avail.appointments_in_absences(
                    db, expert_id, exceptions, settings.site_timezone
                ),
                "calendar_days": avail.calendar_days_ahead(today, HOLIDAYS_SHOWN_DAYS),
                "site_rules": site_rules,
                "expert_rules": expert_rules,
                "in_force": resolve(settings, site_rules, expert_rules),
                "weekdays": WEEKDAYS,
                "today": today,
                "last_known": today + timedelta(days=HOLIDAYS_SHOWN_DAYS),
                "errors": errors or {},
                "values": values or {},
            },
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )

    @get("/", name="roster:availability")
    async def show(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, expert_id: FromPath[int]
    ) -> Template:
        return await self._page(request, db, settings, expert_id)

    @post("/exceptions", name="roster:add_exception")
    async def add(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, expert_id: FromPath[int]
    ) -> Template | Redirect:
        values = await _form_values(request)
        expert = await avail.visible_expert(db, expert_id, request.user)
        today = utcnow().astimezone(ZoneInfo(settings.site_timezone)).date()
        try:
            draft = avail.parse_exception_form(values, today=today)
        except FormInvalid as exc:
            return await self._page(
                request, db, settings, expert_id, errors=exc.errors, values=values, status=400
            )
        await avail.add_exception(db, expert, draft, actor=request.user, client_ip=client_ip(request))
        return Redirect(
            request.app.route_reverse("roster:availability", expert_id=expert_id), status_code=303
        )

    @post("/exceptions/{exception_id:int}/remove", name="roster:remove_exception")
    async def remove(
        self, request: StaffRequest, db: DbSession, expert_id: FromPath[int], exception_id: FromPath[int]
    ) -> Redirect:
        expert = await avail.visible_expert(db, expert_id, request.user)
        await avail.remove_exception(
            db, expert, exception_id, actor=request.user, client_ip=client_ip(request)
        )
        return Redirect(
            request.app.route_reverse("roster:availability", expert_id=expert_id), status_code=303
        )

    @post("/rules", name="roster:set_rules")
    async def set_rules(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, expert_id: FromPath[int]
    ) -> Template | Redirect:
        values = await _form_values(request)
        expert = await avail.visible_expert(db, expert_id, request.user)
        try:
            rules = avail.parse_rules_form(values)
            await avail.save_rules(
                db,
                expert,
                rules,
                for_site=(values.get("scope") or [""])[0] == "site",
                actor=request.user,
                client_ip=client_ip(request),
            )
        except FormInvalid as exc:
            await db.rollback()
            return await self._page(
                request, db, settings, expert_id, errors=exc.errors, values=values, status=400
            )
        return Redirect(
            request.app.route_reverse("roster:availability", expert_id=expert_id), status_code=303
        )
