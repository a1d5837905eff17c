"""Staff administration by a unit's administrators, for their unit and the units below it.

Each function is one transaction and commits it, with its audit row. A user or session outside the
administrator's scope is "not found", like any record of a sibling unit. A temporary password is made
here, shown once to the administrator, and must be replaced at the user's next login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select

from core.accounts import (
    LoginSession,
    Role,
    StaffUser,
    create_staff_user,
    end_all_sessions_of,
    hash_password,
    normalize_username,
)
from core.audit import record_staff_act
from core.db import AsyncSession, get_by_outside_id, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.two_factor import reset_second_factor
from core.units import OrgUnit, get_visible, units_within, visible_to
from hotline.taxonomy import LINES

__all__ = [
    "StaffFilters",
    "StaffForm",
    "StaffRow",
    "add_staff",
    "edit_staff",
    "end_session",
    "list_staff",
    "reset_password",
    "reset_two_factor",
    "sessions_of",
    "set_active",
    "units_for",
]

ROLE_NAMES = [role.value for role in Role]


@dataclass(frozen=True)
class StaffForm:
    username: str = ""
    display_name: str = ""
    role: str = ""
    unit_id: str = ""
    line: str = ""  # a hotline line (hotline.taxonomy.LINES), or "" for every line of the unit scope


@dataclass(frozen=True)
class StaffFilters:
    """The staff list's filters; empty means "all"."""

    q: str = ""  # part of a username or a name
    role: str = ""
    unit: str = ""  # a unit id, as text from the query string
    status: str = ""  # "active" | "deactivated"

    @classmethod
    def checked(cls, *, q: str, role: str, unit: str, status: str) -> StaffFilters:
        errors: dict[str, str] = {}
        if role and role not in ROLE_NAMES:
            errors["role"] = N_("This filter value is not one of the choices.")
        if unit and not unit.isdigit():
            errors["unit"] = N_("This filter value is not one of the choices.")
        if status and status not in {"active", "deactivated"}:
            errors["status"] = N_("This filter value is not one of the choices.")
        if errors:
            raise FormInvalid(errors)
        return cls(q=" ".join(q.split())[:64], role=role, unit=unit, status=status)


@dataclass(frozen=True)
class StaffRow:
    user: StaffUser
    unit: OrgUnit
    active_sessions: int


async def units_for(session: AsyncSession, admin: StaffUser) -> list[OrgUnit]:
    """The units an administrator may place staff in: their own and those below it."""
    own = await session.get(OrgUnit, admin.unit_id)
    return [unit for unit in await units_within(session, own.path) if unit.active] if own else []


async def list_staff(
    session: AsyncSession, admin: StaffUser, filters: StaffFilters | None = None
) -> list[StaffRow]:
    """Staff of the administrator's unit and below, filtered; a unit filter includes the units under it."""
    filters = filters or StaffFilters()
    live = (
        select(LoginSession.user_id, func.count().label("n"))
        .where(col(LoginSession.expires_at) > utcnow(), col(LoginSession.second_factor_pending).is_(False))
        .group_by(col(LoginSession.user_id))
        .subquery()
    )
    rows = await session.exec(
        select(StaffUser, OrgUnit, live.c.n)
        .join(OrgUnit, col(OrgUnit.id) == StaffUser.unit_id)
        .join(live, live.c.user_id == StaffUser.id, isouter=True)
        .where(visible_to(StaffUser.unit_id, admin.unit_id), *_filter_clauses(filters))
        .order_by(col(OrgUnit.path), col(StaffUser.username))
    )
    return [StaffRow(user, unit, count or 0) for user, unit, count in rows.all()]


