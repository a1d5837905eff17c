"""The expert's own pages (booking.expert_desk): the schedule, one consultation, recording what happened,
session notes, and a new calendar feed address. Supervisors open a consultation read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from booking import expert_desk
from booking.expert_desk import ATTENDANCE_LABELS
from booking.feed_links import expert_feed_token
from booking.page_helpers import feed_urls, vocabularies
from core.accounts import Role, StaffUser
from core.db import DbSession
from core.errors import FormInvalid, NotFound
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep

__all__ = ["ExpertDeskPages"]

EXPERTS_ONLY = requires_roles(Role.EXPERT)
SESSION_READERS = requires_roles(Role.EXPERT, Role.SUPERVISOR)

StaffRequest = Request[StaffUser, Any, Any]


@dataclass(frozen=True)
class AttendanceForm:
    attendance: str = ""  # checked by expert_desk.record_attendance


@dataclass(frozen=True)
class SessionNotesForm:
    notes: str = ""


async def _appointment_page(
    request: StaffRequest,
    db: DbSession,
    cipher: CipherDep,
    appointment_id: int,
    *,
    errors: dict[str, str] | None = None,
    draft: str | None = None,
    status_code: int = 200,
) -> Template:
    view = await expert_desk.open_appointment(
        db, cipher, request.user, appointment_id, client_ip=client_ip(request)
    )
    return Template(
        template_name="expert/appointment.html",
        context={
            "view": view,
            "ATTENDANCE_LABELS": ATTENDANCE_LABELS,
            "errors": {k: gettext(v) for k, v in (errors or {}).items()},
            "draft": draft,
            **vocabularies(),
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


class ExpertDeskPages(Controller):
    path = "/expert"
    include_in_schema = False

    @get("/", name="expert:home", guards=[EXPERTS_ONLY])
    async def home(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Template:
        try:
            desk = await expert_desk.expert_desk(db, cipher, request.user)
        except NotFound:
            return Template(template_name="roster/no_profile.html", context={})
        return Template(
            template_name="expert/home.html",
            context={
                "desk": desk,
                **feed_urls(request.app, settings, expert_feed_token(cipher, desk.expert)),
                "ATTENDANCE_LABELS": ATTENDANCE_LABELS,
                **vocabularies(),
            },
            headers={"Cache-Control": "no-store"},
        )

    @get("/appointments/{appointment_id:int}", name="expert:appointment", guards=[SESSION_READERS])
    async def appointment(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, appointment_id: FromPath[int]
    ) -> Template:
        return await _appointment_page(request, db, cipher, appointment_id)

    @post("/appointments/{appointment_id:int}/attendance", name="expert:attendance", guards=[EXPERTS_ONLY])
    async def attendance(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        appointment_id: FromPath[int],
        data: URLEncodedBody[AttendanceForm],
    ) -> Template | Redirect:
        try:
            await expert_desk.record_attendance(
                db, request.user, appointment_id, data.attendance, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            return await _appointment_page(
                request, db, cipher, appointment_id, errors=exc.errors, status_code=400
            )
        target = request.app.route_reverse("expert:appointment", appointment_id=appointment_id)
        return Redirect(f"{target}?saved=attendance", status_code=303)

    @post(
        "/appointments/{appointment_id:int}/session-notes", name="expert:session_notes", guards=[EXPERTS_ONLY]
    )
    async def session_notes(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        appointment_id: FromPath[int],
        data: URLEncodedBody[SessionNotesForm],
    ) -> Template | Redirect:
        try:
            await expert_desk.save_session_notes(
                db, cipher, request.user, appointment_id, data.notes, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            return await _appointment_page(
                request, db, cipher, appointment_id, errors=exc.errors, draft=data.notes, status_code=400
            )
        target = request.app.route_reverse("expert:appointment", appointment_id=appointment_id)
        return Redirect(f"{target}?saved=notes", status_code=303)

    @post("/feed-token", name="expert:rotate_feed", guards=[EXPERTS_ONLY])
    async def rotate_feed(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Redirect:
        await expert_desk.rotate_own_feed(db, cipher, request.user, client_ip=client_ip(request))
        return Redirect(f"{request.app.route_reverse('expert:home')}?rotated=1", status_code=303)
