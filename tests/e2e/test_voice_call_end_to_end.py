"""The whole call, as the issue's browser test names it, with nothing written to the database by hand: the
demo operator goes on duty in Chromium; a caller rings our 12355 number, Twilio's signed webhooks
(incoming, the menu digit) queue the call; the live server's dispatcher rings the operator's desk phone
through the real Twilio client pointed at our fake; Twilio's requests for that leg (the whisper, then the
bridge on the caller's leg) come in signed; the screen-pop shows the line, the masked number and the
caller's earlier case, and the operator logs the call into it from the pop."""

from __future__ import annotations

import asyncio
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.models import ReferralCase
from hotline.voice_models import CallOutcome, CallStatus, VoiceCall
from tests.e2e.conftest import LiveServer, screenshot, serve_live, staff_login
from tests.e2e.test_voice_screen_pop import _earlier_case
from tests.fakes.twilio_server import FakeTwilio, RecordedCall
from tests.hotline.voice_world import ALWAYS_OPEN, CALLER, NUMBER_12355

pytestmark = pytest.mark.browser

VOICE_PATH = "/webhooks/twilio/voice"
DESK_PHONE = "+8657187654321"  # 0571-8765 4321, as the operator types it


@pytest.fixture
async def twilio_live_server(
    settings: Settings, tmp_path: Path, fake_twilio: FakeTwilio
) -> AsyncIterator[LiveServer]:
    """The live server in Twilio mode for voice: our number on line 12355, always open, the Calls API at
    the fake (SMS stay on the console backend)."""
    env = {
        "FH_TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "FH_TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "FH_TWILIO_API_BASE": fake_twilio.base_url,
        "FH_VOICE_NUMBERS": f"{NUMBER_12355}=12355@1",
        "FH_VOICE_HOURS": ALWAYS_OPEN,
    }
    async with serve_live(settings, tmp_path, env) as server:
        yield server


def _twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    return ET.fromstring(response.text)  # noqa: S314 (our own server's answer, in a test)


async def _rung(fake: FakeTwilio, seconds: float = 20) -> RecordedCall:
    """The operator leg the dispatcher asked Twilio to place (it runs after the menu request's answer)."""
    async with asyncio.timeout(seconds):
        while not fake.calls:  # noqa: ASYNC110 (the server is another process)
            await asyncio.sleep(0.05)
    [leg] = fake.calls
    return leg


async def _voice_row(engine: AsyncEngine, call_sid: str) -> VoiceCall:
    async with create_sessionmaker(engine)() as session:
        return (await session.exec(select(VoiceCall).where(VoiceCall.call_sid == call_sid))).one()