def _filter_clauses(filters: StaffFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.q:
        pattern = filters.q.lower()
        clauses.append(
            or_(
                col(StaffUser.username).contains(pattern, autoescape=True),
                col(StaffUser.display_name).contains(filters.q, autoescape=True),
            )
        )
    if filters.role:
        clauses.append(col(StaffUser.role) == filters.role)
    if filters.unit:
        clauses.append(visible_to(StaffUser.unit_id, int(filters.unit)))
    if filters.status:
        clauses.append(col(StaffUser.is_active).is_(filters.status == "active"))
    return clauses


async def _staff_in_scope(session: AsyncSession, admin: StaffUser, user_id: int) -> StaffUser:
    user = await get_visible(session, StaffUser, user_id, admin.unit_id)
    if user is None:
        raise NotFound(N_("No such staff member."))
    return user


async def _checked_fields(
    session: AsyncSession, admin: StaffUser, form: StaffForm
) -> tuple[str, int, str | None]:
    errors: dict[str, str] = {}
    if form.role not in ROLE_NAMES:
        errors["role"] = N_("Choose a role from the list.")
    if form.line and form.line not in LINES:
        errors["line"] = N_("Choose a line from the list.")
    unit_id = int(form.unit_id) if form.unit_id.isdigit() else 0
    if unit_id not in {unit.id for unit in await units_for(session, admin)}:
        errors["unit_id"] = N_("Choose a unit from the list.")
    if errors:
        raise FormInvalid(errors)
    return form.role, unit_id, form.line or None


def _temporary_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits: passes the policy, used once


async def add_staff(
    session: AsyncSession, admin: StaffUser, form: StaffForm, *, client_ip: str | None
) -> tuple[StaffUser, str]:
    """A new account with a temporary password (returned, to show once)."""
    role, unit_id, line = await _checked_fields(session, admin, form)
    username = normalize_username(form.username)
    if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").isalnum():
        raise FormInvalid({"username": N_("A username has letters, digits, - and _ (at most 64).")})
    if (await session.exec(select(StaffUser.id).where(StaffUser.username == username))).first():
        raise FormInvalid({"username": N_("This username is taken.")})
    password = _temporary_password()
    user = await create_staff_user(
        session,
        username=username,
        display_name=form.display_name,
        role=role,
        password=password,
        unit_id=unit_id,
        line=line,
    )
    user.must_change_password = True
    record_staff_act(session, admin, "staff.add", staff_user_id=user.id or 0, client_ip=client_ip)
    await session.commit()
    return user, password


async def edit_staff(
    session: AsyncSession, admin: StaffUser, user_id: int, form: StaffForm, *, client_ip: str | None
) -> StaffUser:
    user = await _staff_in_scope(session, admin, user_id)
    role, unit_id, line = await _checked_fields(session, admin, form)
    if user.id == admin.id and role != user.role:
        raise FormInvalid({"role": N_("You cannot change your own role; ask another administrator.")})
    user.display_name = " ".join(form.display_name.split())[:100] or user.username
    user.role, user.unit_id, user.line = role, unit_id, line
    session.add(user)
    record_staff_act(session, admin, "staff.edit", staff_user_id=user_id, client_ip=client_ip)
    await session.commit()
    return user


async def set_active(
    session: AsyncSession, admin: StaffUser, user_id: int, *, active: bool, client_ip: str | None
) -> StaffUser:
    """Deactivating ends every session of the user at once: an open tab stops working on its next click."""
    user = await _staff_in_scope(session, admin, user_id)
    if user.id == admin.id and not active:
        raise FormInvalid({"active": N_("You cannot deactivate your own account.")})
    user.is_active = active
    session.add(user)
    if not active:
        await end_all_sessions_of(session, user_id)
    record_staff_act(
        session,
        admin,
        "staff.activate" if active else "staff.deactivate",
        staff_user_id=user_id,
        client_ip=client_ip,
    )
    await session.commit()
    return user


async def reset_password(
    session: AsyncSession, admin: StaffUser, user_id: int, *, client_ip: str | None
) -> tuple[StaffUser, str]:
    """A temporary password (returned, to show once); the user's sessions end and the next login must
    choose a new password."""
    user = await _staff_in_scope(session, admin, user_id)
    password = _temporary_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    session.add(user)
    await end_all_sessions_of(session, user_id)
    record_staff_act(session, admin, "staff.password_reset", staff_user_id=user_id, client_ip=client_ip)
    await session.commit()
    return user, password


async def reset_two_factor(
    session: AsyncSession, admin: StaffUser, user_id: int, *, client_ip: str | None
) -> StaffUser:
    user = await _staff_in_scope(session, admin, user_id)
    await reset_second_factor(session, user_id)
    await end_all_sessions_of(session, user_id)
    record_staff_act(session, admin, "staff.2fa_reset", staff_user_id=user_id, client_ip=client_ip)
    await session.commit()
    await session.refresh(user)
    return user


@dataclass(frozen=True)
class SessionRow:
    id: int
    created_at: datetime
    expires_at: datetime


async def sessions_of(session: AsyncSession, admin: StaffUser, user_id: int) -> list[SessionRow]:
    await _staff_in_scope(session, admin, user_id)
    rows = await session.exec(
        select(LoginSession)
        .where(col(LoginSession.user_id) == user_id, col(LoginSession.expires_at) > utcnow())
        .order_by(col(LoginSession.created_at).desc())
    )
    return [SessionRow(row.id or 0, row.created_at, row.expires_at) for row in rows.all()]


async def end_session(
    session: AsyncSession, admin: StaffUser, user_id: int, session_id: int, *, client_ip: str | None
) -> None:
    await _staff_in_scope(session, admin, user_id)
    row = await get_by_outside_id(session, LoginSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound(N_("No such session."))
    await session.delete(row)
    record_staff_act(session, admin, "staff.session_end", staff_user_id=user_id, client_ip=client_ip)
    await session.commit()
