"""Pages to move a consultation booked from a case (hotline.case_reschedule), with booking's move pages."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from booking.errors import SlotTaken
from booking.page_helpers import say
from booking.reschedule import movable_appointment
from booking.reschedule_views import MoveForm, move_confirm_page, move_slots_page
from booking.slots import parse_start
from core.db import DbSession, utcnow
from core.http import client_ip
from core.privacy import CipherDep
from core.settings import SettingsDep
from hotline.case_reschedule import case_appointment, reschedule_from_case
from hotline.page_helpers import StaffRequest, hotline_staff_only

__all__ = ["CaseReschedulePages"]

MOVE = "/{number:str}/appointments/{appointment_id:int}/reschedule"


class CaseReschedulePages(Controller):
    path = "/hotline/cases"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get(MOVE, name="hotline:reschedule")
    async def free_times(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        number: FromPath[str],
        appointment_id: FromPath[int],
    ) -> Template:
        case, appointment = await case_appointment(db, number, appointment_id, request.user)
        movable_appointment(appointment, now=utcnow())
        return await move_slots_page(
            db,
            settings,
            appointment,
            confirm_url=request.app.route_reverse(
                "hotline:reschedule_confirm", number=case.number, appointment_id=appointment_id
            ),
            back_url=request.app.route_reverse("hotline:case", number=case.number),
        )

    @get(
        "/{number:str}/appointments/{appointment_id:int}/reschedule/confirm",
        name="hotline:reschedule_confirm",
    )
    async def confirm(
        self,
        request: StaffRequest,
        db: DbSession,
        number: FromPath[str],
        appointment_id: FromPath[int],
        starts_at: FromQuery[str],
    ) -> Template:
        case, appointment = await case_appointment(db, number, appointment_id, request.user)
        movable_appointment(appointment, now=utcnow())
        return await move_confirm_page(
            db,
            appointment,
            parse_start(starts_at),
            post_url=request.app.route_reverse(
                "hotline:reschedule_move", number=case.number, appointment_id=appointment_id
            ),
            back_url=request.app.route_reverse(
                "hotline:reschedule", number=case.number, appointment_id=appointment_id
            ),
        )

    @post(
        "/{number:str}/appointments/{appointment_id:int}/reschedule/confirm", name="hotline:reschedule_move"
    )
    async def move(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        appointment_id: FromPath[int],
        data: URLEncodedBody[MoveForm],
    ) -> Template | Redirect:
        starts_at = parse_start(data.starts_at)
        try:
            await reschedule_from_case(
                db, cipher, settings, number=number, appointment_id=appointment_id, starts_at=starts_at,
                actor=request.user, client_ip=client_ip(request),
            )  # fmt: skip
        except SlotTaken as exc:
            case, appointment = await case_appointment(db, number, appointment_id, request.user)
            return await move_slots_page(
                db,
                settings,
                appointment,
                confirm_url=request.app.route_reverse(
                    "hotline:reschedule_confirm", number=case.number, appointment_id=appointment_id
                ),
                back_url=request.app.route_reverse("hotline:case", number=case.number),
                notice=say(exc),
                status_code=409,
            )
        target = request.app.route_reverse("hotline:case", number=number.upper())
        return Redirect(f"{target}?moved={appointment_id}", status_code=303)
