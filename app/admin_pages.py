"""Staff administration pages (`/admin/users`), for administrators, over their unit and those below."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from app import staff_admin, unit_admin
from app.audit_viewer import AUDIT_PAGE_SIZE, AuditFilters, search_audit
from app.staff_admin import StaffFilters, StaffForm
from app.unit_admin import UnitForm
from core.accounts import ROLE_LABELS, Role, StaffUser
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import gettext
from core.security import requires_roles
from core.settings import SettingsDep
from core.units import UNIT_KINDS
from hotline.taxonomy import LINES

__all__ = ["AuditLog", "StaffAdministration", "UnitAdministration"]

StaffRequest = Request[StaffUser, Any, Any]
_PRIVATE = {"Cache-Control": "no-store"}  # temporary passwords must not stay in a cache


async def _list_page(
    request: StaffRequest,
    db: DbSession,
    *,
    filters: StaffFilters = StaffFilters(),
    form: StaffForm | None = None,
    errors: dict[str, str] | None = None,
    created: tuple[StaffUser, str] | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="admin/users.html",
        context={
            "rows": await staff_admin.list_staff(db, request.user, filters),
            "units": await staff_admin.units_for(db, request.user),
            "roles": staff_admin.ROLE_NAMES,
            "role_labels": ROLE_LABELS,
            "lines": LINES,
            "filters": filters,
            "unit_kinds": UNIT_KINDS,
            "form": form or StaffForm(role=Role.OPERATOR.value, unit_id=str(request.user.unit_id)),
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
            "created": created,
        },
        status_code=status_code,
        headers=_PRIVATE,
    )


async def _user_page(
    request: StaffRequest,
    db: DbSession,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    temporary_password: str | None = None,
    status_code: int = 200,
) -> Template:
    sessions = await staff_admin.sessions_of(db, request.user, user_id)  # NotFound outside the scope
    user = await db.get(StaffUser, user_id)
    return Template(
        template_name="admin/user.html",
        context={
            "member": user,  # not `user`: base.html names the logged-in user so
            "sessions": sessions,
            "units": await staff_admin.units_for(db, request.user),
            "roles": staff_admin.ROLE_NAMES,
            "role_labels": ROLE_LABELS,
            "lines": LINES,
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
            "temporary_password": temporary_password,
            "is_self": user_id == request.user.id,
        },
        status_code=status_code,
        headers=_PRIVATE,
    )


def _back_to(request: StaffRequest, user_id: int) -> Redirect:
    return Redirect(request.app.route_reverse("admin:user", user_id=user_id), status_code=303)


class StaffAdministration(Controller):
    path = "/admin/users"
    guards = (requires_roles(Role.ADMIN),)
    include_in_schema = False

    @get("/", name="admin:users")
    async def users(
        self,
        request: StaffRequest,
        db: DbSession,
        q: FromQuery[str] = "",
        role: FromQuery[str] = "",
        unit: FromQuery[str] = "",
        status: FromQuery[str] = "",
    ) -> Template:
        filters = StaffFilters.checked(q=q, role=role, unit=unit, status=status)
        return await _list_page(request, db, filters=filters)

    @post("/", name="admin:add")
    async def add(self, request: StaffRequest, db: DbSession, data: URLEncodedBody[StaffForm]) -> Template:
        try:
            created = await staff_admin.add_staff(db, request.user, data, client_ip=client_ip(request))
        except FormInvalid as exc:
            await db.rollback()
            return await _list_page(request, db, form=data, errors=exc.errors, status_code=400)
        return await _list_page(request, db, created=created)

    @get("/{user_id:int}", name="admin:user")
    async def user(self, request: StaffRequest, db: DbSession, user_id: FromPath[int]) -> Template:
        return await _user_page(request, db, user_id)

    @post("/{user_id:int}", name="admin:edit")
    async def edit(
        self, request: StaffRequest, db: DbSession, user_id: FromPath[int], data: URLEncodedBody[StaffForm]
    ) -> Template | Redirect:
        try:
            await staff_admin.edit_staff(db, request.user, user_id, data, client_ip=client_ip(request))
        except FormInvalid as exc:
            await db.rollback()
            return await _user_page(request, db, user_id, errors=exc.errors, status_code=400)
        return _back_to(request, user_id)

    @post("/{user_id:int}/deactivate", name="admin:deactivate")
    async def deactivate(
        self, request: StaffRequest, db: DbSession, user_id: FromPath[int]
    ) -> Template | Redirect:
        try:
            await staff_admin.set_active(
                db, request.user, user_id, active=False, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            return await _user_page(request, db, user_id, errors=exc.errors, status_code=400)
        return _back_to(request, user_id)

    @post("/{user_id:int}/activate", name="admin:activate")
    async def activate(self, request: StaffRequest, db: DbSession, user_id: FromPath[int]) -> Redirect:
        await staff_admin.set_active(db, request.user, user_id, active=True, client_ip=client_ip(request))
        return _back_to(request, user_id)

    @post("/{user_id:int}/reset-password", name="admin:reset_password")
    async def reset_password(self, request: StaffRequest, db: DbSession, user_id: FromPath[int]) -> Template:
        _user, password = await staff_admin.reset_password(
            db, request.user, user_id, client_ip=client_ip(request)
        )
        return await _user_page(request, db, user_id, temporary_password=password)

    @post("/{user_id:int}/reset-two-factor", name="admin:reset_two_factor")
    async def reset_two_factor(
        self, request: StaffRequest, db: DbSession, user_id: FromPath[int]
    ) -> Redirect:
        await staff_admin.reset_two_factor(db, request.user, user_id, client_ip=client_ip(request))
        return _back_to(request, user_id)

    @post("/{user_id:int}/sessions/{session_id:int}/end", name="admin:end_session")
    async def end_session(
        self, request: StaffRequest, db: DbSession, user_id: FromPath[int], session_id: FromPath[int]
    ) -> Redirect:
        await staff_admin.end_session(db, request.user, user_id, session_id, client_ip=client_ip(request))
        return _back_to(request, user_id)


async def _units_page(
    request: StaffRequest,
    db: DbSession,
    *,
    form: UnitForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        template_name="admin/units.html",
        context={
            "rows": await unit_admin.unit_tree(db, request.user),
            "unit_kinds": UNIT_KINDS,
            "form": form or UnitForm(parent_id=str(request.user.unit_id)),
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
        },
        status_code=status_code,
    )


class UnitAdministration(Controller):
    """Units below an administrator's own: add, rename, reclassify, deactivate (app.unit_admin)."""

    path = "/admin/units"
    guards = (requires_roles(Role.ADMIN),)
    include_in_schema = False

    @get("/", name="admin:units")
    async def units(self, request: StaffRequest, db: DbSession) -> Template:
        return await _units_page(request, db)

    @post("/", name="admin:add_unit")
    async def add(
        self, request: StaffRequest, db: DbSession, data: URLEncodedBody[UnitForm]
    ) -> Template | Redirect:
        try:
            await unit_admin.add_unit(db, request.user, data, client_ip=client_ip(request))
        except FormInvalid as exc:
            await db.rollback()
            return await _units_page(request, db, form=data, errors=exc.errors, status_code=400)
        return Redirect(request.app.route_reverse("admin:units"), status_code=303)

    @post("/{unit_id:int}", name="admin:edit_unit")
    async def edit(
        self, request: StaffRequest, db: DbSession, unit_id: FromPath[int], data: URLEncodedBody[UnitForm]
    ) -> Template | Redirect:
        try:
            await unit_admin.edit_unit(db, request.user, unit_id, data, client_ip=client_ip(request))
        except FormInvalid as exc:
            await db.rollback()
            return await _units_page(request, db, errors=exc.errors, status_code=400)
        return Redirect(request.app.route_reverse("admin:units"), status_code=303)

    @post("/{unit_id:int}/deactivate", name="admin:deactivate_unit")
    async def deactivate(
        self, request: StaffRequest, db: DbSession, unit_id: FromPath[int]
    ) -> Template | Redirect:
        return await self._set_active(request, db, unit_id, active=False)

    @post("/{unit_id:int}/activate", name="admin:activate_unit")
    async def activate(
        self, request: StaffRequest, db: DbSession, unit_id: FromPath[int]
    ) -> Template | Redirect:
        return await self._set_active(request, db, unit_id, active=True)

    async def _set_active(
        self, request: StaffRequest, db: DbSession, unit_id: int, *, active: bool
    ) -> Template | Redirect:
        try:
            await unit_admin.set_unit_active(
                db, request.user, unit_id, active=active, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            await db.rollback()
            return await _units_page(request, db, errors=exc.errors, status_code=400)
        return Redirect(request.app.route_reverse("admin:units"), status_code=303)


class AuditLog(Controller):
    """The audit-log viewer: an administrator's search over the acts of staff in their scope."""

    path = "/admin/audit"
    guards = (requires_roles(Role.ADMIN),)
    include_in_schema = False

    @get("/", name="admin:audit")
    async def search(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        username: FromQuery[str] = "",
        action: FromQuery[str] = "",
        case_number: FromQuery[str] = "",
        date_from: FromQuery[str] = "",
        date_to: FromQuery[str] = "",
    ) -> Template:
        filters = AuditFilters(username, action, case_number, date_from, date_to)
        events = await search_audit(db, request.user, filters, timezone=settings.site_timezone)
        return Template(
            template_name="admin/audit.html",
            context={"filters": filters, "events": events, "limit": AUDIT_PAGE_SIZE},
            headers=_PRIVATE,
        )
