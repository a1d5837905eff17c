"""What the case-work tests share: staff made without a password hash (fast), cases opened through the
intake service, and raw reads of the rows an act leaves behind."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession, create_sessionmaker
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID
from hotline.casework_models import MandatoryReport, Task
from hotline.intake import CallIntake, log_call
from hotline.models import ReferralCase
from tests.hotline.calls import a_call


async def quick_user(
    session: AsyncSession, role: Role, *, unit_id: int = DEFAULT_UNIT_ID, active: bool = True
) -> StaffUser:
    """A staff member who never logs in: no password hashing, so property tests can make many."""
    user = StaffUser(
        username=f"{role}-{uuid.uuid4().hex[:8]}",
        display_name=f"测试{role}",
        role=role,
        unit_id=unit_id,
        password_hash="not-a-hash",
        is_active=active,
    )
    session.add(user)
    await session.commit()
    return user


async def open_case(
    session: AsyncSession,
    cipher: FieldCipher,
    operator: StaffUser,
    *,
    at: datetime | None = None,
    **call: Any,
) -> str:
    logged = await log_call(
        session,
        cipher,
        intake=CallIntake(**a_call(**call)),
        actor=operator,
        timezone="Asia/Shanghai",
        now=at,
    )
    return logged.case_number


async def one_row(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).one()


async def case_row(engine: AsyncEngine, number: str) -> Any:
    return await one_row(engine, "SELECT * FROM referral_case WHERE number = :n", n=number)


@dataclass(frozen=True)
class Event:
    kind: str
    actor_id: int | None
    actor_label: str
    detail: dict[str, Any]
    text_ciphertext: str | None


async def events(engine: AsyncEngine, number: str, kind: str | None = None) -> list[Event]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT e.kind, e.actor_id, e.actor_label, e.detail, e.text_ciphertext FROM case_event e "
                "JOIN referral_case c ON c.id = e.case_id WHERE c.number = :n ORDER BY e.at, e.id"
            ),
            {"n": number},
        )
        found = [
            Event(r.kind, r.actor_id, r.actor_label, json.loads(r.detail), r.text_ciphertext) for r in rows
        ]
    return [event for event in found if kind is None or event.kind == kind]


async def tasks(engine: AsyncEngine, number: str) -> list[Task]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.exec(
            select(Task)
            .join(ReferralCase, col(ReferralCase.id) == Task.case_id)
            .where(ReferralCase.number == number)
            .order_by(col(Task.id))
        )
        return list(rows.all())


async def case_model(engine: AsyncEngine, number: str) -> ReferralCase:
    """The case as the application reads it (times aware, on SQLite too)."""
    async with create_sessionmaker(engine)() as session:
        return (await session.exec(select(ReferralCase).where(ReferralCase.number == number))).one()


async def audits(engine: AsyncEngine, action: str, number: str | None = None) -> list[Any]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM audit_event WHERE action = :a ORDER BY id"), {"a": action}
        )
        return [row for row in rows.all() if number is None or row.object_id == number]


async def _case_ids(engine: AsyncEngine, number: str) -> tuple[int, int]:
    case = await one_row(engine, "SELECT id, unit_id FROM referral_case WHERE number = :n", n=number)
    return int(case.id), int(case.unit_id)


async def set_mandatory_report(engine: AsyncEngine, number: str, status: str) -> None:
    """The case's mandatory report, added or moved straight in the table: the intake rules that create it
    and the form that records it belong to other modules."""
    case_id, unit_id = await _case_ids(engine, number)
    async with create_sessionmaker(engine)() as session:
        report = (
            await session.exec(select(MandatoryReport).where(MandatoryReport.case_id == case_id))
        ).first()
        if report is None:
            report = MandatoryReport(
                case_id=case_id,
                unit_id=unit_id,
                trigger="category:violence",
                due_at=datetime.now(UTC) + timedelta(hours=8),
            )
        report.status = status
        session.add(report)
        await session.commit()


async def add_open_task(
    engine: AsyncEngine, number: str, *, owner_id: int | None, kind: str = "manual"
) -> int:
    case_id, unit_id = await _case_ids(engine, number)
    async with create_sessionmaker(engine)() as session:
        task = Task(
            case_id=case_id,
            unit_id=unit_id,
            kind=kind,
            title="Task",
            owner_id=owner_id,
            due_at=datetime.now(UTC) + timedelta(days=2),
        )
        session.add(task)
        await session.commit()
        return task.id or 0
