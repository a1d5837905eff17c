"""Parents' pages on a 390-px phone in real Chromium: every link and button is at least 44 px high (the
size a thumb hits reliably), the slot page is a short strip of days rather than four weeks of times, and
a parent books through the strip from the list of experts to the confirmation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher, phone_index
from notifications.opt_out import record_opt_out
from tests.e2e.conftest import PHONE, LiveServer, screenshot
from tests.e2e.test_parent_books_on_a_phone import _sent_sms

pytestmark = pytest.mark.browser

MIN_TAP_PX = 44
# Every tap target a parent meets: links, buttons and submit inputs that are shown.
_TAP_TARGETS = """
() => Array.from(document.querySelectorAll('a, button, input[type=submit]'))
  .map(el => ({el, box: el.getBoundingClientRect(), style: getComputedStyle(el)}))
  .filter(({box, style}) => box.width > 0 && box.height > 0 && style.visibility !== 'hidden')
  .map(({el, box}) => ({text: (el.innerText || el.value || el.getAttribute('href') || '').trim().slice(0, 40),
                        height: box.height, width: box.width}))
"""


@pytest.fixture
async def phone390(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(**{**PHONE, "viewport": {"width": 390, "height": 844}})
    yield context
    await context.close()


async def _assert_tap_targets(page: Page, where: str) -> int:
    targets = await page.evaluate(_TAP_TARGETS)
    assert targets, f"{where}: no tap targets found"
    small = [t for t in targets if t["height"] < MIN_TAP_PX]
    assert not small, f"{where}: tap targets under {MIN_TAP_PX} px high: {small}"
    # Nothing pushes the page sideways on a phone.
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390, where
    return len(targets)


async def test_every_tap_target_on_the_parent_pages_is_at_least_44px_and_booking_works(
    live_server: LiveServer, phone390: BrowserContext
):
    page = await phone390.new_page()
    base = live_server.base_url
    await page.goto(f"{base}/book")
    await _assert_tap_targets(page, "/book")

    # The expert's name is the link a parent taps.
    await page.locator(".card h2 a").first.click()
    await expect(page.locator(".day-strip")).to_be_visible()
    await _assert_tap_targets(page, "slot page")
    await screenshot(page, "parent-slot-strip-390")
    # Two weeks of days and one day's times: a short page, not ~13,000 px of four weeks.
    height = await page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 2500, f"slot page is {height} px tall"
    assert await page.locator(".day-strip li").count() == 14
    slot_url = page.url

    # Later days, then a day of that page, then back: all plain links.
    await page.get_by_role("link", name="后两周").click()
    await expect(page).to_have_url(re.compile(r"\?from=\d{4}-\d{2}-\d{2}$"))
    await _assert_tap_targets(page, "slot page, later days")
    free_days = page.locator(".day-strip li > a")
    if await free_days.count():
        await free_days.last.click()
        await expect(page.locator(".day-strip a.chosen")).to_have_count(1)
        await _assert_tap_targets(page, "slot page, a later day")
    await page.goto(slot_url)

    # The soonest free time is one tap away; book it.
    await page.locator(".soonest a").click()
    await expect(page.locator("input[name=phone]")).to_be_visible()
    await _assert_tap_targets(page, "form")
    await page.locator("input[name=name]").fill("陈女士")
    await page.locator("input[name=phone]").fill("139 8765 4321")
    await page.locator("input[name=mode][value=phone]").check()
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="发送短信验证码").click()
    await expect(page).to_have_url(re.compile(r"/book/verify/"))
    await _assert_tap_targets(page, "verify")

    (otp_sms,) = await _sent_sms(live_server, "otp", to="+8613987654321")
    await page.locator("input[name=code]").fill(re.search(r"\d{6}", otp_sms).group(0))
    await page.get_by_role("button", name="确认预约").click()
    await expect(page.get_by_text("预约成功")).to_be_visible()
    await _assert_tap_targets(page, "manage")
    await page.get_by_role("button", name="取消本次咨询").click()
    await expect(page.get_by_text("已取消")).to_be_visible()
    await _assert_tap_targets(page, "manage, cancelled")


async def test_an_opted_out_parent_is_told_on_the_phone_before_any_code_is_sent(
    live_server: LiveServer, phone390: BrowserContext
):
    engine = create_engine(live_server.settings.database_url)
    cipher = FieldCipher(live_server.settings.data_key)
    async with create_sessionmaker(engine)() as session:
        await record_opt_out(session, phone_index(cipher, "+8613911112222"), source="sms_stop")
        await session.commit()
    await engine.dispose()

    page = await phone390.new_page()
    await page.goto(f"{live_server.base_url}/book")
    await page.locator(".card h2 a").first.click()
    await page.locator(".slots a").first.click()
    await page.locator("input[name=name]").fill("赵先生")
    await page.locator("input[name=phone]").fill("13911112222")
    await page.locator("input[name=mode][value=phone]").check()
    await page.locator("input[name=consent]").check()
    await page.get_by_role("button", name="发送短信验证码").click()
    await expect(page.get_by_text("回复 START")).to_be_visible()
    await expect(page.get_by_role("link", name="拨打 12355")).to_have_attribute("href", "tel:12355")
    await _assert_tap_targets(page, "refused")
    await screenshot(page, "parent-opted-out-390")


async def test_the_slot_taken_page_fits_a_thumb_too(live_server: LiveServer, browser: Browser):
    contexts = [
        await browser.new_context(**{**PHONE, "viewport": {"width": 390, "height": 844}}) for _ in "ab"
    ]
    try:
        first, second = [await c.new_page() for c in contexts]
        await first.goto(f"{live_server.base_url}/book")
        await first.locator(".card h2 a").first.click()
        await first.locator(".soonest a").click()
        await second.goto(first.url)
        for page, phone in ((first, "13900000011"), (second, "13900000012")):
            await page.locator("input[name=name]").fill("家长")
            await page.locator("input[name=phone]").fill(phone)
            await page.locator("input[name=mode][value=phone]").check()
            await page.locator("input[name=consent]").check()
            await page.get_by_role("button", name="发送短信验证码").click()
        await expect(second.get_by_text("刚刚已被他人预约")).to_be_visible()
        await _assert_tap_targets(second, "slot taken")
    finally:
        for context in contexts:
            await context.close()
