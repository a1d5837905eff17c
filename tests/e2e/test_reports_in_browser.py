"""The reports in a real Chromium, as a supervisor uses them on the demo's data: the dashboard with its
charts (no script runs on it), last quarter's signed report, this quarter's report edited and signed,
its XLSX download read back, and the print view without the site's navigation."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, expect

from tests.e2e.conftest import DESKTOP, LiveServer, screenshot, staff_login

pytestmark = pytest.mark.browser


async def test_a_supervisor_reads_the_dashboard_and_signs_the_quarterly_report(
    browser: Browser, live_server: LiveServer
):
    context = await browser.new_context(**DESKTOP, java_script_enabled=False)
    page = await context.new_page()
    await staff_login(page, live_server, "supervisor")
    await expect(page).to_have_url(re.compile(r"/hotline/supervision$"))  # the supervisor's home stays
    await page.get_by_role("link", name="统计报送").click()
    await expect(page.get_by_role("heading", name="统计报送", exact=True)).to_be_visible()
    chart = page.locator('svg[data-chart="calls-day"]')
    await expect(chart).to_be_visible()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    # Every chart is an image with a text alternative.
    for svg in await page.locator("svg.chart").all():
        assert await svg.get_attribute("role") == "img"
        assert (await svg.locator("title").text_content() or "").strip()
    shot = await page.screenshot(full_page=True)
    assert len(shot) > 20_000  # a page with charts, not a blank one
    await screenshot(page, "reports-dashboard")

    await page.get_by_role("link", name="上季度").click()
    await page.get_by_role("link", name="本期报送").click()
    await expect(page.locator('tr[data-version="1"]')).to_contain_text("值班长 王老师")

    await page.goto(f"{live_server.base_url}/reports/quarterly/2026-Q4")
    await page.get_by_label("存在问题").fill("夜间来电增多，人手不足。")
    await page.get_by_role("button", name="签发此版本").click()
    await expect(page.locator('tr[data-version="1"]')).to_be_visible()
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="下载 XLSX").click()
    download = await download_info.value
    book = load_workbook(io.BytesIO((await download.path()).read_bytes()))
    texts = [row[1] for row in book.worksheets[0].iter_rows(values_only=True) if row and len(row) > 1]
    assert "夜间来电增多，人手不足。" in texts and "值班长 王老师" in texts

    await page.get_by_role("link", name="打印版").click()
    await page.emulate_media(media="print")
    await expect(page.locator("header.top")).to_be_hidden()
    await expect(page.get_by_text("夜间来电增多，人手不足。")).to_be_visible()
    await screenshot(page, "reports-print")
    await context.close()
