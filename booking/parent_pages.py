"""Parents' booking pages: experts, free times, the form, the SMS code, and the manage/cancel link.

No login: the verify and manage tokens in the URLs are the credentials, so those pages are never
cached and never leak their URL through Referer. The forms' rules are booking's (`hold_slot`,
`confirm_with_code`); these handlers only parse, call them and shape the page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from booking import roster
from booking.appointments import (
    appointment_for_manage_token,
    appointment_for_verify_token,
    cancel_by_manage_token,
    confirm_with_code,
    hold_slot,
)
from booking.day_strip import build_strip, day_label, parse_day
from booking.errors import (
    BookingSuspended,
    OptedOutOfSms,
    SlotTaken,
    TooManyActive,
    TooManyCodes,
    WrongCode,
)
from booking.models import Expert, Site
from booking.page_helpers import PRIVATE_HEADERS, say, vocabularies
from booking.parent_details import ParentBookingForm
from booking.roster import load_expert, site_of
from booking.slot_times import iso_utc
from booking.slots import parse_start, slots_for_expert
from core.db import DbSession, utcnow
from core.errors import FormInvalid, UserFacingError
from core.http import client_ip
from core.i18n import current_locale, gettext
from core.privacy import CipherDep
from core.settings import Settings, SettingsDep

__all__ = ["CodeForm", "ParentBookingPages"]

AnyRequest = Request[Any, Any, Any]


@dataclass(frozen=True)
class CodeForm:
    code: str = ""  # booking checks it: empty or not six digits is a field error, not a parser's 400


def _form_page(
    expert: Expert,
    site: Site | None,
    starts_at: datetime,
    form: ParentBookingForm,
    errors: dict[str, str],
    status: int,
) -> Template:
    return Template(
        template_name="booking/form.html",
        context={
            "expert": expert,
            "site": site,
            "starts_at": starts_at,
            "starts_at_iso": iso_utc(starts_at),
            "values": asdict(form),
            "errors": errors,
            **vocabularies(),
        },
        status_code=status,
    )


def _refused_page(expert: Expert, exc: UserFacingError, settings: Settings) -> Template:
    """Why this number cannot book online now, and the number to call instead. Nothing was held."""
    return Template(
        template_name="booking/refused.html",
        context={"expert": expert, "reason": say(exc), "hotline": settings.booking_hotline_number},
        status_code=exc.status_code,
    )


async def _verify_page(
    db: DbSession, verify_token: str, error: str | None, attempts_left: int | None, status: int
) -> Template:
    appointment = await appointment_for_verify_token(db, verify_token)
    expert = await db.get(Expert, appointment.expert_id)
    return Template(
        template_name="booking/verify.html",
        context={
            "appointment": appointment,
            "expert": expert,
            "verify_token": verify_token,
            "error": error,
            "attempts_left": attempts_left,
            **vocabularies(),
        },
        status_code=status,
        headers=PRIVATE_HEADERS,
    )


class ParentBookingPages(Controller):
    path = "/book"
    include_in_schema = False

    @get("/", name="book:experts")
    async def experts(self, db: DbSession, area: FromQuery[int | None] = None) -> Template:
        # Parents' pages are unit-agnostic: every centre's experts, or those of one city or district
        # (and the centres below it) when the parent picks an area.
        areas = await roster.booking_areas(db)
        chosen = area if area in {unit.id for unit in areas} else None
        experts = await roster.list_experts(db, active_only=True, viewer_unit_id=chosen)
        return Template(
            template_name="booking/experts.html",
            context={"experts": experts, "areas": areas, "area": chosen, **vocabularies()},
        )

    @get("/experts/{expert_id:int}", name="book:slots")
    async def slots(
        self,
        db: DbSession,
        settings: SettingsDep,
        expert_id: FromPath[int],
        start: Annotated[str | None, QueryParameter(name="from")] = None,
        day: FromQuery[str | None] = None,
    ) -> Template:
        expert = await load_expert(db, expert_id)
        site = await site_of(db, expert)
        now = utcnow()
        strip = build_strip(
            await slots_for_expert(db, settings, expert, now=now),
            timezone=settings.site_timezone,
            today=now.astimezone(ZoneInfo(settings.site_timezone)).date(),
            horizon_days=settings.booking_horizon_days,
            start=parse_day(start),
            chosen=parse_day(day),
        )
        return Template(
            template_name="booking/slots.html",
            context={
                "expert": expert,
                "site": site,
                "strip": strip,
                "day_label": day_label,
                "iso": iso_utc,
                **vocabularies(),
            },
        )

    @get("/experts/{expert_id:int}/form", name="book:form")
    async def form(self, db: DbSession, expert_id: FromPath[int], starts_at: FromQuery[str]) -> Template:
        expert = await load_expert(db, expert_id)
        site = await site_of(db, expert)
        blank = ParentBookingForm(mode=expert.mode_codes[0] if expert.mode_codes else "", topic="parenting")
        return _form_page(expert, site, parse_start(starts_at), blank, {}, 200)

    @post("/experts/{expert_id:int}/form", name="book:hold")
    async def hold(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        expert_id: FromPath[int],
        data: URLEncodedBody[ParentBookingForm],
    ) -> Template | Redirect:
        expert = await load_expert(db, expert_id)
        site = await site_of(db, expert)
        starts_at = parse_start(data.starts_at)
        try:
            held = await hold_slot(
                db,
                cipher,
                settings,
                expert_id=expert_id,
                starts_at=starts_at,
                mode=data.mode,
                details=data.details(),
                locale=current_locale(),
                client_address=client_ip(request),
            )
        except FormInvalid as exc:
            return _form_page(expert, site, starts_at, data, exc.errors, 400)
        except (BookingSuspended, OptedOutOfSms, TooManyActive, TooManyCodes) as exc:
            return _refused_page(expert, exc, settings)
        except SlotTaken as exc:
            return Template(
                template_name="booking/slot_taken.html",
                context={
                    "expert": expert,
                    "next_free": exc.next_free,
                    "iso": iso_utc,
                    "message": exc.message,
                },
                status_code=409,
            )
        target = request.app.route_reverse("book:verify", verify_token=held.verify_token)
        return Redirect(target, status_code=303)

    @get("/verify/{verify_token:str}", name="book:verify")
    async def verify(self, db: DbSession, verify_token: FromPath[str]) -> Template:
        return await _verify_page(db, verify_token, None, None, 200)

    @post("/verify/{verify_token:str}", name="book:confirm")
    async def confirm(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        verify_token: FromPath[str],
        data: URLEncodedBody[CodeForm],
    ) -> Template | Redirect:
        try:
            confirmed = await confirm_with_code(
                db, cipher, settings, verify_token=verify_token, code=data.code
            )
        except WrongCode as exc:
            return await _verify_page(db, verify_token, say(exc), exc.attempts_left, 400)
        except FormInvalid as exc:
            first_error = gettext(next(iter(exc.errors.values())))
            return await _verify_page(db, verify_token, first_error, None, 400)
        target = request.app.route_reverse("book:manage", manage_token=confirmed.manage_token)
        return Redirect(target, status_code=303)

    @get("/manage/{manage_token:str}", name="book:manage")
    async def manage(self, db: DbSession, manage_token: FromPath[str]) -> Template:
        appointment = await appointment_for_manage_token(db, manage_token)
        expert = await db.get(Expert, appointment.expert_id)
        site = await site_of(db, expert)
        return Template(
            template_name="booking/manage.html",
            context={
                "appointment": appointment,
                "expert": expert,
                "site": site,
                "manage_token": manage_token,
                **vocabularies(),
            },
            headers=PRIVATE_HEADERS,
        )

    @post("/manage/{manage_token:str}/cancel", name="book:cancel")
    async def cancel(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        manage_token: FromPath[str],
    ) -> Redirect:
        await cancel_by_manage_token(db, cipher, settings, manage_token=manage_token)
        return Redirect(request.app.route_reverse("book:manage", manage_token=manage_token), status_code=303)
