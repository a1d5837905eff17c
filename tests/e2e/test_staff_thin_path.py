"""Staff on a desktop browser, end to end: an operator logs a call and reads the case, a coordinator adds an
expert whom a parent then finds on a phone, and the pages refuse people whose role does not fit.
Real server, real Chromium, Chinese locale."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer, screenshot, staff_login
from tests.hotline.calls import THIS_YEAR, count_rows, hotline_rows

pytestmark = pytest.mark.browser

CALLER_PHONE = "13812345678"
CALLER_PHONE_MASKED = "138****5678"
SUMMARY = "初二学生在校被同学多次殴打，母亲来电求助，孩子不愿上学。"
FORBIDDEN = "您的角色无权访问此页面。"
NEW_EXPERT = "周晓梅"
NEW_SITE = "东城区家庭教育服务站"
# The weekly hours the coordinator types (Wednesday 09:00-12:00, Saturday 14:00-17:00) and the slot starts
# they give with 30-minute consultations and 15-minute breaks: a 45-minute grid from each window's start.
EXPECTED_STARTS = {
    "星期三": {"09:00", "09:45", "10:30", "11:15"},
    "星期六": {"14:00", "14:45", "15:30", "16:15"},
}


async def _fill_call_form(page: Page, *, phone: str) -> None:
    await page.get_by_label("热线").select_option(label="12355 青少年服务台")
    await page.get_by_label("孩子年龄段").select_option(label="12–14 岁")
    await page.get_by_label("来电人身份").select_option(label="家长")
    await page.get_by_label("问题类别").select_option(label="欺凌")
    await page.get_by_label("紧急程度").select_option(label="优先")
    await page.get_by_label("来电摘要").fill(SUMMARY)
    await page.get_by_label("来电人手机号码").fill(phone)


async def _log_a_call(page: Page) -> str:
    """From any staff page, log a valid call through the form; returns the case page's URL."""
    await page.get_by_role("link", name="登记来电").first.click()
    await _fill_call_form(page, phone=CALLER_PHONE)
    await page.get_by_role("button", name="保存来电记录").click()
    await expect(page).to_have_url(re.compile(r"/hotline/cases/[0-9A-Z-]+\?logged=\d+$"))
    return page.url.split("?", 1)[0]


async def _case_reads(engine: AsyncEngine, case_number: str, username: str) -> int:
    """`case.read` audit rows for this case whose actor is the named staff account (by id and label)."""
    query = text(
        "SELECT COUNT(*) FROM audit_event JOIN staff_user ON staff_user.id = audit_event.actor_id"
        " WHERE audit_event.action = 'case.read' AND audit_event.object_type = 'referral_case'"
        " AND audit_event.object_id = :number AND staff_user.username = :username"
        " AND audit_event.actor_label = :username"
    )
    async with engine.connect() as conn:
        result = await conn.execute(query, {"number": case_number, "username": username})
        return int(result.scalar_one())


