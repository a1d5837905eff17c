"""Staff administration and two-factor login in a real Chromium, as an administrator and a supervisor
would use them: the administrator adds a colleague in the district, who logs in with the temporary
password and must choose their own; the supervisor turns on two-factor login by typing the code an
authenticator app would show, and then logs in with the second factor."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from playwright.async_api import Browser, Page, expect

from core.db import utcnow
from tests.e2e.conftest import DESKTOP, LiveServer, screenshot, staff_login

pytestmark = pytest.mark.browser


async def _log_out(page: Page) -> None:
    await page.get_by_role("button", name="退出登录").click()


async def test_an_admin_adds_a_district_colleague_who_then_chooses_a_password(
    browser: Browser, live_server: LiveServer
):
    admin_context = await browser.new_context(**DESKTOP)
    page = await admin_context.new_page()
    await staff_login(page, live_server, "admin")
    await expect(page).to_have_url(re.compile(r"/admin/users$"))
    await expect(page.get_by_role("heading", name="人员管理")).to_be_visible()
    # The add form, not the staff list's filters above it (they too have a role and a unit).
    form = page.locator("form").filter(has=page.get_by_role("button", name="添加", exact=True))
    await form.get_by_label("用户名", exact=True).fill("xihu-li")
    await form.get_by_label("姓名", exact=True).fill("西湖区 李老师")
    await form.get_by_label("角色").select_option("operator")
    await form.get_by_label("单位").select_option(label="西湖区家庭教育指导服务站")
    await form.get_by_role("button", name="添加", exact=True).click()
    notice = page.locator("[data-temporary-password]")
    await expect(notice).to_contain_text("xihu-li")
    temporary = re.search(r"([A-Za-z0-9_-]{16})\s*$", await notice.inner_text()).group(1)
    await expect(page.locator('tr[data-username="xihu-li"]')).to_contain_text("西湖区家庭教育指导服务站")
    await screenshot(page, "admin-users")
    await admin_context.close()

    colleague = await (await browser.new_context(**DESKTOP)).new_page()
    await staff_login(colleague, live_server, "xihu-li", temporary)
    await colleague.goto(f"{live_server.base_url}/hotline/cases")
    await expect(colleague).to_have_url(re.compile(r"/account/security$"))
    await expect(colleague.get_by_text("您正在使用临时密码")).to_be_visible()
    await colleague.get_by_label("当前密码").fill(temporary)
    await colleague.get_by_label(re.compile("^新密码")).fill("violet lantern harbour")
    await colleague.get_by_role("button", name="修改密码").click()
    await expect(colleague).to_have_url(re.compile(r"/hotline/tasks$"))  # an operator's home: my tasks
    # The district's operator sees the district's demo case, and none of the city's.
    await colleague.get_by_role("link", name="个案", exact=True).click()
    await expect(colleague).to_have_url(re.compile(r"/hotline/cases$"))
    cases = colleague.locator("table.cases")
    await expect(cases).to_contain_text("FE-")
    # (The demo's district has cases on both lines now: the city's are told apart by their operators.)
    rows = await cases.locator("tbody tr").all_inner_texts()
    assert rows and not [row for row in rows if "接线员 小李" in row or "接线员 小张" in row], rows
    await colleague.context.close()


async def test_a_supervisor_turns_on_two_factor_login_and_logs_in_with_a_code(
    browser: Browser, live_server: LiveServer
):
    context = await browser.new_context(**DESKTOP)
    page = await context.new_page()
    await staff_login(page, live_server, "supervisor")
    await page.get_by_role("link", name="值班长 王老师").click()
    await expect(page.locator("svg")).to_be_visible()  # the QR code, drawn on the server
    secret = await page.locator("[data-totp-secret]").inner_text()
    app = pyotp.TOTP(secret)
    await page.get_by_label("应用中的验证码").fill(app.now())
    await page.get_by_role("button", name="开启两步验证登录").click()
    await expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
    await screenshot(page, "recovery-codes")
    await _log_out(page)

    await staff_login(page, live_server, "supervisor")
    await expect(page).to_have_url(re.compile(r"/login/second-factor"))
    await page.get_by_label("验证码").fill(app.at(utcnow() + timedelta(seconds=30)))
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(re.compile(r"/hotline/supervision$"))  # a supervisor's home: the board
    await context.close()
