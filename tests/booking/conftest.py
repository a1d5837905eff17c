"""Booking fixtures: an expert open every day, a cipher, and a way to read the SMS a parent received."""

from __future__ import annotations

import re
from datetime import time

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from booking.feed_links import issue_expert_feed
from booking.models import Appointment, AvailabilityRule, Expert, Site
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import DEFAULT_UNIT_ID
from notifications.models import OutboxMessage
from tests.conftest import TEST_DATA_KEY


@pytest.fixture
def cipher(settings: Settings) -> FieldCipher:
    return FieldCipher(settings.data_key)


async def add_expert(
    engine: AsyncEngine,
    *,
    name: str = "王老师",
    modes: str = "in_person,phone,video",
    slot_minutes: int = 50,
    buffer_minutes: int = 10,
    user_id: int | None = None,
    unit_id: int = DEFAULT_UNIT_ID,
) -> Expert:
    """An expert with a site, open 08:00–20:00 local time every day, so slots always exist."""
    async with create_sessionmaker(engine)() as session:
        site = Site(name="市家庭教育指导服务中心", address="人民路 1 号", unit_id=unit_id)
        session.add(site)
        await session.flush()
        expert = Expert(
            unit_id=unit_id,
            name=name,
            title="家庭教育指导师",
            specialties="parenting,study_pressure",
            modes=modes,
            site_id=site.id,
            slot_minutes=slot_minutes,
            buffer_minutes=buffer_minutes,
            user_id=user_id,
        )
        issue_expert_feed(FieldCipher(TEST_DATA_KEY), expert)
        session.add(expert)
        await session.flush()
        for weekday in range(7):
            session.add(
                AvailabilityRule(
                    expert_id=expert.id or 0, weekday=weekday, start_local=time(8), end_local=time(20)
                )
            )
        await session.commit()
        return expert


async def outbox_rows(engine: AsyncEngine, kind: str | None = None) -> list[OutboxMessage]:
    async with create_sessionmaker(engine)() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)  # type: ignore[arg-type]
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list((await session.exec(query)).all())


def sms_body(cipher: FieldCipher, message: OutboxMessage) -> str:
    return cipher.decrypt(message.body_ciphertext, context="outbox.body")


async def last_otp(engine: AsyncEngine, cipher: FieldCipher) -> str:
    """The code the parent would read on their phone: decrypted from the newest OTP outbox row."""
    rows = await outbox_rows(engine, "otp")
    assert rows, "no OTP SMS was queued"
    match = re.search(r"(?<!\d)(\d{6})(?!\d)", sms_body(cipher, rows[-1]))
    assert match, "the OTP SMS holds no 6-digit code"
    return match.group(1)


async def appointments(engine: AsyncEngine) -> list[Appointment]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(Appointment).order_by(Appointment.id))).all())  # type: ignore[arg-type]
