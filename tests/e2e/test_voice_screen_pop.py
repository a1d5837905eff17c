"""The phone-duty console in a real browser: the demo operator goes on duty with a desk number, a call
arrives (its rows written as the telephony's status callbacks would), the screen-pop shows the caller's
earlier case live, and the operator logs the call into that case. The supervisor's panel shows the
demo's calls of today. Real server, real Chromium, Chinese locale, strict CSP (our own script only)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from app.demo_voice import DEMO_VOICE_CALLS
from core.accounts import StaffUser
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from hotline.intake import CallIntake, log_call
from hotline.voice_models import CallStatus
from tests.e2e.conftest import LiveServer, screenshot, staff_login
from tests.hotline.calls import a_call
from tests.hotline.voice_rows import a_voice_call, ago, read_call, set_call

pytestmark = pytest.mark.browser


async def _earlier_case(engine: AsyncEngine, cipher: FieldCipher) -> str:
    """A case the demo operator opened for this caller before: the pop must find it by blind index."""
    async with create_sessionmaker(engine)() as session:
        operator = (await session.exec(select(StaffUser).where(StaffUser.username == "operator"))).one()
        logged = await log_call(
            session, cipher, intake=CallIntake(**a_call()), actor=operator, timezone="Asia/Shanghai"
        )
        return logged.case_number


async def test_an_operator_on_duty_gets_a_screen_pop_and_logs_the_call_into_the_earlier_case(
    live_server: LiveServer, desktop: BrowserContext, engine: AsyncEngine
) -> None:
    cipher = FieldCipher(live_server.settings.data_key)
    earlier = await _earlier_case(engine, cipher)
    page = await desktop.new_page()
    await staff_login(page, live_server, "operator")
    await page.get_by_role("link", name="电话值班").click()
    await expect(page.locator("[data-duty]")).to_have_attribute("data-duty", "off")

    # A wrong number first: refused with a message, still off duty.
    await page.get_by_label("您接听电话用的号码").fill("12345")
    await page.get_by_role("button", name="开始值班").click()
    await expect(page.locator("#answer_phone-error")).to_contain_text("中国大陆号码")
    await expect(page.locator("[data-duty]")).to_have_attribute("data-duty", "off")
    await page.get_by_label("您接听电话用的号码").fill("0571-8765 4321")
    await page.get_by_role("button", name="开始值班").click()
    await expect(page.locator("[data-duty]")).to_have_attribute("data-duty", "available")
    await expect(page.locator("[data-answer-phone]")).to_have_text("571****4321")
    await expect(page.locator("#screen-pop")).to_have_attribute("data-live", "1")  # the event stream is open

    # The telephony queues a call from the earlier caller and offers it to this operator, who answers.
    async with engine.connect() as conn:
        found = await conn.exec_driver_sql("SELECT id FROM staff_user WHERE username = 'operator'")
        operator_id = found.scalar_one()
    call = await a_voice_call(
        engine, cipher, status=CallStatus.QUEUED, queued_at=ago(25), menu_choice="2", crisis=True
    )
    await set_call(engine, call, status=CallStatus.OFFERED, operator_id=operator_id)
    pop = page.locator(f'[data-voice-call="{call}"]')
    await expect(pop).to_have_attribute("data-status", "offered", timeout=10_000)
    await expect(pop.locator("[data-crisis]")).to_be_visible()
    await expect(pop.locator("[data-caller]")).to_have_text("138****5678")
    await expect(pop.locator(f'tr[data-case="{earlier}"]')).to_be_visible()
    await set_call(engine, call, status=CallStatus.CONNECTED, answered_at=utcnow(), queue_wait_seconds=25)
    await expect(pop).to_have_attribute("data-status", "connected", timeout=10_000)
    await screenshot(page, "voice-screen-pop")

    await pop.locator(f'tr[data-case="{earlier}"]').get_by_role("link", name="将本次来电登记到此个案").click()
    await expect(page.get_by_label("已有个案编号（留空则新建个案）")).to_have_value(earlier)
    await expect(page.locator("[data-caller]")).to_have_text("138****5678")
    await page.get_by_label("孩子年龄段").select_option(label="12–14 岁")
    await page.get_by_label("来电摘要").fill("家长再次来电，孩子仍不愿上学。")
    await page.get_by_role("button", name="保存来电记录").click()
    await expect(page).to_have_url(re.compile(rf"/hotline/cases/{earlier}\?logged=\d+$"))
    linked = await read_call(engine, call)
    assert linked.hotline_call_id is not None and linked.case_id is not None


async def test_the_supervisor_sees_todays_demo_calls_per_line(
    live_server: LiveServer, desktop: BrowserContext
) -> None:
    page = await desktop.new_page()
    await staff_login(page, live_server, "supervisor")
    await page.goto(f"{live_server.base_url}/hotline/supervision")
    row = page.locator('tr[data-voice-line="12355"]')
    answered = sum(1 for call in DEMO_VOICE_CALLS if call[1] == "12355" and call[3] == "answered")
    await expect(row.locator('[data-figure="answered"]')).to_have_text(str(answered))
    await expect(row.locator('[data-figure="abandoned"]')).to_have_text("1")
    family = page.locator('tr[data-voice-line="family_edu"]')
    await expect(family.locator('[data-figure="voicemail"]')).to_have_text("1")
    await screenshot(page, "voice-supervisor-panel")
