"""The parent moves their consultation from the manage link: free times, confirm, done.

No login: the manage token in the URL is the credential (as for cancelling), so the pages are never
cached and never leak their URL through Referer. The rules are `booking.reschedule`'s.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from booking.appointments import appointment_for_manage_token
from booking.booking_rules import ensure_change_allowed
from booking.errors import SlotTaken
from booking.page_helpers import PRIVATE_HEADERS, say
from booking.reschedule import movable_appointment, reschedule_by_manage_token
from booking.reschedule_views import MoveForm, move_confirm_page, move_slots_page
from booking.slots import parse_start
from core.db import DbSession, utcnow
from core.http import client_ip
from core.privacy import CipherDep
from core.settings import SettingsDep

__all__ = ["ParentReschedulePages"]

AnyRequest = Request[Any, Any, Any]


class ParentReschedulePages(Controller):
    path = "/book/manage"
    include_in_schema = False

    @get("/{manage_token:str}/reschedule", name="book:reschedule")
    async def free_times(
        self, request: AnyRequest, db: DbSession, settings: SettingsDep, manage_token: FromPath[str]
    ) -> Template:
        appointment = await appointment_for_manage_token(db, manage_token)
        movable_appointment(appointment, now=utcnow())
        await ensure_change_allowed(db, settings, appointment, utcnow())
        return await move_slots_page(
            db,
            settings,
            appointment,
            confirm_url=request.app.route_reverse("book:reschedule_confirm", manage_token=manage_token),
            back_url=request.app.route_reverse("book:manage", manage_token=manage_token),
            headers=PRIVATE_HEADERS,
        )

    @get("/{manage_token:str}/reschedule/confirm", name="book:reschedule_confirm")
    async def confirm(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        manage_token: FromPath[str],
        starts_at: FromQuery[str],
    ) -> Template:
        appointment = await appointment_for_manage_token(db, manage_token)
        movable_appointment(appointment, now=utcnow())
        await ensure_change_allowed(db, settings, appointment, utcnow())
        return await move_confirm_page(
            db,
            appointment,
            parse_start(starts_at),
            post_url=request.app.route_reverse("book:reschedule_move", manage_token=manage_token),
            back_url=request.app.route_reverse("book:reschedule", manage_token=manage_token),
            headers=PRIVATE_HEADERS,
        )

    @post("/{manage_token:str}/reschedule/confirm", name="book:reschedule_move")
    async def move(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        manage_token: FromPath[str],
        data: URLEncodedBody[MoveForm],
    ) -> Template | Redirect:
        try:
            await reschedule_by_manage_token(
                db,
                cipher,
                settings,
                manage_token=manage_token,
                starts_at=parse_start(data.starts_at),
                client_ip=client_ip(request),
            )
        except SlotTaken as exc:
            appointment = await appointment_for_manage_token(db, manage_token)
            return await move_slots_page(
                db,
                settings,
                appointment,
                confirm_url=request.app.route_reverse("book:reschedule_confirm", manage_token=manage_token),
                back_url=request.app.route_reverse("book:manage", manage_token=manage_token),
                notice=say(exc),
                status_code=409,
                headers=PRIVATE_HEADERS,
            )
        target = request.app.route_reverse("book:manage", manage_token=manage_token)
        return Redirect(f"{target}?moved=1", status_code=303)