async def test_operator_logs_a_call_and_reads_the_case_with_the_phone_masked(
    live_server: LiveServer, desktop: BrowserContext, engine: AsyncEngine
):
    # The demo has logged calls of its own: what this test adds is counted from there.
    before = await hotline_rows(engine)
    # Numbers run per line and year; the demo also has last year's cases (app/demo_reports.py).
    demo_12355_cases = await count_rows(engine, "referral_case", f"number LIKE '12355-{THIS_YEAR}-%'")
    page = await desktop.new_page()
    await staff_login(page, live_server, "operator")
    await expect(page).to_have_url(f"{live_server.base_url}/hotline/tasks")  # an operator's home: my tasks

    await page.get_by_role("link", name="登记来电").first.click()
    await expect(page.get_by_role("heading", name="登记来电")).to_be_visible()

    # A mistyped number: the form comes back with the reason in Chinese, keeps what was typed, saves nothing.
    await _fill_call_form(page, phone="12345")
    await page.get_by_role("button", name="保存来电记录").click()
    await expect(page.get_by_role("alert")).to_have_text("部分内容需要修改。")
    phone_input = page.get_by_label("来电人手机号码")
    await expect(phone_input).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#caller_phone-error")).to_have_text(
        "请填写中国大陆手机号码：11 位数字，以 13 至 19 开头。"
    )
    await expect(page.get_by_label("来电摘要")).to_have_value(SUMMARY)
    await expect(page.get_by_label("问题类别")).to_have_value("bullying")
    await screenshot(page, "operator-call-form-invalid-phone")
    assert await hotline_rows(engine) == before

    await phone_input.fill(CALLER_PHONE)
    await page.get_by_role("button", name="保存来电记录").click()

    # The rejected attempt took no number: this case follows the demo's on the 12355 line.
    case_number = f"12355-{THIS_YEAR}-{demo_12355_cases + 1:06d}"
    await expect(page).to_have_url(re.compile(rf"/hotline/cases/{re.escape(case_number)}\?logged=\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"个案 {case_number}")
    await expect(page.get_by_role("status")).to_have_text("来电已保存到此个案。")
    await expect(page.locator(".call .summary")).to_have_text(SUMMARY)
    await expect(page.locator(".call")).to_contain_text(CALLER_PHONE_MASKED)
    facts = page.locator("dl.facts").first  # the case's facts; the child's follow further down
    await expect(facts).to_contain_text("12355 青少年服务台")
    await expect(facts).to_contain_text("欺凌")
    html = await page.content()
    assert CALLER_PHONE not in html
    assert CALLER_PHONE[3:] not in html  # nor the digits behind the mask, in any other form
    await screenshot(page, "operator-case-page")

    assert await count_rows(engine, "referral_case") == before["cases"] + 1
    assert await _case_reads(engine, case_number, "operator") == 1

    # The case is in the operator's list, phone masked there too.
    await page.get_by_role("link", name="个案", exact=True).click()
    row = page.locator("table.cases tbody tr", has_text=case_number)
    await expect(row).to_contain_text(CALLER_PHONE_MASKED)
    assert CALLER_PHONE not in await page.content()

    # Opening it again from the list is another audited read.
    await row.get_by_role("link", name=case_number).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"个案 {case_number}")
    assert await _case_reads(engine, case_number, "operator") == 2


async def _day_slots(page: Page) -> list[tuple[str, list[str]]]:
    """Each day heading of the free-times page with the times offered under it."""
    return await page.evaluate(
        """() => [...document.querySelectorAll('main h2')]
            .filter(h => h.nextElementSibling && h.nextElementSibling.matches('.slots'))
            .map(h => [h.textContent.trim(),
                       [...h.nextElementSibling.querySelectorAll('a')].map(a => a.textContent.trim())])"""
    )


async def test_coordinator_adds_an_expert_whom_a_parent_can_then_book(
    live_server: LiveServer, desktop: BrowserContext, browser: Browser
):
    page = await desktop.new_page()
    await staff_login(page, live_server, "coordinator")
    await expect(page).to_have_url(f"{live_server.base_url}/roster/experts")
    await expect(page.get_by_role("link", name=NEW_EXPERT)).to_have_count(0)

    await page.get_by_role("link", name="添加专家").click()
    await expect(page.get_by_role("heading", name="添加专家")).to_be_visible()
    await page.get_by_label("姓名").fill(NEW_EXPERT)
    await page.get_by_label("职称").fill("家庭教育指导师")
    await page.get_by_role("checkbox", name="家庭教育", exact=True).check()
    await page.get_by_role("checkbox", name="学业压力", exact=True).check()
    await page.locator("select[name=site_id]").select_option(label="新场所（在下方填写）")
    await page.get_by_label("新场所名称").fill(NEW_SITE)
    await page.get_by_label("新场所地址").fill("东四北大街 12 号")
    await page.get_by_role("checkbox", name="视频咨询").check()
    await page.get_by_label("每次咨询时长（分钟）").fill("30")
    await page.get_by_label("两次咨询间隔（分钟）").fill("15")
    for row, (weekday, start, end) in enumerate([("星期三", "09:00", "12:00"), ("星期六", "14:00", "17:00")]):
        await page.get_by_label("星期").nth(row).select_option(label=weekday)
        await page.get_by_label("开始").nth(row).fill(start)
        await page.get_by_label("结束").nth(row).fill(end)
    await screenshot(page, "coordinator-expert-form")
    await page.get_by_role("button", name="保存专家").click()

    await expect(page).to_have_url(re.compile(r"/roster/experts/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text(NEW_EXPERT)
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text("家庭教育, 学业压力")
    await expect(facts).to_contain_text(NEW_SITE)
    await expect(facts).to_contain_text("30 + 15")
    await screenshot(page, "coordinator-expert-detail")

    # A parent, on a phone and not logged in, finds the new expert and free times on the 45-minute grid.
    parent_ctx = await browser.new_context(**PHONE)
    try:
        parent = await parent_ctx.new_page()
        await parent.goto(f"{live_server.base_url}/book")
        card = parent.locator(".card", has=parent.get_by_role("heading", name=NEW_EXPERT))
        await expect(card).to_be_visible()
        await expect(card).to_contain_text(NEW_SITE)
        await expect(card).to_contain_text("学业压力")
        await card.get_by_role("link", name="查看可预约时间").click()
        await expect(parent.get_by_role("heading", level=1)).to_have_text(NEW_EXPERT)
        await expect(parent.get_by_text("每次咨询 30 分钟")).to_be_visible()
        await expect(parent.locator(".slots a").first).to_be_visible()
        await screenshot(parent, "parent-new-expert-slots")

        days = await _day_slots(parent)
        assert days, "no free times offered for the new expert"
        for heading, starts in days:
            weekday = next((w for w in EXPECTED_STARTS if w in heading), None)
            assert weekday is not None, f"a free time on a day without opening hours: {heading}"
            assert starts and set(starts) <= EXPECTED_STARTS[weekday], (heading, starts)

        # The offered time opens the booking form for this expert.
        await parent.locator(".slots a").first.click()
        await expect(parent).to_have_url(re.compile(r"/book/experts/\d+/form\?starts_at="))
        await expect(parent.get_by_text(NEW_EXPERT)).to_be_visible()
        await expect(parent.locator("input[name=phone]")).to_be_visible()
    finally:
        await parent_ctx.close()


async def test_pages_refuse_the_wrong_role_and_send_anonymous_visitors_to_login(
    live_server: LiveServer, browser: Browser
):
    operator_ctx = await browser.new_context(**DESKTOP)
    coordinator_ctx = await browser.new_context(**DESKTOP)
    anonymous_ctx = await browser.new_context(**DESKTOP)
    try:
        operator = await operator_ctx.new_page()
        await staff_login(operator, live_server, "operator")
        case_url = await _log_a_call(operator)
        case_path = case_url.removeprefix(live_server.base_url)

        # The operator has no roster link, and typing its address gets a readable refusal.
        await expect(operator.get_by_role("link", name="专家名册")).to_have_count(0)
        for path in ("/roster/experts", "/roster/experts/new"):
            response = await operator.goto(f"{live_server.base_url}{path}")
            assert response is not None and response.status == 403, path
            await expect(operator.get_by_role("heading", level=1)).to_have_text(FORBIDDEN)
            await expect(operator.get_by_role("link", name="首页")).to_be_visible()
        await screenshot(operator, "operator-roster-forbidden")

        # Coordinators see no case content either.
        coordinator = await coordinator_ctx.new_page()
        await staff_login(coordinator, live_server, "coordinator")
        response = await coordinator.goto(case_url)
        assert response is not None and response.status == 403
        await expect(coordinator.get_by_role("heading", level=1)).to_have_text(FORBIDDEN)
        assert SUMMARY not in await coordinator.content()

        # An anonymous visitor with the case link is sent to log in, and comes back to the case after.
        anonymous = await anonymous_ctx.new_page()
        await anonymous.goto(case_url)
        await expect(anonymous).to_have_url(f"{live_server.base_url}/login?next={quote(case_path)}")
        await expect(anonymous.get_by_role("heading", name="工作人员登录")).to_be_visible()
        html = await anonymous.content()
        assert SUMMARY not in html and CALLER_PHONE_MASKED not in html
        await screenshot(anonymous, "anonymous-sent-to-login")
        await staff_login(anonymous, live_server, "operator", open_form=False)
        await expect(anonymous).to_have_url(case_url)
        await expect(anonymous.locator(".call .summary")).to_have_text(SUMMARY)
    finally:
        for context in (operator_ctx, coordinator_ctx, anonymous_ctx):
            await context.close()
