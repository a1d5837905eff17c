"""The coordinators' roster pages: list, add and read experts, regenerate an expert's feed link."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template

from booking import roster
from booking.page_helpers import vocabularies
from core.accounts import Role, StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep

ROSTER_EDITORS = requires_roles(Role.COORDINATOR, Role.ADMIN)
ROSTER_READERS = requires_roles(Role.COORDINATOR, Role.ADMIN, Role.EXPERT)
RULE_ROWS = 5

__all__ = ["ROSTER_EDITORS", "ROSTER_READERS", "ROUTES"]

# ---- staff: the roster --------------------------------------------------------------------------------


@get("/roster/experts", name="roster:list", guards=[ROSTER_READERS])
async def roster_list(request: Request[StaffUser, Any, Any], db: DbSession) -> Response[Any]:
    if request.user.role == Role.EXPERT.value:
        own = await roster.expert_linked_to(db, request.user.id or 0)
        if own is not None:
            return Redirect(f"/roster/experts/{own.id}", status_code=303)  # type: ignore[return-value]
        return Template(template_name="roster/no_profile.html", context={})  # type: ignore[return-value]
    experts = await roster.list_experts(db, viewer_unit_id=request.user.unit_id)
    return Template(template_name="roster/experts.html", context={"experts": experts, **vocabularies()})  # type: ignore[return-value]


async def _expert_form_page(
    db: DbSession, viewer: StaffUser, values: dict[str, list[str]], errors: dict[str, str], status: int
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
            "sites": await roster.sites(db, viewer_unit_id=viewer.unit_id),
            "accounts": await roster.unlinked_expert_accounts(db, viewer_unit_id=viewer.unit_id),
            **vocabularies(),
        },
        status_code=status,
    )


@get("/roster/experts/new", name="roster:new", guards=[ROSTER_EDITORS])
async def roster_new(request: Request[StaffUser, Any, Any], db: DbSession) -> Template:
    defaults = {"slot_minutes": ["50"], "buffer_minutes": ["10"], "modes": ["in_person", "phone"]}
    return await _expert_form_page(db, request.user, defaults, {}, 200)


@post("/roster/experts/new", name="roster:create", guards=[ROSTER_EDITORS])
async def roster_create(request: Request[StaffUser, Any, Any], db: DbSession) -> Response[Any]:
    form = await request.form()
    values = {key: [str(v) for v in form.getall(key)] for key in form if key != "_csrf_token"}
    try:
        draft = roster.parse_expert_form(values)
        expert = await roster.create_expert(db, draft, unit_id=request.user.unit_id)
    except FormInvalid as exc:
        await db.rollback()
        return await _expert_form_page(db, request.user, values, exc.errors, 400)  # type: ignore[return-value]
    return Redirect(f"/roster/experts/{expert.id}", status_code=303)  # type: ignore[return-value]


@get("/roster/experts/{expert_id:int}", name="roster:detail", guards=[ROSTER_READERS])
async def roster_detail(
    request: Request[StaffUser, Any, Any],
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    expert_id: FromPath[int],
) -> Template:
    schedule = await roster.expert_schedule(db, cipher, request.user, expert_id, client_ip=client_ip(request))
    feed_url = f"{settings.public_base_url}/calendar/experts/{schedule.expert.feed_token}.ics"
    return Template(
        template_name="roster/expert_detail.html",
        context={
            "schedule": schedule,
            "feed_url": feed_url,
            "webcal_url": "webcal://" + feed_url.split("://", 1)[-1],
            "can_edit": request.user.role in (Role.COORDINATOR.value, Role.ADMIN.value),
            **vocabularies(),
        },
        headers={"Cache-Control": "no-store"},
    )


@post("/roster/experts/{expert_id:int}/feed-token", name="roster:regenerate_feed", guards=[ROSTER_EDITORS])
async def roster_regenerate_feed(
    request: Request[StaffUser, Any, Any], db: DbSession, expert_id: FromPath[int]
) -> Redirect:
    await roster.regenerate_feed_token(db, expert_id, viewer_unit_id=request.user.unit_id)
    return Redirect(f"/roster/experts/{expert_id}", status_code=303)


ROUTES: list[Any] = [roster_list, roster_new, roster_create, roster_detail, roster_regenerate_feed]
