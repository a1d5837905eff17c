"""What the mandatory-report tests share: units, supervisors with a mobile and a duty, and row readers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from hotline.alerts import MOBILE_CONTEXT
from hotline.casework_models import CaseEvent, MandatoryReport, StaffAlert
from notifications.models import OutboxMessage
from tests.conftest import make_user

SUPERVISOR_MOBILE = "+8613900001111"


async def two_districts(engine: AsyncEngine) -> dict[str, int]:
    """The top unit (city) with two districts under it."""
    async with create_sessionmaker(engine)() as session:
        west = await create_unit(
            session,
            name="西湖区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330106",
            parent_id=DEFAULT_UNIT_ID,
        )
        east = await create_unit(
            session,
            name="上城区",
            kind=UnitKind.WOMENS_FEDERATION,
            region_code="330102",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
        return {"city": DEFAULT_UNIT_ID, "west": west.id or 0, "east": east.id or 0}


async def supervisor(
    engine: AsyncEngine,
    cipher: FieldCipher,
    *,
    unit_id: int = DEFAULT_UNIT_ID,
    mobile: str | None = None,
    on_duty: bool = False,
) -> StaffUser:
    user = await make_user(engine, Role.SUPERVISOR, unit_id=unit_id)
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(StaffUser)
            .where(col(StaffUser.id) == user.id)
            .values(
                mobile_ciphertext=cipher.encrypt_optional(mobile, context=MOBILE_CONTEXT), on_duty=on_duty
            )
        )
        await session.commit()
    return user


async def reports(engine: AsyncEngine) -> list[MandatoryReport]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(MandatoryReport).order_by(col(MandatoryReport.id)))).all())


async def alerts(engine: AsyncEngine) -> list[StaffAlert]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(StaffAlert).order_by(col(StaffAlert.id)))).all())


async def events(engine: AsyncEngine, kind_prefix: str = "report.") -> list[CaseEvent]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.exec(
            select(CaseEvent).where(col(CaseEvent.kind).startswith(kind_prefix)).order_by(col(CaseEvent.id))
        )
        return list(rows.all())


async def staff_sms(engine: AsyncEngine, cipher: FieldCipher) -> list[tuple[str, str]]:
    """Every staff-alert SMS in the outbox as (recipient, body), decrypted."""
    async with create_sessionmaker(engine)() as session:
        rows = await session.exec(select(OutboxMessage).where(OutboxMessage.kind == "staff_alert"))
        return [
            (
                cipher.decrypt(row.to_ciphertext, context="outbox.to"),
                cipher.decrypt(row.body_ciphertext, context="outbox.body"),
            )
            for row in rows.all()
        ]


async def raw(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()
