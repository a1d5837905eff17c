"""The red-alert job runs in the arq worker, and the SMS it writes to the outbox for an on-duty supervisor
is handed to arq as its transaction commits: it goes out at once, not at the worker's next outbox sweep
(here an hour away)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from app.wiring import sms_worker
from core.accounts import Role
from core.privacy import FieldCipher
from notifications.dispatch import ArqDispatcher
from notifications.outbox import Ready
from tests.conftest import make_user
from tests.hotline.casework_rows import a_case, a_task
from tests.hotline.test_red_alerts import _supervisor_on_duty

pytestmark = pytest.mark.redis

HOUR = timedelta(hours=1)
SUPERVISOR_MOBILE = "+8613900001111"  # as _supervisor_on_duty sets it


async def _until_sent(fake_twilio, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if fake_twilio.messages or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def test_a_red_items_sms_to_the_on_duty_supervisor_goes_to_arq_on_commit_not_at_the_sweep(
    engine, queue_settings, fake_twilio, monkeypatch
):
    settings = queue_settings.with_overrides(outbox_sweep_seconds=3600)
    cipher = FieldCipher(settings.data_key)
    operator = await make_user(engine, Role.OPERATOR)
    await _supervisor_on_duty(engine, cipher)
    case_id, number = await a_case(engine, cipher, operator)
    await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)

    handed_to_arq: list[int] = []
    dispatch = ArqDispatcher.dispatch

    async def spy(self: ArqDispatcher, ready: list[Ready]) -> None:
        handed_to_arq.extend(item.outbox_id for item in ready)
        await dispatch(self, ready)

    monkeypatch.setattr(ArqDispatcher, "dispatch", spy)

    # `family-hotline worker`: arq on Redis, its cron job checking the lights as it starts. Its start-up
    # sweep runs before that job has written anything; the next sweep is an hour away.
    worker = sms_worker(settings)
    running = asyncio.create_task(worker.run())
    try:
        await _until_sent(fake_twilio, seconds=20)  # far below the sweep's hour
    finally:
        worker.stop()
        async with asyncio.timeout(30):
            await running

    [sent] = fake_twilio.messages
    assert sent.to == SUPERVISOR_MOBILE
    assert number in sent.body  # the case number, and nothing personal besides
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, status, kind FROM outbox_message ORDER BY id"))).all()
    assert [(status, kind) for _, status, kind in rows] == [("sent", "staff_alert")]
    assert handed_to_arq == [rows[0][0]], "the worker's commit did not hand the row to arq"
