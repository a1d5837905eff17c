"""The application wires the areas explicitly, for every way the service starts: no behaviour depends on
which modules a process happened to import."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from app.wiring import send_checks
from booking.models import Appointment, AppointmentStatus
from core.db import create_sessionmaker
from notifications.models import MessageKind
from notifications.outbox import Ready, dispatch_after_commit, enqueue, wait_for_dispatches
from tests.booking.conftest import add_expert, outbox_rows
from tests.notifications.conftest import PARENT_PHONE, load, pretend_time_passed
from tests.notifications.test_reminders import DAY, _slot, _staff_books
from tests.stack import env_for

pytestmark = pytest.mark.redis

PROJECT = Path(__file__).resolve().parents[2]


def test_the_application_registers_the_reminder_check_of_booking():
    assert send_checks().covers("appointment", MessageKind.REMINDER)


async def test_a_worker_started_by_arqs_own_command_line_does_not_remind_of_a_cancelled_appointment(
    engine, queue_settings, cipher, fake_twilio
):
    expert = await add_expert(engine)
    start = await _slot(engine, queue_settings, expert, later_than=DAY + timedelta(hours=1))
    booked = await _staff_books(engine, cipher, queue_settings, expert, start)
    [reminder] = await outbox_rows(engine, "reminder")
    [confirmation] = await outbox_rows(engine, "booking_confirmed")
    async with create_sessionmaker(engine)() as session:  # cancelled by a path that forgot outbox.withdraw
        await session.exec(
            update(Appointment)
            .where(Appointment.id == booked.appointment.id)
            .values(status=AppointmentStatus.CANCELLED)
        )
        await session.commit()
    await pretend_time_passed(engine, reminder.id or 0)

    # Exactly as an operator would start it with arq's CLI, in a process that imports nothing of ours first.
    # (Asynchronously: the fake Twilio answers on this test's event loop.)
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "arq", "app.worker.WorkerSettings", "--burst",
        env=env_for(queue_settings), cwd=PROJECT, stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(worker.communicate(), timeout=120)
    assert worker.returncode == 0, stderr.decode(errors="replace")[-3000:]

    assert (await load(engine, reminder.id or 0)).status == "withdrawn"
    assert (await load(engine, confirmation.id or 0)).status == "sent"  # the worker did run and send
    assert [m.body for m in fake_twilio.messages if "提醒" in m.body] == []
    assert len(fake_twilio.messages) == 1


async def test_commits_are_dispatched_only_by_the_sessionmaker_they_were_wired_on(engine, cipher):
    class Recorder:
        def __init__(self) -> None:
            self.seen: list[int] = []

        async def dispatch(self, ready: list[Ready]) -> None:
            self.seen.extend(item.outbox_id for item in ready)

    ours, other = Recorder(), Recorder()
    our_maker, other_maker = create_sessionmaker(engine), create_sessionmaker(engine)
    dispatch_after_commit(our_maker, ours)
    dispatch_after_commit(other_maker, other)
    unwired = create_sessionmaker(engine)

    async with our_maker() as session:
        mine = await enqueue(session, cipher, kind=MessageKind.OTP, to_e164=PARENT_PHONE, body="1")
        await session.commit()
    async with unwired() as session:
        await enqueue(session, cipher, kind=MessageKind.OTP, to_e164=PARENT_PHONE, body="2")
        await session.commit()
    await wait_for_dispatches()

    assert ours.seen == [mine.id]
    assert other.seen == []
