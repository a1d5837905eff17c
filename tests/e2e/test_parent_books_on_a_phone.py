"""A parent books a consultation on a phone browser, as they would: real server, real Chromium."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import BrowserContext, Page, expect
from sqlmodel import select

from booking.models import Appointment
from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher, phone_index
from notifications.models import OutboxMessage
from tests.e2e.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser


PARENT_PHONE = "+8613812345678"


async def _sent_sms(server: LiveServer, kind: str, count: int = 1, to: str = PARENT_PHONE) -> list[str]:
    """The bodies of `kind` SMS to this parent once the in-process runner has sent them (status 'sent'),
    newest last. The demo's own history (app/demo_reports.py) has SMS of every kind to other numbers."""
    engine = create_engine(server.settings.database_url)
    cipher = FieldCipher(server.settings.data_key)
    to_parent = OutboxMessage.to_index == phone_index(cipher, to)
    try:
        for _ in range(100):
            async with create_sessionmaker(engine)() as session:
                rows = (
                    await session.exec(
                        select(OutboxMessage)
                        .where(OutboxMessage.kind == kind, to_parent)
                        .order_by(OutboxMessage.id)
                    )
                ).all()
            if len(rows) >= count and all(r.status == "sent" for r in rows):
                return [cipher.decrypt(r.body_ciphertext, context="outbox.body") for r in rows]
            await asyncio.sleep(0.1)
        raise AssertionError(f"{count} {kind} SMS not sent in 10 s: {[(r.id, r.status) for r in rows]}")
    finally:
        await engine.dispose()


async def _open_first_slot(page: Page, server: LiveServer) -> str:
    await page.goto(f"{server.base_url}/book")
    await page.get_by_role("link", name="查看可预约时间").first.click()
    slot = page.locator(".slots a").first
    await expect(slot).to_be_visible()
    await slot.click()
    await expect(page.locator("input[name=phone]")).to_be_visible()
    return page.url


async def _fill_booking_form(page: Page, name: str, phone: str) -> None:
    await page.locator("input[name=name]").fill(name)
    await page.locator("input[name=phone]").fill(phone)
    await page.locator("input[name=mode][value=phone]").check()
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="发送短信验证码").click()


async def test_parent_books_confirms_by_sms_code_and_cancels_by_link(
    live_server: LiveServer, phone: BrowserContext
):
    page = await phone.new_page()
    await _open_first_slot(page, live_server)

    # A typo in the phone number is caught with a reason in Chinese, and nothing is held.
    await _fill_booking_form(page, "王芳", "138 1234 567")
    await expect(page.get_by_text("请填写中国大陆手机号码")).to_be_visible()

    await page.locator("input[name=phone]").fill("138 1234 5678")
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="发送短信验证码").click()
    await expect(page).to_have_url(re.compile(r"/book/verify/[A-Za-z0-9_-]{20,}$"))

    (otp_sms,) = await _sent_sms(live_server, "otp")
    assert otp_sms.startswith("【家庭教育热线】")
    code = re.search(r"\d{6}", otp_sms).group(0)

    await page.locator("input[name=code]").fill(code)
    await page.get_by_role("button", name="确认预约").click()
    await expect(page).to_have_url(re.compile(r"/book/manage/[A-Za-z0-9_-]{20,}$"))
    await expect(page.get_by_text("预约成功")).to_be_visible()
    await expect(page.get_by_text("张慧")).to_be_visible()
    await screenshot(page, "parent-booking-confirmed")

    (confirmation,) = await _sent_sms(live_server, "booking_confirmed")
    assert page.url in confirmation  # the manage link the parent keeps is the one in the SMS

    # Later, from the link in the SMS, the parent cancels.
    manage_url = page.url
    fresh = await phone.new_page()
    await fresh.goto(manage_url)
    await fresh.get_by_role("button", name="取消本次咨询").click()
    await expect(fresh.get_by_text("已取消")).to_be_visible()
    (cancellation,) = await _sent_sms(live_server, "booking_cancelled")
    assert "已取消" in cancellation

    engine = create_engine(live_server.settings.database_url)
    async with create_sessionmaker(engine)() as session:
        # The demo's own consultations (app/demo_b_expert.py) are not this parent's.
        mine = Appointment.parent_phone_index == phone_index(
            FieldCipher(live_server.settings.data_key), PARENT_PHONE
        )
        statuses = (await session.exec(select(Appointment.status).where(mine))).all()
    await engine.dispose()
    assert statuses == ["cancelled"]


async def test_second_parent_on_the_same_slot_is_told_it_is_taken_and_offered_other_times(
    live_server: LiveServer, browser
):
    from tests.e2e.conftest import PHONE

    first_ctx, second_ctx = await browser.new_context(**PHONE), await browser.new_context(**PHONE)
    try:
        first, second = await first_ctx.new_page(), await second_ctx.new_page()
        slot_url = await _open_first_slot(first, live_server)
        await second.goto(slot_url)
        await _fill_booking_form(first, "家长甲", "13900000001")
        await expect(first).to_have_url(re.compile(r"/book/verify/"))
        await _fill_booking_form(second, "家长乙", "13900000002")
        await expect(second.get_by_text("刚刚已被他人预约")).to_be_visible()
        await expect(second.locator(".slots a").first).to_be_visible()
    finally:
        await first_ctx.close()
        await second_ctx.close()
