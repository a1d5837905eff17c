"""Machine-readable booking: experts' and sites' secret calendar feeds and the JSON API for parents' apps.

Both are exempt from CSRF: no cookie grants them any authority (their credential is a secret token in
the URL, or there is none), so an app needs no page visit for a token first. The staff API
(`/api/calls`, `/api/cases`) is hotline's and keeps CSRF, because the login cookie is its credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.response import Response

from booking import calendar, roster
from booking.appointments import cancel_by_manage_token, confirm_with_code, hold_slot
from booking.calendar import Feed
from booking.parent_details import ParentDetails
from booking.roster import load_expert
from booking.slot_times import iso_utc
from booking.slots import parse_start, slots_for_expert
from core.db import DbSession
from core.errors import error_responses
from core.http import client_ip
from core.i18n import current_locale
from core.privacy import CipherDep
from core.security import csrf_exempt
from core.settings import SettingsDep

__all__ = ["BookingApi", "CalendarFeeds", "SiteCalendarFeeds"]

# ---- calendar feeds -----------------------------------------------------------------------------------


def _feed_token(feed: str) -> str:
    # Litestar path parameters are whole segments, so the ".ics" suffix is checked here.
    if not feed.endswith(".ics"):
        raise NotFoundException()
    return feed.removesuffix(".ics")


def _feed_response(feed: Feed) -> Response[bytes]:
    """200 with the calendar, or 304 when the client's copy is current; both carry the validators."""
    headers = {
        "ETag": feed.version.etag,
        "Last-Modified": format_datetime(feed.version.last_modified, usegmt=True),
        # Revalidate on every poll: the answer is a 304 of a few hundred bytes while nothing changed.
        "Cache-Control": "private, no-cache",
        "Referrer-Policy": "no-referrer",
    }
    if feed.body is None:
        return Response(b"", status_code=304, headers=headers)
    # Litestar appends "; charset=utf-8" to text/* types.
    return Response(feed.body, media_type="text/calendar", headers=headers)


class CalendarFeeds(Controller):
    path = "/calendar/experts"
    tags = ("booking",)
    opt = csrf_exempt()

    @get(
        "/{feed:str}",
        name="calendar:expert_feed",
        media_type="text/calendar",
        responses=error_responses(400, 404),
    )
    async def expert_feed(
        self,
        request: Request[Any, Any, Any],
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        feed: FromPath[str],
    ) -> Response[bytes]:
        """An expert's appointments as iCalendar; `feed` is the secret feed token followed by `.ics`.
        Answers 304 to If-None-Match / If-Modified-Since while the feed is unchanged."""
        found = await calendar.expert_feed(
            db,
            cipher,
            settings,
            _feed_token(feed),
            if_none_match=request.headers.get("if-none-match"),
            if_modified_since=request.headers.get("if-modified-since"),
        )
        return _feed_response(found)


class SiteCalendarFeeds(Controller):
    path = "/calendar/sites"
    tags = ("booking",)
    opt = csrf_exempt()

    @get(
        "/{feed:str}",
        name="calendar:site_feed",
        media_type="text/calendar",
        responses=error_responses(400, 404),
    )
    async def site_feed(
        self,
        request: Request[Any, Any, Any],
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        feed: FromPath[str],
    ) -> Response[bytes]:
        """Every expert of a site as one iCalendar, for its reception; `feed` is the site's secret feed
        token followed by `.ics`. Answers 304 to If-None-Match / If-Modified-Since while unchanged."""
        found = await calendar.site_feed(
            db,
            cipher,
            settings,
            _feed_token(feed),
            if_none_match=request.headers.get("if-none-match"),
            if_modified_since=request.headers.get("if-modified-since"),
        )
        return _feed_response(found)


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


# Typed answers, so the OpenAPI description says what a client gets back (and the fuzz test checks it).
@dataclass(frozen=True)
class ExpertOut:
    id: int
    name: str
    title: str
    specialties: list[str]
    modes: list[str]
    site: str | None
    slot_minutes: int


