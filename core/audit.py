"""Append-only audit log: who read or changed what, and when.

Rows are written in the same transaction as the change they describe, so a change cannot commit
without its audit row. Database triggers (see the migration) refuse UPDATE and DELETE on the table.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Field, SQLModel

from core.db import AsyncSession, UTCDateTime, utcnow

if TYPE_CHECKING:
    from core.accounts import StaffUser

__all__ = ["AuditEvent", "record_audit", "record_staff_act"]


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)  # no FK: the log outlives deleted accounts
    actor_label: str = Field(max_length=120)
    action: str = Field(max_length=40)  # e.g. "case.read", "case.create", "login"
    object_type: str = Field(max_length=40, index=True)
    object_id: str = Field(max_length=64, index=True)
    detail: str = Field(default="{}")  # JSON; never personal data in clear
    client_ip: str | None = Field(default=None, max_length=64)


def record_audit(
    session: AsyncSession,
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str | int,
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_id=actor_id,
        actor_label=actor_label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        client_ip=client_ip,
    )
    session.add(event)
    return event


def record_staff_act(
    session: AsyncSession,
    actor: StaffUser,
    action: str,
    *,
    staff_user_id: int | None = None,
    client_ip: str | None,
) -> AuditEvent:
    """An act on a staff account (a login, a password change, an administrator's change): by `actor`, on
    `staff_user_id` (the actor's own account when not given)."""
    target = actor.id if staff_user_id is None else staff_user_id
    return record_audit(
        session,
        actor_id=actor.id,
        actor_label=actor.username,
        action=action,
        object_type="staff_user",
        object_id=target or 0,
        client_ip=client_ip,
    )
