"""Issue 9 in a real browser: the demo expert records a past consultation on their page (desktop), and a
parent moves their consultation to another time from the manage link (phone)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, expect
from sqlmodel import col, select

from booking.appointments import book_for_parent
from booking.models import Appointment, Expert
from booking.parent_details import ParentDetails
from booking.slots import slots_for_expert
from core.accounts import StaffUser
from core.db import create_engine, create_sessionmaker
from core.privacy import FieldCipher
from tests.e2e.conftest import LiveServer, screenshot, staff_login
from tests.e2e.test_parent_books_on_a_phone import _sent_sms

pytestmark = pytest.mark.browser


async def test_the_expert_records_attendance_and_session_notes(
    live_server: LiveServer, desktop: BrowserContext
):
    page = await desktop.new_page()
    await staff_login(page, live_server, "expert")
    await expect(page).to_have_url(re.compile(r"/expert$"))
    await expect(page.get_by_role("heading", name=re.compile("我的日程"))).to_be_visible()
    waiting = page.locator("table.desk-rows").first.locator("tr[data-appointment]")
    await expect(waiting).to_have_count(3)  # the demo's three past consultations not yet recorded
    appointment_id = int(await waiting.first.get_attribute("data-appointment") or "0")
    await waiting.first.get_by_role("link", name="查看").click()

    await expect(page.get_by_text("家长预约时的留言")).to_be_visible()
    await page.get_by_label("爽约").check()
    await page.get_by_role("button", name="保存到场情况").click()
    await expect(page.get_by_text("到场情况已保存。")).to_be_visible()
    await page.get_by_label("记录", exact=True).fill("家长未到，电话未接通，已请协调员再约。")
    await page.get_by_role("button", name="保存记录").click()
    await expect(page.get_by_text("咨询记录已保存。")).to_be_visible()
    await screenshot(page, "expert-recorded-a-consultation")

    await page.get_by_role("link", name="我的日程").first.click()
    await expect(page.locator("table.desk-rows").first.locator("tr[data-appointment]")).to_have_count(2)

    engine = create_engine(live_server.settings.database_url)
    cipher = FieldCipher(live_server.settings.data_key)
    async with create_sessionmaker(engine)() as session:
        row = await session.get(Appointment, appointment_id)
    await engine.dispose()
    assert row is not None and row.attendance == "no_show"
    assert "电话未接通" in cipher.decrypt(
        row.session_notes_ciphertext or "", context="appointment.session_notes"
    )


async def test_a_parent_moves_their_consultation_on_a_phone(live_server: LiveServer, phone: BrowserContext):
    settings = live_server.settings
    engine = create_engine(settings.database_url)
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        expert = (await session.exec(select(Expert).order_by(col(Expert.id)))).first()
        staff = (await session.exec(select(StaffUser).where(StaffUser.username == "coordinator"))).one()
        assert expert is not None
        slots = await slots_for_expert(session, settings, expert)
        booked = await book_for_parent(
            session, cipher, settings, expert_id=expert.id or 0, starts_at=slots[0], mode="phone",
            details=ParentDetails(name="王芳", phone="13812345678"), locale="zh_Hans",
            booked_by_id=staff.id or 0,
        )  # fmt: skip
    manage_url = f"{live_server.base_url}/book/manage/{booked.manage_token}"

    page = await phone.new_page()
    await page.goto(manage_url)
    await page.get_by_role("link", name="改约其他时间").click()
    await expect(page.get_by_text("在新时间确认之前，原来的时间仍为您保留。")).to_be_visible()
    chosen = page.locator(".slots a").nth(2)
    box = await chosen.bounding_box()
    assert box is not None and box["height"] >= 44  # a thumb's target on a phone
    await chosen.click()
    await expect(page.locator("strong.new-time")).to_be_visible()
    await page.get_by_role("button", name="确认改期").click()
    await expect(page).to_have_url(re.compile(r"/book/manage/[A-Za-z0-9_-]{20,}\?moved=1$"))
    await expect(page.get_by_text("已改期。我们已把新时间通过短信发给您。")).to_be_visible()
    await screenshot(page, "parent-moved-a-consultation")

    (sms,) = await _sent_sms(live_server, "booking_rescheduled")
    assert manage_url in sms and "改到" in sms
    async with create_sessionmaker(engine)() as session:
        row = await session.get(Appointment, booked.appointment.id)
    await engine.dispose()
    assert row is not None and row.starts_at != slots[0] and row.starts_at in slots
    assert row.sequence == booked.appointment.sequence + 1
