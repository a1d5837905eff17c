"""Coordinators move a consultation to another time from the bookings overview (booking.reschedule)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from booking.errors import SlotTaken
from booking.page_helpers import say
from booking.reschedule import movable_appointment, reschedule, staff_visible_appointment
from booking.reschedule_views import MoveForm, move_confirm_page, move_slots_page
from booking.roster_routes import ROSTER_EDITORS
from booking.slots import parse_start
from core.accounts import StaffUser
from core.db import DbSession, utcnow
from core.http import client_ip
from core.privacy import CipherDep
from core.settings import SettingsDep

__all__ = ["StaffReschedule"]

StaffRequest = Request[StaffUser, Any, Any]


class StaffReschedule(Controller):
    path = "/roster/appointments"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    @get("/{appointment_id:int}/reschedule", name="roster:reschedule")
    async def free_times(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, appointment_id: FromPath[int]
    ) -> Template:
        appointment = await staff_visible_appointment(db, request.user, appointment_id)
        movable_appointment(appointment, now=utcnow())
        return await move_slots_page(
            db,
            settings,
            appointment,
            confirm_url=request.app.route_reverse("roster:reschedule_confirm", appointment_id=appointment_id),
            back_url=request.app.route_reverse("roster:day"),
        )

    @get("/{appointment_id:int}/reschedule/confirm", name="roster:reschedule_confirm")
    async def confirm(
        self, request: StaffRequest, db: DbSession, appointment_id: FromPath[int], starts_at: FromQuery[str]
    ) -> Template:
        appointment = await staff_visible_appointment(db, request.user, appointment_id)
        movable_appointment(appointment, now=utcnow())
        return await move_confirm_page(
            db,
            appointment,
            parse_start(starts_at),
            post_url=request.app.route_reverse("roster:reschedule_move", appointment_id=appointment_id),
            back_url=request.app.route_reverse("roster:reschedule", appointment_id=appointment_id),
        )

    @post("/{appointment_id:int}/reschedule/confirm", name="roster:reschedule_move")
    async def move(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        appointment_id: FromPath[int],
        data: URLEncodedBody[MoveForm],
    ) -> Template | Redirect:
        await staff_visible_appointment(db, request.user, appointment_id)  # 404 outside the unit scope
        try:
            done = await reschedule(
                db,
                cipher,
                settings,
                appointment_id=appointment_id,
                starts_at=parse_start(data.starts_at),
                moved_by=request.user,
                client_ip=client_ip(request),
            )
        except SlotTaken as exc:
            appointment = await staff_visible_appointment(db, request.user, appointment_id)
            return await move_slots_page(
                db,
                settings,
                appointment,
                confirm_url=request.app.route_reverse(
                    "roster:reschedule_confirm", appointment_id=appointment_id
                ),
                back_url=request.app.route_reverse("roster:day"),
                notice=say(exc),
                status_code=409,
            )
        day = done.appointment.starts_at.astimezone(ZoneInfo(settings.site_timezone)).date()
        target = request.app.route_reverse("roster:day")
        return Redirect(f"{target}?day={day.isoformat()}&moved={appointment_id}", status_code=303)
