"""Fixtures for the SMS pipeline: a cipher, a Twilio sender and job context, an app client in Twilio mode,
and small helpers to write committed outbox rows and read them back. The fake Twilio, Twilio-mode settings
and the private Redis database (`fake_twilio`, `twilio_settings`, `queue_settings`) are in tests/conftest.py:
the production-stack test uses them too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.worker import Worker
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.wiring import send_checks, worker_settings
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.settings import Settings
from notifications.jobs import SmsJobDeps, job_context
from notifications.models import OutboxMessage, SmsOptOut
from notifications.outbox import Dispatcher, dispatch_after_commit, enqueue, wait_for_dispatches
from notifications.sms import TwilioSender
from notifications.worker import RUNTIME_KEY, WorkerRuntime

PARENT_PHONE = "+8613812345678"
OTHER_PHONE = "+8613998765432"


@pytest.fixture
def cipher(settings: Settings) -> FieldCipher:
    return FieldCipher(settings.data_key)


@pytest.fixture
async def twilio_sender(twilio_settings: Settings) -> AsyncIterator[TwilioSender]:
    sender = TwilioSender(twilio_settings)
    yield sender
    await sender.aclose()


@pytest.fixture
def job_ctx(
    twilio_settings: Settings, engine: AsyncEngine, cipher: FieldCipher, twilio_sender: TwilioSender
) -> dict[str, Any]:
    """The context the jobs get, for calling them directly (no worker, no dispatcher), with the checks the
    application wires."""
    deps = SmsJobDeps(
        twilio_settings, create_sessionmaker(engine), cipher, twilio_sender, None, send_checks()
    )
    return job_context(deps)


@pytest.fixture
async def twilio_app_client(twilio_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from app.server import create_app

    async with AsyncTestClient(app=create_app(twilio_settings), base_url="http://testserver.local") as client:
        yield client


async def enqueue_committed(
    engine: AsyncEngine,
    cipher: FieldCipher,
    *,
    dispatcher: Dispatcher | None = None,
    kind: str = "booking_confirmed",
    to: str = PARENT_PHONE,
    body: str = "【家庭教育热线】您已预约王老师的咨询。",
    **kwargs: Any,
) -> int:
    """Write one outbox row in its own transaction, as booking code does, and let the hand-over run."""
    maker = create_sessionmaker(engine)
    if dispatcher is not None:
        dispatch_after_commit(maker, dispatcher)
    async with maker() as session:
        message = await enqueue(session, cipher, kind=kind, to_e164=to, body=body, **kwargs)
        await session.commit()
    await wait_for_dispatches()
    assert message.id is not None
    return message.id


async def load(engine: AsyncEngine, outbox_id: int) -> OutboxMessage:
    async with create_sessionmaker(engine)() as session:
        message = await session.get(OutboxMessage, outbox_id)
        assert message is not None
        return message


async def opt_out_indexes(engine: AsyncEngine) -> set[str]:
    from sqlmodel import select

    async with create_sessionmaker(engine)() as session:
        return set((await session.exec(select(SmsOptOut.phone_index))).all())


async def run_burst_worker(settings: Settings) -> Worker:
    """A real arq worker with our production settings, run until its queue is empty and what its start-up
    sweep found has been tried (sent from the database by the worker itself, without Redis)."""
    worker = Worker(**worker_settings(settings), burst=True, handle_signals=False, poll_delay=0.02)
    try:
        await worker.main()
        runtime: WorkerRuntime = worker.ctx[RUNTIME_KEY]
        await runtime.local.drain()
    finally:
        await worker.close()
    return worker


async def pretend_time_passed(engine, outbox_id: int) -> None:
    """Bring a row's not_before (a retry's backoff, a reminder's time) into the past instead of waiting."""
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id)
            .values(not_before=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
