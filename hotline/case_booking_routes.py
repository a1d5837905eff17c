"""Pages to book an expert for a case's caller, while the operator is on the phone with them.

These pages show the case's number and category only (as the unaudited case list does); the booking
itself is audited as `case.booking`, and the case page that follows as `case.read`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from booking.availability import slots_by_local_day
from booking.errors import BookingInvalid, SlotTaken
from booking.roster import load_expert, site_of
from booking.slot_times import iso_utc
from booking.slots import parse_start, slots_for_expert
from core.accounts import StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep
from core.settings import SettingsDep
from hotline.case_bookings import (
    CaseBookingForm,
    book_from_case,
    default_topic,
    experts_to_offer,
    filters_by_specialty,
)
from hotline.case_views import find_case
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers

__all__ = ["CaseBookingPages"]

NEXT_SLOTS_SHOWN = 6  # per expert on the list; the expert's own page shows every free time


async def _booking_form(
    db: DbSession,
    viewer: StaffUser,
    *,
    number: str,
    expert_id: int,
    form: CaseBookingForm,
    times: list[datetime],
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    """The booking form for one expert; `times` are the starts offered (the chosen one, or the next free
    ones after a clash), so a re-shown form keeps what the operator already typed."""
    case = await find_case(db, number, viewer)
    expert = await load_expert(db, expert_id, viewer_unit_id=viewer.unit_id)
    site = await site_of(db, expert)
    return Template(
        template_name="hotline/book_form.html",
        context={
            **page_helpers(),
            "case": case,
            "expert": expert,
            "site": site,
            "form": form,
            "times": times,
            "iso": iso_utc,
            "notice": notice,
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
        },
        status_code=status_code,
    )


def _offered_time(raw: str) -> list[datetime]:
    try:
        return [parse_start(raw)]
    except BookingInvalid:
        return []


class CaseBookingPages(Controller):
    path = "/hotline"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/cases/{number:str}/book", name="hotline:book_experts")
    async def book_experts(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        number: FromPath[str],
        all_experts: FromQuery[bool] = False,
    ) -> Template:
        case = await find_case(db, number, request.user)
        offers = await experts_to_offer(
            db, settings, category=case.category, everyone=all_experts, viewer_unit_id=request.user.unit_id
        )
        return Template(
            template_name="hotline/book_experts.html",
            context={
                **page_helpers(),
                "case": case,
                "offers": offers,
                "filtered": filters_by_specialty(case.category) and not all_experts,
                "shown": NEXT_SLOTS_SHOWN,
                "iso": iso_utc,
            },
        )

    @get("/cases/{number:str}/book/experts/{expert_id:int}", name="hotline:book_slots")
    async def book_slots(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        number: FromPath[str],
        expert_id: FromPath[int],
    ) -> Template:
        case = await find_case(db, number, request.user)
        expert = await load_expert(db, expert_id, viewer_unit_id=request.user.unit_id)
        days = slots_by_local_day(await slots_for_expert(db, settings, expert), settings.site_timezone)
        return Template(
            template_name="hotline/book_slots.html",
            context={**page_helpers(), "case": case, "expert": expert, "days": days, "iso": iso_utc},
        )

    @get("/cases/{number:str}/book/experts/{expert_id:int}/form", name="hotline:book_form")
    async def book_form(
        self,
        request: StaffRequest,
        db: DbSession,
        number: FromPath[str],
        expert_id: FromPath[int],
        starts_at: FromQuery[str],
    ) -> Template:
        start = parse_start(starts_at)
        case = await find_case(db, number, request.user)
        expert = await load_expert(db, expert_id, viewer_unit_id=request.user.unit_id)
        form = CaseBookingForm(
            starts_at=iso_utc(start),
            mode=expert.mode_codes[0] if expert.mode_codes else "",
            topic=default_topic(case.category),
        )
        return await _booking_form(
            db, request.user, number=number, expert_id=expert_id, form=form, times=[start]
        )

    @post("/cases/{number:str}/book/experts/{expert_id:int}/form", name="hotline:book")
    async def book(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        expert_id: FromPath[int],
        data: URLEncodedBody[CaseBookingForm],
    ) -> Template | Redirect:
        try:
            booked = await book_from_case(
                db,
                cipher,
                settings,
                number=number,
                expert_id=expert_id,
                form=data,
                actor=request.user,
                client_ip=client_ip(request),
            )
        except FormInvalid as exc:
            return await _booking_form(
                db,
                request.user,
                number=number,
                expert_id=expert_id,
                form=data,
                times=_offered_time(data.starts_at),
                errors=exc.errors,
                status_code=400,
            )
        except SlotTaken as exc:
            # Booking's own message and next free times; no time is pre-chosen, the operator picks one.
            return await _booking_form(
                db,
                request.user,
                number=number,
                expert_id=expert_id,
                form=replace(data, starts_at=""),
                times=exc.next_free,
                notice=gettext(exc.message),
                status_code=409,
            )
        target = request.app.route_reverse("hotline:case", number=number.upper())
        return Redirect(f"{target}?booked={booked.appointment.id}", status_code=303)
