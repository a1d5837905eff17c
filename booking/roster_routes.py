"""The coordinators' roster pages: list, add and read experts, regenerate an expert's feed link.

Two controllers on one path, one per guard: experts read their own schedule, only coordinators and
admins change the roster.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from booking import roster, roster_edits
from booking.feed_links import expert_feed_token
from booking.models import Expert
from booking.page_helpers import feed_urls, vocabularies
from core.accounts import Role, StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import N_
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep

ROSTER_EDITORS = requires_roles(Role.COORDINATOR, Role.ADMIN)
ROSTER_READERS = requires_roles(Role.COORDINATOR, Role.ADMIN, Role.EXPERT)
RULE_ROWS = 5

__all__ = ["ROSTER_EDITORS", "ROSTER_READERS", "RosterEditing", "RosterReading", "expert_form_page"]

StaffRequest = Request[StaffUser, Any, Any]


async def expert_form_page(
    db: DbSession,
    viewer: StaffUser,
    values: dict[str, list[str]],
    errors: dict[str, str],
    status: int,
    *,
    editing: Expert | None = None,
) -> Template:
    """The add form, or (`editing`) the edit form of that expert, which may keep its linked account."""
    rows = list(
        zip(
            values.get("rule_weekday", []),
            values.get("rule_start", []),
            values.get("rule_end", []),
            strict=False,
        )
    )
    rows += [("", "", "")] * max(RULE_ROWS - len(rows), 1)
    accounts = await roster.unlinked_expert_accounts(db, viewer_unit_id=viewer.unit_id)
    linked = await db.get(StaffUser, editing.user_id) if editing and editing.user_id else None
    return Template(
        template_name="roster/expert_form.html",
        context={
            "values": values,
            "errors": errors,
            "rule_rows": rows,
            "sites": await roster.sites(db, viewer_unit_id=viewer.unit_id),
            "accounts": [linked, *accounts] if linked else accounts,
            "editing": editing,
            **vocabularies(),
        },
        status_code=status,
    )


class RosterReading(Controller):
    path = "/roster/experts"
    guards = (ROSTER_READERS,)
    include_in_schema = False

    @get("/", name="roster:list")
    async def experts(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Template | Redirect:
        if request.user.role == Role.EXPERT.value:
            return Redirect(request.app.route_reverse("expert:home"), status_code=303)
        experts = await roster.list_experts(db, viewer_unit_id=request.user.unit_id)
        rebook = await roster_edits.appointments_to_rebook(db, cipher, viewer_unit_id=request.user.unit_id)
        return Template(
            template_name="roster/experts.html",
            context={"experts": experts, "rebook": rebook, **vocabularies()},
            headers={"Cache-Control": "no-store"},
        )

    @get("/{expert_id:int}", name="roster:detail")
    async def detail(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        expert_id: FromPath[int],
    ) -> Template | Redirect:
        if request.user.role == Role.EXPERT.value:
            # Their own page shows intake notes with an audit entry per read; this one shows none.
            own = await roster.expert_linked_to(db, request.user.id or 0)
            if own is None or own.id != expert_id:
                raise PermissionDeniedException(N_("Your role does not allow this page."))
            return Redirect(request.app.route_reverse("expert:home"), status_code=303)
        schedule = await roster.expert_schedule(
            db, cipher, request.user, expert_id, client_ip=client_ip(request)
        )
        can_edit = request.user.role in (Role.COORDINATOR.value, Role.ADMIN.value)
        rebook = (
            await roster_edits.appointments_to_rebook(
                db, cipher, viewer_unit_id=request.user.unit_id, expert_id=expert_id
            )
            if can_edit and not schedule.expert.active
            else []
        )
        return Template(
            template_name="roster/expert_detail.html",
            context={
                "schedule": schedule,
                **feed_urls(request.app, settings, expert_feed_token(cipher, schedule.expert)),
                "can_edit": can_edit,
                "rebook": rebook,
                **vocabularies(),
            },
            headers={"Cache-Control": "no-store"},
        )


class RosterEditing(Controller):
    path = "/roster/experts"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    @get("/new", name="roster:new")
    async def new(self, request: StaffRequest, db: DbSession) -> Template:
        defaults = {"slot_minutes": ["50"], "buffer_minutes": ["10"], "modes": ["in_person", "phone"]}
        return await expert_form_page(db, request.user, defaults, {}, 200)

    @post("/new", name="roster:create")
    async def create(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Template | Redirect:
        # Read as a multi-dict, not as `URLEncodedBody[dataclass]`: the form repeats fields (ticked
        # specialties and modes, rows of opening hours), and Litestar's URL-encoded parser turns a field
        # sent once into a plain string, so a `list[str]` field would refuse a form with one box ticked.
        # `booking.roster.parse_expert_form` reads every field as a list and holds the form's rules.
        form = await request.form()
        values = {key: [str(value) for value in form.getall(key)] for key in form if key != "_csrf_token"}
        try:
            draft = roster.parse_expert_form(values)
            expert = await roster.create_expert(db, cipher, draft, unit_id=request.user.unit_id)
        except FormInvalid as exc:
            await db.rollback()
            return await expert_form_page(db, request.user, values, exc.errors, 400)
        return Redirect(request.app.route_reverse("roster:detail", expert_id=expert.id), status_code=303)

    @post("/{expert_id:int}/feed-token", name="roster:regenerate_feed")
    async def regenerate_feed(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, expert_id: FromPath[int]
    ) -> Redirect:
        await roster.regenerate_feed_token(db, cipher, expert_id, viewer_unit_id=request.user.unit_id)
        return Redirect(request.app.route_reverse("roster:detail", expert_id=expert_id), status_code=303)
