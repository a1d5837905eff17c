"""Contract check: TwilioSender against Prism serving Twilio's own OpenAPI description of the API, for
both calls we make: creating a message, and listing the messages sent to a number (page by page).

Prism validates each request against the spec (paths, required fields, formats, auth) and answers with
the spec's example. If our client usage drifts from the real API, this fails. Prism not starting is a
failure, not a skip: a contract test that silently does not run proves nothing.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from notifications.sms import ListedSms, SmsRejected, SmsTemporarilyUnavailable, TwilioSender
from tests.conftest import TWILIO_FROM
from tests.notifications.conftest import PARENT_PHONE
from tests.ports import free_port

NODE_DIR = PROJECT_ROOT / "tests" / "node"
PRISM = NODE_DIR / "node_modules" / ".bin" / "prism"
SPEC = (
    NODE_DIR
    / "node_modules"
    / "@twilio-alpha"
    / "mcp"
    / "twilio-oai"
    / "spec"
    / "json"
    / "twilio_api_v2010.json"
)
ACCOUNT_SID = "AC" + "a1b2c3d4" * 4


async def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if process.poll() is not None:
            return False
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


@pytest.fixture(scope="session")
async def prism_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    for needed in (PRISM, SPEC):
        if not Path(needed).exists():
            pytest.fail(f"{needed} is missing: run `npm ci` in tests/node")
    port = free_port()
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=NODE_DIR,
        )
    try:
        if not await _wait_for_port(port, process, seconds=60):
            pytest.fail("Prism did not start:\n" + log_path.read_text(errors="replace")[-3000:])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _sender(settings, prism_url: str, account_sid: str = ACCOUNT_SID) -> TwilioSender:
    return TwilioSender(
        settings.with_overrides(
            sms_backend="twilio",
            twilio_account_sid=account_sid,
            twilio_auth_token="contract-test-token",
            twilio_from_number=TWILIO_FROM,
            twilio_api_base=prism_url,
        )
    )


async def test_message_create_matches_twilios_contract(settings, prism_url):
    sender = _sender(settings, prism_url)
    try:
        sent = await sender.send(
            PARENT_PHONE,
            "【家庭教育热线】您的预约验证码为123456，10分钟内有效。",
            status_callback="https://hotline.example.cn/webhooks/twilio/sms-status?outbox=7",
        )
    finally:
        await sender.aclose()

    assert sent.provider_sid.startswith("SM")
    assert len(sent.provider_sid) == 34
    assert sent.status == "queued"


async def test_malformed_account_sid_is_rejected_for_good(settings, prism_url):
    sender = _sender(settings, prism_url, account_sid="not-an-account-sid")
    try:
        with pytest.raises(SmsRejected) as rejected:
            await sender.send(PARENT_PHONE, "hello")
    finally:
        await sender.aclose()

    assert rejected.value.code == 422


# The example page the spec gives for ListMessage ("readFullPage1"): two messages and a next_page_uri.
EXAMPLE_SENT = ListedSms(
    provider_sid="SMded05904ccb347238880ca9264e8fe1c",
    to="+18182008801",
    body="testing",
    created_at=datetime(2019, 5, 24, 17, 44, 46, tzinfo=UTC),
    status="sent",
)


async def test_message_lookup_matches_twilios_contract_and_follows_its_pages(
    settings, prism_url, monkeypatch
):
    # Prism answers every page with the spec's example, which always names a next page: a small limit
    # makes the lookup read three pages (2 + 2 + 1 messages), each request checked against the spec.
    monkeypatch.setattr("notifications.sms.LOOKUP_LIMIT", 5)
    sender = _sender(settings, prism_url)
    try:
        listed = await sender.sent_to(EXAMPLE_SENT.to, since=datetime(2019, 5, 24, tzinfo=UTC))
    finally:
        await sender.aclose()

    assert len(listed) == 5
    assert listed[0] == EXAMPLE_SENT
    assert {sms.provider_sid for sms in listed} == {
        EXAMPLE_SENT.provider_sid,
        "MMc26223853f8c46b4ab7dfaa6abba0a26",
    }


async def test_message_lookup_stops_at_messages_older_than_the_window(settings, prism_url):
    sender = _sender(settings, prism_url)
    try:
        listed = await sender.sent_to(EXAMPLE_SENT.to, since=datetime(2019, 5, 25, tzinfo=UTC))
    finally:
        await sender.aclose()

    assert listed == []


async def test_message_lookup_with_a_malformed_account_is_refused_by_the_contract(settings, prism_url):
    # The negative control: Prism does check our list requests (a malformed AccountSid is a 422).
    sender = _sender(settings, prism_url, account_sid="not-an-account-sid")
    try:
        with pytest.raises(SmsTemporarilyUnavailable, match="422"):
            await sender.sent_to(EXAMPLE_SENT.to, since=datetime(2019, 5, 24, tzinfo=UTC))
    finally:
        await sender.aclose()
