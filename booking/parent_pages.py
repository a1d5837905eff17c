"""Parents' booking pages: experts, free times, the form, the SMS code, and the manage/cancel link.

No login: the verify and manage tokens in the URLs are the credentials, so those pages are never
cached and never leak their URL through Referer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Response, Template

from booking import roster
from booking.appointments import (
    appointment_for_manage_token,
    appointment_for_verify_token,
    cancel_by_manage_token,
    confirm_with_code,
    hold_slot,
)
from booking.availability import slots_by_local_day
from booking.errors import BookingInvalid, SlotTaken, WrongCode
from booking.models import Expert, Site
from booking.page_helpers import PRIVATE_HEADERS, say, vocabularies
from booking.parent_details import ParentDetails
from booking.roster import load_expert, site_of
from booking.slot_times import iso_utc
from booking.slots import parse_start, slots_for_expert
from core.db import DbSession
from core.errors import FormInvalid
from core.i18n import N_, current_locale, gettext
from core.privacy import CipherDep
from core.settings import SettingsDep

__all__ = ["ROUTES"]

# ---- parents: booking pages ---------------------------------------------------------------------------


@get("/book", name="book:experts")
async def book_experts(db: DbSession) -> Template:
    experts = await roster.list_experts(db, active_only=True)
    return Template(template_name="booking/experts.html", context={"experts": experts, **vocabularies()})


@get("/book/experts/{expert_id:int}", name="book:slots")
async def book_slots(db: DbSession, settings: SettingsDep, expert_id: FromPath[int]) -> Template:
    expert = await load_expert(db, expert_id)
    site = await site_of(db, expert)
    days = slots_by_local_day(await slots_for_expert(db, settings, expert), settings.site_timezone)
    return Template(
        template_name="booking/slots.html",
        context={"expert": expert, "site": site, "days": days, "iso": iso_utc, **vocabularies()},
    )


def _form_page(
    expert: Expert,
    site: Site | None,
    starts_at: datetime,
    values: dict[str, str],
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
            "values": values,
            "errors": errors,
            **vocabularies(),
        },
        status_code=status,
    )


@get("/book/experts/{expert_id:int}/form", name="book:form")
async def book_form(db: DbSession, expert_id: FromPath[int], starts_at: FromQuery[str]) -> Template:
    expert = await load_expert(db, expert_id)
    site = await site_of(db, expert)
    defaults = {"mode": expert.mode_codes[0] if expert.mode_codes else "", "topic": "parenting"}
    return _form_page(expert, site, parse_start(starts_at), defaults, {}, 200)


@post("/book/experts/{expert_id:int}/form", name="book:hold")
async def book_hold(
    request: Request[Any, Any, Any],
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    expert_id: FromPath[int],
) -> Response[Any]:
    form = await request.form()
    values = {
        key: str(form.get(key, ""))
        for key in ("name", "phone", "topic", "mode", "notes", "starts_at", "consent")
    }
    expert = await load_expert(db, expert_id)
    site = await site_of(db, expert)
    starts_at = parse_start(values["starts_at"])
    try:
        if values["consent"] != "yes":
            raise BookingInvalid(
                {"consent": N_("Please tick the box to agree that we use your details for this booking.")}
            )
        held = await hold_slot(
            db,
            cipher,
            settings,
            expert_id=expert_id,
            starts_at=starts_at,
            mode=values["mode"],
            details=ParentDetails(values["name"], values["phone"], values["topic"], values["notes"]),
            locale=current_locale(),
        )
    except FormInvalid as exc:
        return _form_page(expert, site, starts_at, values, exc.errors, 400)  # type: ignore[return-value]
    except SlotTaken as exc:
        return Template(  # type: ignore[return-value]
            template_name="booking/slot_taken.html",
            context={"expert": expert, "next_free": exc.next_free, "iso": iso_utc},
            status_code=409,
        )
    return Redirect(f"/book/verify/{held.verify_token}", status_code=303)  # type: ignore[return-value]


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


@get("/book/verify/{verify_token:str}", name="book:verify")
async def book_verify(db: DbSession, verify_token: FromPath[str]) -> Template:
    return await _verify_page(db, verify_token, None, None, 200)


@post("/book/verify/{verify_token:str}", name="book:confirm")
async def book_confirm(
    request: Request[Any, Any, Any],
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    verify_token: FromPath[str],
) -> Response[Any]:
    form = await request.form()
    try:
        confirmed = await confirm_with_code(
            db, cipher, settings, verify_token=verify_token, code=str(form.get("code", ""))
        )
    except WrongCode as exc:
        return await _verify_page(db, verify_token, say(exc), exc.attempts_left, 400)  # type: ignore[return-value]
    except FormInvalid as exc:
        return await _verify_page(db, verify_token, gettext(next(iter(exc.errors.values()))), None, 400)  # type: ignore[return-value]
    return Redirect(f"/book/manage/{confirmed.manage_token}", status_code=303)  # type: ignore[return-value]


@get("/book/manage/{manage_token:str}", name="book:manage")
async def book_manage(db: DbSession, manage_token: FromPath[str]) -> Template:
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


@post("/book/manage/{manage_token:str}/cancel", name="book:cancel")
async def book_cancel(
    db: DbSession, settings: SettingsDep, cipher: CipherDep, manage_token: FromPath[str]
) -> Redirect:
    await cancel_by_manage_token(db, cipher, settings, manage_token=manage_token)
    return Redirect(f"/book/manage/{manage_token}", status_code=303)


ROUTES: list[Any] = [
    book_experts,
    book_slots,
    book_form,
    book_hold,
    book_verify,
    book_confirm,
    book_manage,
    book_cancel,
]
