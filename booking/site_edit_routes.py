"""The coordinator's page to edit a site of their unit scope (booking.site_edits). GET and POST on their
own paths; a site outside the scope is "not found"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from booking import site_edits
from booking.availability_models import BookingRules
from booking.models import Site
from booking.roster_routes import ROSTER_EDITORS
from core.accounts import StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip

__all__ = ["SiteEditing"]

StaffRequest = Request[StaffUser, Any, Any]


def _page(
    site: Site, rules: BookingRules | None, values: dict[str, list[str]], errors: dict[str, str], status: int
) -> Template:
    return Template(
        template_name="roster/site_form.html",
        context={"site": site, "row": rules, "values": values, "errors": errors},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


class SiteEditing(Controller):
    path = "/roster/sites/{site_id:int}"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    @get("/edit", name="roster:site_edit")
    async def edit(self, request: StaffRequest, db: DbSession, site_id: FromPath[int]) -> Template:
        site = await site_edits.visible_site(db, site_id, request.user)
        values = {"name": [site.name], "address": [site.address]}
        return _page(site, await site_edits.site_rules(db, site_id), values, {}, 200)

    @post("/save", name="roster:site_save")
    async def save(self, request: StaffRequest, db: DbSession, site_id: FromPath[int]) -> Template | Redirect:
        form = await request.form()
        values = {key: [str(value) for value in form.getall(key)] for key in form if key != "_csrf_token"}
        site = await site_edits.visible_site(db, site_id, request.user)  # not found before any parsing
        try:
            draft = site_edits.parse_site_form(values)
            await site_edits.save_site(db, site_id, draft, viewer=request.user, client_ip=client_ip(request))
        except FormInvalid as exc:
            await db.rollback()
            site = await site_edits.visible_site(db, site_id, request.user)
            return _page(site, await site_edits.site_rules(db, site_id), values, exc.errors, 400)
        return Redirect(f"{request.app.route_reverse('roster:sites')}?saved={site.id}", status_code=303)
