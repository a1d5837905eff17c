"""Who carries a case. Whoever opens a case owns it; a supervisor hands it to another operator or
supervisor of their scope; anyone on the hotline may take a case nobody owns. The case's open tasks that
the previous owner held go with it, so nothing stays on the desk of someone no longer on the case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select, update

from core.accounts import Role, StaffUser
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.units import get_visible, is_visible, visible_to
from hotline.case_acts import (
    CHANGED_MEANWHILE,
    audit_case_act,
    open_case_for_change,
    transaction,
    update_case_row,
)
from hotline.case_events import record_event
from hotline.case_scope import sees_line
from hotline.case_terms import TaskStatus
from hotline.casework_models import Task
from hotline.models import ReferralCase

__all__ = ["CASE_ROLES", "Reassignment", "assignable_staff", "reassign_case", "take_case"]

# The roles that carry cases.
CASE_ROLES = (Role.OPERATOR, Role.SUPERVISOR)


@dataclass(frozen=True)
class Reassignment:
    owner_id: int | None = None


async def assignable_staff(
    session: AsyncSession, viewer: StaffUser, case_unit_id: int | None = None, case_line: str | None = None
) -> list[StaffUser]:
    """Active operators and supervisors of the viewer's scope, by name; with `case_unit_id`, only those
    who can see a case of that unit (its unit is theirs or below it); with `case_line`, only those not
    limited to another line."""
    query = (
        select(StaffUser)
        .where(
            col(StaffUser.is_active),
            col(StaffUser.role).in_(CASE_ROLES),
            visible_to(StaffUser.unit_id, viewer.unit_id),
        )
        .order_by(col(StaffUser.display_name), col(StaffUser.id))
    )
    if case_line is not None:
        query = query.where(col(StaffUser.line).is_(None) | (col(StaffUser.line) == case_line))
    rows = await session.exec(query)
    staff = list(rows.all())
    if case_unit_id is None:
        return staff
    return [user for user in staff if await is_visible(session, case_unit_id, user.unit_id)]


async def _hand_over(
    session: AsyncSession,
    cipher: FieldCipher,
    case: ReferralCase,
    *,
    new_owner: StaffUser,
    actor: StaffUser,
    action: str,
    client_ip: str | None,
    now: datetime,
) -> None:
    previous = case.owner_id
    condition = (
        col(ReferralCase.owner_id).is_(None) if previous is None else col(ReferralCase.owner_id) == previous
    )
    if not await update_case_row(session, case, {"owner_id": new_owner.id, "updated_at": now}, condition):
        raise FormInvalid({"case": CHANGED_MEANWHILE})
    task_owner = col(Task.owner_id).is_(None) if previous is None else col(Task.owner_id) == previous
    moved = await session.exec(
        update(Task)
        .where(col(Task.case_id) == case.id, col(Task.status) == TaskStatus.OPEN, task_owner)
        .values(owner_id=new_owner.id)
        .execution_options(synchronize_session=False)
    )
    detail = {"from": previous, "to": new_owner.id, "tasks_moved": int(moved.rowcount)}
    record_event(session, cipher, case_id=case.id or 0, kind="owner", actor=actor, detail=detail, at=now)
    audit_case_act(session, actor, action, case, client_ip=client_ip, detail=detail)


async def reassign_case(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    reassignment: Reassignment,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """A supervisor gives the case to an active operator or supervisor of their scope (NotFound for
    anyone outside it) who can see the case's unit."""
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        if not actor.has_role(Role.SUPERVISOR):
            raise FormInvalid({"owner_id": N_("Only a supervisor can hand a case to someone else.")})
        if reassignment.owner_id is None:
            raise FormInvalid({"owner_id": N_("Choose who takes the case.")})
        new_owner = await get_visible(session, StaffUser, reassignment.owner_id, actor.unit_id)
        if new_owner is None:
            raise NotFound(N_("No staff member of your units has this id."))
        if not new_owner.is_active or new_owner.role not in CASE_ROLES:
            raise FormInvalid({"owner_id": N_("Choose an active operator or supervisor.")})
        if not await is_visible(session, case.unit_id, new_owner.unit_id):
            raise FormInvalid({"owner_id": N_("This person's unit cannot see this case.")})
        if not sees_line(new_owner, case.line):
            raise FormInvalid({"owner_id": N_("This person works on another line and cannot see this case.")})
        if new_owner.id == case.owner_id:
            raise FormInvalid({"owner_id": N_("This person already owns the case.")})
        await _hand_over(
            session,
            cipher,
            case,
            new_owner=new_owner,
            actor=actor,
            action="case.owner",
            client_ip=client_ip,
            now=now or utcnow(),
        )
    return case


async def take_case(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """ "I'll take it": the actor becomes the owner of a case that has none."""
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        if case.owner_id is not None:
            raise FormInvalid({"case": N_("This case already has an owner. A supervisor can reassign it.")})
        await _hand_over(
            session,
            cipher,
            case,
            new_owner=actor,
            actor=actor,
            action="case.take",
            client_ip=client_ip,
            now=now or utcnow(),
        )
    return case