async def test_a_call_through_twilios_webhooks_pops_the_operators_screen_and_is_logged_into_the_earlier_case(
    twilio_live_server: LiveServer, desktop: BrowserContext, engine: AsyncEngine, fake_twilio: FakeTwilio
) -> None:
    server = twilio_live_server
    cipher = FieldCipher(server.settings.data_key)
    earlier = await _earlier_case(engine, cipher)
    page = await desktop.new_page()
    await staff_login(page, server, "operator")
    await page.get_by_role("link", name="电话值班").click()
    await page.get_by_label("您接听电话用的号码").fill("0571-8765 4321")
    await page.get_by_role("button", name="开始值班").click()
    await expect(page.locator("[data-duty]")).to_have_attribute("data-duty", "available")
    await expect(page.locator("#screen-pop")).to_have_attribute("data-live", "1")

    voice = server.base_url + VOICE_PATH
    call_sid = "CA" + secrets.token_hex(16)
    async with httpx.AsyncClient(timeout=20) as twilio:
        # The caller rings our number and presses 2 (a child's safety): queued at the front of 12355.
        assert (
            _twiml(
                await fake_twilio.post_voice(
                    twilio, voice + "/incoming", call_sid, from_=CALLER, to=NUMBER_12355
                )
            ).find("Gather")
            is not None
        )
        queued = _twiml(
            await fake_twilio.post_voice(
                twilio,
                voice + "/menu",
                call_sid,
                from_=CALLER,
                to=NUMBER_12355,
                Digits="2",
                CallStatus="in-progress",
            )
        )
        assert queued.findtext("Enqueue") == "12355-crisis"

        # The dispatcher rings the operator who went on duty in the browser, from the number called.
        leg = await _rung(fake_twilio)
        assert (leg.to, leg.from_) == (DESK_PHONE, NUMBER_12355)
        row = await _voice_row(engine, call_sid)
        assert row.status == CallStatus.OFFERED
        pop = page.locator(f'[data-voice-call="{row.id}"]')
        await expect(pop).to_have_attribute("data-status", "offered", timeout=10_000)
        await expect(pop.locator("[data-crisis]")).to_be_visible()
        await expect(pop).to_contain_text("12355")
        await expect(pop.locator("[data-caller]")).to_have_text("138****5678")
        await expect(pop.locator(f'tr[data-case="{earlier}"]')).to_be_visible()

        # The operator picks up: Twilio fetches the whisper on their leg, then bridges the queue, running
        # the <Queue url> on the caller's leg with the operator leg's CallSid.
        ringing = fake_twilio.voice_params(leg.sid, from_=leg.from_, to=leg.to, CallStatus="ringing")
        await fake_twilio.post_signed(
            twilio, leg.status_callback or "", {**ringing, "Direction": "outbound-api"}
        )
        answered = fake_twilio.voice_params(leg.sid, from_=leg.from_, to=leg.to, CallStatus="in-progress")
        whisper = _twiml(
            await fake_twilio.post_signed(twilio, leg.url, {**answered, "Direction": "outbound-api"})
        )
        queue = whisper.find("Dial/Queue")
        assert queue is not None and queue.text == "12355-crisis"
        bridged = await fake_twilio.post_voice(
            twilio,
            queue.get("url") or "",
            call_sid,
            from_=CALLER,
            to=NUMBER_12355,
            DequeingCallSid=leg.sid,
            QueueTime="6",
            CallStatus="in-progress",
        )
        assert bridged.status_code == 200
        await expect(pop).to_have_attribute("data-status", "connected", timeout=10_000)
        await screenshot(page, "voice-call-end-to-end-pop")

        await (
            pop.locator(f'tr[data-case="{earlier}"]')
            .get_by_role("link", name="将本次来电登记到此个案")
            .click()
        )
        await expect(page.get_by_label("已有个案编号（留空则新建个案）")).to_have_value(earlier)
        await expect(page.locator("[data-caller]")).to_have_text("138****5678")
        await page.get_by_label("孩子年龄段").select_option(label="12–14 岁")
        await page.get_by_label("来电摘要").fill("家长来电：孩子在学校受到威胁，已约好明天再联系。")
        await page.get_by_role("button", name="保存来电记录").click()
        await expect(page).to_have_url(re.compile(rf"/hotline/cases/{earlier}\?logged=\d+$"))
        await expect(
            page.locator("#timeline article.call").filter(has_text="孩子在学校受到威胁")
        ).to_be_visible()

        # Both legs end as Twilio reports them: the record is whole and linked to the case.
        await fake_twilio.post_voice(
            twilio,
            voice + "/status",
            call_sid,
            from_=CALLER,
            to=NUMBER_12355,
            CallStatus="completed",
            CallDuration="240",
        )
        done = fake_twilio.voice_params(leg.sid, from_=leg.from_, to=leg.to, CallStatus="completed")
        await fake_twilio.post_signed(
            twilio, leg.status_callback or "", {**done, "Direction": "outbound-api"}
        )

    row = await _voice_row(engine, call_sid)
    assert (row.status, row.outcome, row.duration_seconds) == (CallStatus.ENDED, CallOutcome.ANSWERED, 240)
    assert row.case_id is not None and row.hotline_call_id is not None
    async with create_sessionmaker(engine)() as session:
        case = await session.get(ReferralCase, row.case_id)
        assert case is not None and case.number == earlier
