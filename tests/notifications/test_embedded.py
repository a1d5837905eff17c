"""Embedded mode (no Redis): the web process itself sends SMS from the outbox, through the console."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from app.wiring import notification_runtime
from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from notifications.dispatch import InProcessDispatcher
from notifications.outbox import enqueue, wait_for_dispatches
from notifications.sms import ConsoleSender
from tests.conftest import log_in
from tests.notifications.conftest import PARENT_PHONE, enqueue_committed, load


@pytest.fixture
async def runtime(settings, engine):
    assert settings.redis_url is None and settings.sms_backend == "console"
    runtime = notification_runtime(settings, create_sessionmaker(engine), FieldCipher(settings.data_key))
    yield runtime
    await runtime.stop()


async def _settle(runtime) -> None:
    await wait_for_dispatches()
    assert isinstance(runtime.dispatcher, InProcessDispatcher)
    await runtime.dispatcher.drain()


async def test_sms_written_with_a_committed_change_is_sent_in_process_via_the_console(
    runtime, engine, cipher
):
    await runtime.start()
    async with runtime.job_ctx["sms"].sessionmaker() as session:
        message = await enqueue(
            session, cipher, kind="otp", to_e164=PARENT_PHONE, body="【家庭教育热线】您的预约验证码为482913"
        )
        await session.commit()
    await _settle(runtime)

    assert isinstance(runtime.sender, ConsoleSender)
    [printed] = runtime.sender.recent()
    assert (printed.to_e164, printed.body) == (PARENT_PHONE, "【家庭教育热线】您的预约验证码为482913")
    row = await load(engine, message.id)
    assert (row.status, row.provider_sid) == ("sent", printed.provider_sid)


async def test_rolled_back_change_sends_nothing(runtime, engine, cipher):
    await runtime.start()
    async with runtime.job_ctx["sms"].sessionmaker() as session:
        await enqueue(session, cipher, kind="otp", to_e164=PARENT_PHONE, body="never")
        await session.rollback()
    await _settle(runtime)
    await runtime.sweep_now()
    await _settle(runtime)

    assert runtime.sender.recent() == []


async def test_sms_left_pending_while_the_server_was_down_goes_out_when_it_starts(runtime, engine, cipher):
    outbox_id = await enqueue_committed(engine, cipher, dispatcher=None, body="等待发送")
    assert (await load(engine, outbox_id)).status == "pending"

    await runtime.start()  # the first sweep runs at once
    for _ in range(50):
        await _settle(runtime)
        if runtime.sender.recent():
            break
        await asyncio.sleep(0.02)  # let the sweep task take its first turn

    assert [sms.body for sms in runtime.sender.recent()] == ["等待发送"]
    assert (await load(engine, outbox_id)).status == "sent"


async def test_console_keeps_only_the_latest_hundred_messages():
    console = ConsoleSender()
    for n in range(105):
        await console.send(PARENT_PHONE, f"#{n}")
    recent = console.recent()
    assert len(recent) == 100
    assert (recent[0].body, recent[-1].body) == ("#104", "#5")


async def test_console_log_masks_the_phone_number(caplog):
    with caplog.at_level("INFO", logger="notifications.sms"):
        await ConsoleSender().send(PARENT_PHONE, "hello")
    assert "138****5678" in caplog.text
    assert PARENT_PHONE not in caplog.text and "13812345678" not in caplog.text


async def test_dev_page_shows_printed_sms_to_logged_in_staff(app, client, engine):
    await app.state.notifications.sender.send(PARENT_PHONE, "【家庭教育热线】您的预约验证码为135790")
    await log_in(client, engine, Role.COORDINATOR)

    response = await client.get("/dev/sms")

    assert response.status_code == 200
    assert "135790" in response.text
    assert "138****5678" in response.text
    assert "13812345678" not in response.text


async def test_dev_page_asks_for_a_login(client):
    response = await client.get("/dev/sms", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_dev_page_does_not_exist_when_sms_really_go_out(twilio_settings, engine):
    from app.server import create_app

    async with AsyncTestClient(app=create_app(twilio_settings), base_url="http://testserver.local") as client:
        await log_in(client, engine, Role.ADMIN)
        response = await client.get("/dev/sms")
    assert response.status_code == 404
