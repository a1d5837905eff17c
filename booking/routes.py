"""HTTP routes of booking: parents' booking pages, the coordinators' roster, calendar feeds, JSON API.

Handlers only parse, call one service function and shape the answer; the rules live in
booking.appointments, booking.roster and booking.calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Response, Template

from app.accounts import Role, StaffUser
from app.db import DbSession
from app.errors import FormInvalid, UserFacingError, error_responses
from app.i18n import N_, current_locale, gettext
from app.privacy import CipherDep
from app.security import requires_roles
from app.settings import SettingsDep
from booking import roster
from booking.appointments import (
    MODES,
    BookingInvalid,
    ParentDetails,
    SlotTaken,
    WrongCode,
    appointment_for_manage_token,
    appointment_for_verify_token,
    cancel_by_manage_token,
    confirm_with_code,
    hold_slot,
    iso_utc,
    load_expert,
    parse_start,
    slots_for_expert,
)
from booking.availability import slots_by_local_day
from booking.calendar import feed_for_token
from booking.models import Expert, Site
from hotline.taxonomy import CATEGORIES

__all__ = ["ROUTES"]

# Pages whose URL holds a secret token: never cached, never leaked to other sites through Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
ROSTER_EDITORS = requires_roles(Role.COORDINATOR, Role.ADMIN)
ROSTER_READERS = requires_roles(Role.COORDINATOR, Role.ADMIN, Role.EXPERT)
RULE_ROWS = 5


def _say(exc: UserFacingError) -> str:
    """The error's message in the reader's language, with its numbers filled in."""
    return gettext(exc.message).format(**exc.format_args)


def _vocabularies() -> dict[str, Any]:
    return {"MODES": MODES, "CATEGORIES": CATEGORIES, "WEEKDAYS": roster.WEEKDAYS}


def _client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


# ---- parents: booking pages ---------------------------------------------------------------------------


@get("/book", name="book:experts")
async def book_experts(db: DbSession) -> Template:
    experts = await roster.list_experts(db, active_only=True)
    return Template(template_name="booking/experts.html", context={"experts": experts, **_vocabularies()})


@get("/book/experts/{expert_id:int}", name="book:slots")
async def book_slots(db: DbSession, settings: SettingsDep, expert_id: FromPath[int]) -> Template:
    expert = await load_expert(db, expert_id)
    site = await db.get(Site, expert.site_id) if expert.site_id else None
    days = slots_by_local_day(await slots_for_expert(db, settings, expert), settings.site_timezone)
    return Template(
        template_name="booking/slots.html",
        context={"expert": expert, "site": site, "days": days, "iso": iso_utc, **_vocabularies()},
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
            **_vocabularies(),
        },
        status_code=status,
    )


@get("/book/experts/{expert_id:int}/form", name="book:form")
async def book_form(db: DbSession, expert_id: FromPath[int], starts_at: FromQuery[str]) -> Template:
    expert = await load_expert(db, expert_id)
    site = await db.get(Site, expert.site_id) if expert.site_id else None
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
    site = await db.get(Site, expert.site_id) if expert.site_id else None
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
            **_vocabularies(),
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
        return await _verify_page(db, verify_token, _say(exc), exc.attempts_left, 400)  # type: ignore[return-value]
    except FormInvalid as exc:
        return await _verify_page(db, verify_token, gettext(next(iter(exc.errors.values()))), None, 400)  # type: ignore[return-value]
    return Redirect(f"/book/manage/{confirmed.manage_token}", status_code=303)  # type: ignore[return-value]


@get("/book/manage/{manage_token:str}", name="book:manage")
async def book_manage(db: DbSession, manage_token: FromPath[str]) -> Template:
    appointment = await appointment_for_manage_token(db, manage_token)
    expert = await db.get(Expert, appointment.expert_id)
    site = await db.get(Site, expert.site_id) if expert and expert.site_id else None
    return Template(
        template_name="booking/manage.html",
        context={
            "appointment": appointment,
            "expert": expert,
            "site": site,
            "manage_token": manage_token,
            **_vocabularies(),
        },
        headers=PRIVATE_HEADERS,
    )


@post("/book/manage/{manage_token:str}/cancel", name="book:cancel")
async def book_cancel(
    db: DbSession, settings: SettingsDep, cipher: CipherDep, manage_token: FromPath[str]
) -> Redirect:
    await cancel_by_manage_token(db, cipher, settings, manage_token=manage_token)
    return Redirect(f"/book/manage/{manage_token}", status_code=303)


# ---- staff: the roster --------------------------------------------------------------------------------


@get("/roster/experts", name="roster:list", guards=[ROSTER_READERS])
async def roster_list(request: Request[StaffUser, Any, Any], db: DbSession) -> Response[Any]:
    if request.user.role == Role.EXPERT.value:
        own = await roster.expert_linked_to(db, request.user.id or 0)
        if own is not None:
            return Redirect(f"/roster/experts/{own.id}", status_code=303)  # type: ignore[return-value]
        return Template(template_name="roster/no_profile.html", context={})  # type: ignore[return-value]
    experts = await roster.list_experts(db)
    return Template(template_name="roster/experts.html", context={"experts": experts, **_vocabularies()})  # type: ignore[return-value]


async def _expert_form_page(
    db: DbSession, values: dict[str, list[str]], errors: dict[str, str], status: int
) -> Template:
    rows = list(
        zip(
            values.get("rule_weekday", []),
            values.get("rule_start", []),
            values.get("rule_end", []),
            strict=False,
        )
    )
    rows += [("", "", "")] * max(RULE_ROWS - len(rows), 1)
    return Template(
        template_name="roster/expert_form.html",
        context={
            "values": values,
            "errors": errors,
            "rule_rows": rows,
            "sites": await roster.sites(db),
            "accounts": await roster.unlinked_expert_accounts(db),
            **_vocabularies(),
        },
        status_code=status,
    )


@get("/roster/experts/new", name="roster:new", guards=[ROSTER_EDITORS])
async def roster_new(db: DbSession) -> Template:
    defaults = {"slot_minutes": ["50"], "buffer_minutes": ["10"], "modes": ["in_person", "phone"]}
    return await _expert_form_page(db, defaults, {}, 200)


@post("/roster/experts/new", name="roster:create", guards=[ROSTER_EDITORS])
async def roster_create(request: Request[StaffUser, Any, Any], db: DbSession) -> Response[Any]:
    form = await request.form()
    values = {key: [str(v) for v in form.getall(key)] for key in form if key != "_csrf_token"}
    try:
        expert = await roster.create_expert(db, roster.parse_expert_form(values))
    except FormInvalid as exc:
        await db.rollback()
        return await _expert_form_page(db, values, exc.errors, 400)  # type: ignore[return-value]
    return Redirect(f"/roster/experts/{expert.id}", status_code=303)  # type: ignore[return-value]


@get("/roster/experts/{expert_id:int}", name="roster:detail", guards=[ROSTER_READERS])
async def roster_detail(
    request: Request[StaffUser, Any, Any],
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    expert_id: FromPath[int],
) -> Template:
    schedule = await roster.expert_schedule(
        db, cipher, request.user, expert_id, client_ip=_client_ip(request)
    )
    feed_url = f"{settings.public_base_url}/calendar/experts/{schedule.expert.feed_token}.ics"
    return Template(
        template_name="roster/expert_detail.html",
        context={
            "schedule": schedule,
            "feed_url": feed_url,
            "webcal_url": "webcal://" + feed_url.split("://", 1)[-1],
            "can_edit": request.user.role in (Role.COORDINATOR.value, Role.ADMIN.value),
            **_vocabularies(),
        },
        headers={"Cache-Control": "no-store"},
    )


@post("/roster/experts/{expert_id:int}/feed-token", name="roster:regenerate_feed", guards=[ROSTER_EDITORS])
async def roster_regenerate_feed(db: DbSession, expert_id: FromPath[int]) -> Redirect:
    await roster.regenerate_feed_token(db, expert_id)
    return Redirect(f"/roster/experts/{expert_id}", status_code=303)


# ---- calendar feeds -----------------------------------------------------------------------------------


@get("/calendar/experts/{feed:str}", name="calendar:expert_feed")
async def expert_feed(
    db: DbSession, settings: SettingsDep, cipher: CipherDep, feed: FromPath[str]
) -> Response[bytes]:
    # Litestar path parameters are whole segments, so the ".ics" suffix is checked here.
    if not feed.endswith(".ics"):
        raise NotFoundException()
    body = await feed_for_token(db, cipher, settings, feed.removesuffix(".ics"))
    return Response(
        body,
        media_type="text/calendar",  # Litestar appends "; charset=utf-8" to text/* types
        headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"},
    )


# ---- JSON API -----------------------------------------------------------------------------------------


@dataclass
class BookingIn:
    expert_id: int
    starts_at: str
    mode: str
    name: str
    phone: str
    topic: str = "parenting"
    notes: str = ""


@dataclass
class CodeIn:
    code: str


@get("/api/experts", name="api:experts")
async def api_experts(db: DbSession) -> list[dict[str, Any]]:
    return [
        {
            "id": expert.id,
            "name": expert.name,
            "title": expert.title,
            "specialties": expert.specialty_codes,
            "modes": expert.mode_codes,
            "site": site.name if site else None,
            "slot_minutes": expert.slot_minutes,
        }
        for expert, site in await roster.list_experts(db, active_only=True)
    ]


@get("/api/experts/{expert_id:int}/slots", name="api:slots", responses=error_responses(400, 404))
async def api_slots(db: DbSession, settings: SettingsDep, expert_id: FromPath[int]) -> dict[str, Any]:
    expert = await load_expert(db, expert_id)
    slots = await slots_for_expert(db, settings, expert)
    return {"expert_id": expert_id, "slot_minutes": expert.slot_minutes, "slots": [iso_utc(s) for s in slots]}


@post("/api/bookings", name="api:hold", status_code=201, responses=error_responses(400, 403, 404, 409))
async def api_hold(
    db: DbSession, settings: SettingsDep, cipher: CipherDep, data: JSONBody[BookingIn]
) -> dict[str, Any]:
    held = await hold_slot(
        db,
        cipher,
        settings,
        expert_id=data.expert_id,
        starts_at=parse_start(data.starts_at),
        mode=data.mode,
        details=ParentDetails(data.name, data.phone, data.topic, data.notes),
        locale=current_locale(),
    )
    return {
        "appointment_id": held.appointment.id,
        "status": held.appointment.status,
        "verify_token": held.verify_token,
        "hold_expires_at": iso_utc(held.appointment.hold_expires_at)
        if held.appointment.hold_expires_at
        else None,
    }


@post(
    "/api/bookings/{verify_token:str}/confirm",
    name="api:confirm",
    status_code=200,
    responses=error_responses(400, 403, 404, 409, 410),
)
async def api_confirm(
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    verify_token: FromPath[str],
    data: JSONBody[CodeIn],
) -> dict[str, Any]:
    confirmed = await confirm_with_code(db, cipher, settings, verify_token=verify_token, code=data.code)
    return {
        "appointment_id": confirmed.appointment.id,
        "status": confirmed.appointment.status,
        "manage_token": confirmed.manage_token,
    }


@post(
    "/api/bookings/manage/{manage_token:str}/cancel",
    name="api:cancel",
    status_code=200,
    responses=error_responses(400, 403, 404, 409),
)
async def api_cancel(
    db: DbSession, settings: SettingsDep, cipher: CipherDep, manage_token: FromPath[str]
) -> dict[str, Any]:
    appointment = await cancel_by_manage_token(db, cipher, settings, manage_token=manage_token)
    return {"appointment_id": appointment.id, "status": appointment.status}


ROUTES: list[Any] = [
    book_experts,
    book_slots,
    book_form,
    book_hold,
    book_verify,
    book_confirm,
    book_manage,
    book_cancel,
    roster_list,
    roster_new,
    roster_create,
    roster_detail,
    roster_regenerate_feed,
    expert_feed,
    api_experts,
    api_slots,
    api_hold,
    api_confirm,
    api_cancel,
]
