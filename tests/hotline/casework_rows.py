"""Rows the follow-up and supervision tests stand on: cases logged as an operator would, and tasks,
referrals, agencies and mandatory reports written straight into the tables (their own pages belong to
other modules), each with the due time a test needs."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from core.accounts import StaffUser
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from hotline import cipher_contexts
from hotline.case_terms import MandatoryReportStatus, ReferralStatus, TaskKind
from hotline.casework_models import Agency, MandatoryReport, Referral, Task
from hotline.intake import CallIntake, log_call
from hotline.models import ReferralCase
from hotline.tasks import open_task
from tests.hotline.calls import a_call

LIGHT = re.compile(r'data-light="(red|amber|green)"')


async def a_case(
    engine: AsyncEngine, cipher: FieldCipher, operator: StaffUser, **call: Any
) -> tuple[int, str]:
    """A case opened (and so owned) by `operator`, in its unit: (id, number)."""
    async with create_sessionmaker(engine)() as session:
        logged = await log_call(
            session,
            cipher,
            intake=CallIntake(**a_call(**{"caller_phone": "", **call})),
            actor=operator,
            timezone="Asia/Shanghai",
        )
    return logged.case_id, logged.case_number


async def a_task(
    engine: AsyncEngine,
    case_id: int,
    *,
    due_in: timedelta,
    owner_id: int | None,
    kind: TaskKind = TaskKind.CALLBACK,
    title: str = "Call back",
    now: datetime | None = None,
) -> int:
    async with create_sessionmaker(engine)() as session:
        unit_id = await _unit_of(session, case_id)
        task = await open_task(
            session,
            case_id=case_id,
            unit_id=unit_id,
            kind=kind,
            title=title,
            due_at=(now or utcnow()) + due_in,
            owner_id=owner_id,
        )
        await session.commit()
        return task.id or 0


async def _unit_of(session: Any, case_id: int) -> int:
    return int((await session.exec(select(ReferralCase.unit_id).where(ReferralCase.id == case_id))).one())


async def an_agency(engine: AsyncEngine, unit_id: int, name: str = "城东派出所") -> int:
    async with create_sessionmaker(engine)() as session:
        agency = Agency(unit_id=unit_id, name=name, kind="police")
        session.add(agency)
        await session.commit()
        return agency.id or 0


async def a_referral(
    engine: AsyncEngine,
    case_id: int,
    agency_id: int,
    sent_by: StaffUser,
    *,
    due_in: timedelta,
    status: ReferralStatus = ReferralStatus.SENT,
    now: datetime | None = None,
    cipher: FieldCipher | None = None,
) -> int:
    """A referral row; with `cipher` its texts are really encrypted, for a test that opens the case page
    (which decrypts them)."""
    due_at = (now or utcnow()) + due_in

    def text(plain: str, context: str) -> str:
        return cipher.encrypt(plain, context=context) if cipher else "x"

    async with create_sessionmaker(engine)() as session:
        referral = Referral(
            case_id=case_id,
            unit_id=await _unit_of(session, case_id),
            agency_id=agency_id,
            status=status,
            urgency="priority",
            reason_ciphertext=text("孩子身上有伤。", cipher_contexts.REFERRAL_REASON),
            request_ciphertext=text("请上门核实。", cipher_contexts.REFERRAL_REQUEST),
            token_hash=secrets.token_hex(32),
            sent_by_id=sent_by.id or 0,
            due_on=due_at.date(),
            due_at=due_at,
        )
        session.add(referral)
        await session.commit()
        return referral.id or 0


async def a_report(
    engine: AsyncEngine,
    case_id: int,
    *,
    due_in: timedelta,
    status: MandatoryReportStatus = MandatoryReportStatus.PENDING,
    now: datetime | None = None,
) -> int:
    async with create_sessionmaker(engine)() as session:
        report = MandatoryReport(
            case_id=case_id,
            unit_id=await _unit_of(session, case_id),
            status=status,
            trigger="ticked",
            due_at=(now or utcnow()) + due_in,
        )
        session.add(report)
        await session.commit()
        return report.id or 0


async def task_row(engine: AsyncEngine, task_id: int) -> Task:
    async with create_sessionmaker(engine)() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        return task
