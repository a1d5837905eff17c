"""The alerts page (`/hotline/alerts`): the viewer's own alerts, newest first, and marking them read."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.db import DbSession
from hotline.alert_views import mark_all_read, mark_read, recent_alerts
from hotline.page_helpers import StaffRequest, hotline_staff_only

__all__ = ["AlertPages"]


class AlertPages(Controller):
    path = "/hotline/alerts"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("", name="hotline:alerts")
    async def alerts(self, request: StaffRequest, db: DbSession) -> Template:
        return Template(
            template_name="hotline/alerts.html",
            context={"staff_alerts": await recent_alerts(db, request.user)},
        )

    @post("/{alert_id:int}/read", name="hotline:alert_read")
    async def read(self, request: StaffRequest, db: DbSession, alert_id: FromPath[int]) -> Redirect:
        await mark_read(db, request.user, alert_id)
        return Redirect(request.app.route_reverse("hotline:alerts"), status_code=303)

    @post("/read-all", name="hotline:alerts_read_all")
    async def read_all(self, request: StaffRequest, db: DbSession) -> Redirect:
        await mark_all_read(db, request.user)
        return Redirect(request.app.route_reverse("hotline:alerts"), status_code=303)
