"""Administering organisation units (`/admin/units`, `family-hotline units`): an administrator adds units
below their own, renames them, changes their kind or region code, and deactivates or reactivates them.

Units are never deleted and never moved (core.units says why): a reorganisation adds units and
deactivates old ones. A deactivated unit keeps its records, and its parent still sees them; it takes
no new staff, and it cannot be deactivated while it or a unit below it has active staff — an account
left in a closed unit would keep logging in to data nobody administers.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, get_by_outside_id
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.units import OrgUnit, check_unit_fields, create_unit, is_visible, units_within

__all__ = ["UnitForm", "UnitRow", "add_unit", "edit_unit", "set_unit_active", "unit_tree"]

_OWN_UNIT = N_("You cannot deactivate your own unit; ask an administrator above it.")
_HAS_STAFF = N_("This unit or a unit below it still has active staff: move or deactivate them first.")


@dataclass(frozen=True)
class UnitForm:
    name: str = ""
    kind: str = ""
    region_code: str = ""
    parent_id: str = ""


@dataclass(frozen=True)
class UnitRow:
    unit: OrgUnit
    depth: int  # 0 for the administrator's own unit
    active_staff: int


async def unit_tree(session: AsyncSession, admin: StaffUser) -> list[UnitRow]:
    """The administrator's unit and every unit below it, parents before children, with staff counts."""
    own = await session.get(OrgUnit, admin.unit_id)
    if own is None:
        return []
    units = await units_within(session, own.path)
    counts = dict(
        (
            await session.exec(
                select(StaffUser.unit_id, func.count())
                .where(col(StaffUser.is_active).is_(True), col(StaffUser.unit_id).in_([u.id for u in units]))
                .group_by(col(StaffUser.unit_id))
            )
        ).all()
    )
    base = own.path.count("/")
    return [UnitRow(unit, unit.path.count("/") - base, counts.get(unit.id or 0, 0)) for unit in units]


async def _unit_in_scope(session: AsyncSession, admin: StaffUser, unit_id: int) -> OrgUnit:
    # Units have no `unit_id` of their own: a unit is in scope when it is the admin's or lies below it.
    unit = await get_by_outside_id(session, OrgUnit, unit_id)
    if unit is None or not await is_visible(session, unit.id or 0, admin.unit_id):
        raise NotFound(N_("No such unit."))
    return unit


def _audit(
    session: AsyncSession, admin: StaffUser, action: str, unit: OrgUnit, client_ip: str | None
) -> None:
    record_audit(
        session,
        actor_id=admin.id,
        actor_label=admin.username,
        action=action,
        object_type="org_unit",
        object_id=unit.id or 0,
        detail={"name": unit.name, "kind": unit.kind, "region_code": unit.region_code},
        client_ip=client_ip,
    )


async def add_unit(
    session: AsyncSession, admin: StaffUser, form: UnitForm, *, client_ip: str | None
) -> OrgUnit:
    """A new unit below the administrator's own unit or one under it (never a new top unit from the web)."""
    parent_id = int(form.parent_id) if form.parent_id.isdigit() else 0
    if not await is_visible(session, parent_id, admin.unit_id):
        raise FormInvalid({"parent_id": N_("Choose the unit this one belongs to.")})
    unit = await create_unit(
        session, name=form.name, kind=form.kind, region_code=form.region_code, parent_id=parent_id
    )
    _audit(session, admin, "unit.add", unit, client_ip)
    await session.commit()
    return unit


async def edit_unit(
    session: AsyncSession, admin: StaffUser, unit_id: int, form: UnitForm, *, client_ip: str | None
) -> OrgUnit:
    unit = await _unit_in_scope(session, admin, unit_id)
    name, kind, region_code = check_unit_fields(form.name, form.kind, form.region_code)
    unit.name, unit.kind, unit.region_code = name, kind, region_code
    session.add(unit)
    _audit(session, admin, "unit.edit", unit, client_ip)
    await session.commit()
    return unit


async def set_unit_active(
    session: AsyncSession, admin: StaffUser, unit_id: int, *, active: bool, client_ip: str | None
) -> OrgUnit:
    unit = await _unit_in_scope(session, admin, unit_id)
    if unit.id == admin.unit_id:
        raise FormInvalid(
            {"active": N_("You cannot deactivate your own unit; ask an administrator above it.")}
        )
    if not active:
        below = [u.id for u in await units_within(session, unit.path)]
        staff = (
            await session.exec(
                select(func.count())
                .select_from(StaffUser)
                .where(col(StaffUser.unit_id).in_(below), col(StaffUser.is_active).is_(True))
            )
        ).one()
        if staff:
            raise FormInvalid(
                {
                    "active": N_(
                        "This unit or a unit below it still has active staff: move or deactivate them first."
                    )
                }
            )
        if any(u.active for u in await units_within(session, unit.path) if u.id != unit.id):
            raise FormInvalid({"active": N_("Deactivate the units below this one first.")})
    unit.active = active
    session.add(unit)
    _audit(session, admin, "unit.activate" if active else "unit.deactivate", unit, client_ip)
    await session.commit()
    return unit
