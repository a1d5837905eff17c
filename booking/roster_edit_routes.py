"""Coordinators' roster changes: edit, deactivate and reactivate an expert, open a booked consultation to
rebook it, and the sites' calendar links for reception. Every route is scoped to the coordinator's unit
and below; everything else is "not found"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from booking import roster, roster_edits, site_feeds
from booking.page_helpers import vocabularies
from booking.roster_routes import ROSTER_EDITORS, expert_form_page
from core.accounts import StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.privacy import CipherDep
from core.settings import SettingsDep

__all__ = ["RosterChanges"]

StaffRequest = Request[StaffUser, Any, Any]


class RosterChanges(Controller):
    path = "/roster"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    @get("/experts/{expert_id:int}/edit", name="roster:edit")
    async def edit(self, request: StaffRequest, db: DbSession, expert_id: FromPath[int]) -> Template:
        expert = await roster_edits.editable_expert(db, expert_id, request.user)
        values = await roster_edits.expert_form_values(db, expert)
        return await expert_form_page(db, request.user, values, {}, 200, editing=expert)

    @post("/experts/{expert_id:int}/edit", name="roster:update")
    async def update(
        self, request: StaffRequest, db: DbSession, expert_id: FromPath[int]
    ) -> Template | Redirect:
        # A multi-dict, as in `RosterEditing.create`: boxes and rows of hours repeat their names.
        form = await request.form()
        values = {key: [str(value) for value in form.getall(key)] for key in form if key != "_csrf_token"}
        try:
            draft = roster.parse_expert_form(values)
            await roster_edits.update_expert(
                db, expert_id, draft, viewer=request.user, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            await db.rollback()  # a new site flushed before a refusal goes too
            expert = await roster_edits.editable_expert(db, expert_id, request.user)  # 404 outside the scope
            return await expert_form_page(db, request.user, values, exc.errors, 400, editing=expert)
        return Redirect(request.app.route_reverse("roster:detail", expert_id=expert_id), status_code=303)

    @post("/experts/{expert_id:int}/deactivate", name="roster:deactivate")
    async def deactivate(self, request: StaffRequest, db: DbSession, expert_id: FromPath[int]) -> Redirect:
        await roster_edits.set_expert_active(
            db, expert_id, False, viewer=request.user, client_ip=client_ip(request)
        )
        return Redirect(request.app.route_reverse("roster:detail", expert_id=expert_id), status_code=303)

    @post("/experts/{expert_id:int}/reactivate", name="roster:reactivate")
    async def reactivate(self, request: StaffRequest, db: DbSession, expert_id: FromPath[int]) -> Redirect:
        await roster_edits.set_expert_active(
            db, expert_id, True, viewer=request.user, client_ip=client_ip(request)
        )
        return Redirect(request.app.route_reverse("roster:detail", expert_id=expert_id), status_code=303)

    @get("/appointments/{appointment_id:int}", name="roster:appointment")
    async def appointment(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, appointment_id: FromPath[int]
    ) -> Template:
        shown = await roster_edits.staff_appointment(
            db, cipher, request.user, appointment_id, client_ip=client_ip(request)
        )
        return Template(
            template_name="roster/appointment.html",
            context={"shown": shown, **vocabularies()},
            headers={"Cache-Control": "no-store"},
        )

    @get("/sites", name="roster:sites")
    async def sites(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Template:
        links = await site_feeds.site_feed_links(db, cipher, request.user, client_ip=client_ip(request))
        base = settings.public_base_url
        rows = [
            (
                link,
                base + request.app.route_reverse("calendar:site_feed", feed=f"{link.token}.ics")
                if link.token
                else None,
            )
            for link in links
        ]
        return Template(
            template_name="roster/sites.html",
            context={"rows": rows, "saved": request.query_params.get("saved") is not None},
            headers={"Cache-Control": "no-store"},
        )

    @post("/sites/{site_id:int}/feed-token", name="roster:rotate_site_feed")
    async def rotate_site_feed(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, site_id: FromPath[int]
    ) -> Redirect:
        await site_feeds.rotate_site_feed(
            db, cipher, site_id, viewer=request.user, client_ip=client_ip(request)
        )
        return Redirect(request.app.route_reverse("roster:sites"), status_code=303)