@dataclass(frozen=True)
class SlotsOut:
    expert_id: int
    slot_minutes: int
    slots: list[str]  # ISO 8601 UTC starts, soonest first


@dataclass(frozen=True)
class HeldOut:
    appointment_id: int
    status: str
    verify_token: str  # confirm with the SMS code at /api/bookings/{verify_token}/confirm
    hold_expires_at: str | None


@dataclass(frozen=True)
class ConfirmedOut:
    appointment_id: int
    status: str
    manage_token: str  # cancel at /api/bookings/manage/{manage_token}/cancel


@dataclass(frozen=True)
class AppointmentStatusOut:
    appointment_id: int
    status: str


class BookingApi(Controller):
    """What a parent's app needs, with no login: experts, free times, hold, confirm and cancel. (Handler
    names keep their `api_` prefix: the OpenAPI operation ids are made from them, and clients use those.)"""

    path = "/api"
    tags = ("booking",)
    opt = csrf_exempt()

    @get("/experts", name="api:experts")
    async def api_experts(self, db: DbSession) -> list[ExpertOut]:
        return [
            ExpertOut(
                id=expert.id or 0,
                name=expert.name,
                title=expert.title,
                specialties=expert.specialty_codes,
                modes=expert.mode_codes,
                site=site.name if site else None,
                slot_minutes=expert.slot_minutes,
            )
            for expert, site in await roster.list_experts(db, active_only=True)
        ]

    @get("/experts/{expert_id:int}/slots", name="api:slots", responses=error_responses(400, 404))
    async def api_slots(self, db: DbSession, settings: SettingsDep, expert_id: FromPath[int]) -> SlotsOut:
        expert = await load_expert(db, expert_id)
        slots = await slots_for_expert(db, settings, expert)
        return SlotsOut(
            expert_id=expert_id, slot_minutes=expert.slot_minutes, slots=[iso_utc(s) for s in slots]
        )

    @post("/bookings", name="api:hold", status_code=201, responses=error_responses(400, 403, 404, 409, 429))
    async def api_hold(
        self,
        request: Request[Any, Any, Any],
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: JSONBody[BookingIn],
    ) -> HeldOut:
        """Hold a slot and text the parent a code. Refused (403, 409, 429, with the reason and the number
        to call) for a number that opted out of SMS, is suspended for no-shows, or is over a limit."""
        held = await hold_slot(
            db,
            cipher,
            settings,
            expert_id=data.expert_id,
            starts_at=parse_start(data.starts_at),
            mode=data.mode,
            details=ParentDetails(data.name, data.phone, data.topic, data.notes),
            locale=current_locale(),
            client_address=client_ip(request),
        )
        expires = held.appointment.hold_expires_at
        return HeldOut(
            appointment_id=held.appointment.id or 0,
            status=held.appointment.status,
            verify_token=held.verify_token,
            hold_expires_at=iso_utc(expires) if expires else None,
        )

    @post(
        "/bookings/{verify_token:str}/confirm",
        name="api:confirm",
        status_code=200,
        responses=error_responses(400, 404, 409, 410),
    )
    async def api_confirm(
        self,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        verify_token: FromPath[str],
        data: JSONBody[CodeIn],
    ) -> ConfirmedOut:
        confirmed = await confirm_with_code(db, cipher, settings, verify_token=verify_token, code=data.code)
        return ConfirmedOut(
            appointment_id=confirmed.appointment.id or 0,
            status=confirmed.appointment.status,
            manage_token=confirmed.manage_token,
        )

    @post(
        "/bookings/manage/{manage_token:str}/cancel",
        name="api:cancel",
        status_code=200,
        responses=error_responses(400, 404, 409),
    )
    async def api_cancel(
        self, db: DbSession, settings: SettingsDep, cipher: CipherDep, manage_token: FromPath[str]
    ) -> AppointmentStatusOut:
        appointment = await cancel_by_manage_token(db, cipher, settings, manage_token=manage_token)
        return AppointmentStatusOut(appointment_id=appointment.id or 0, status=appointment.status)
