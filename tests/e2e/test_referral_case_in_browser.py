"""Issue #7 end to end, as the people would do it in real Chromium: an operator logs a teacher's call
about a beaten 13-year-old, records the mandatory report and refers the case to the police and to the
school; the agencies open their links on a phone, without an account; the supervisor's board follows
the case's items; the operator accepts the feedback and closes the case (办结)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.conftest import DESKTOP, LiveServer, screenshot, staff_login

pytestmark = pytest.mark.browser

CALLER_PHONE = "13612345670"
SUMMARY = "班主任来电：初一学生（13岁）手臂和背部有多处淤青，说继父经常打他，害怕放学回家。"
SECOND_SUMMARY = "邻居来电：听到隔壁孩子（13岁）夜里哭喊，说被继父用皮带抽打。"
POLICE = "上城区公安分局 城南派出所"  # the demo's police station: a landline, so the link is shown once
SCHOOL = "杭州市明德中学 德育处"  # the demo's school: a mobile, so the link goes by SMS
SCHOOL_MOBILE_MASKED = "139****0444"
ON_DUTY_MOBILE_MASKED = "139****1234"  # app.demo.DEMO_ON_DUTY
LIGHTS = ("red", "amber", "green")
PENDING_REPORT_REFUSAL = "强制报告尚未登记向公安机关报告的情况，个案不能办结。"


async def _log_violence_call(page: Page, summary: str) -> str:
    """From any staff page, log a teacher's urgent call about violence; returns the new case's number."""
    await page.get_by_role("link", name="登记来电").first.click()
    await page.get_by_label("热线").select_option(label="12355 青少年服务台")
    await page.get_by_label("孩子年龄段").select_option(label="12–14 岁")
    await page.get_by_label("来电人身份").select_option(label="教师或学校")
    await page.get_by_label("问题类别").select_option(label="暴力或虐待")
    await page.get_by_label("紧急程度").select_option(label="紧急")
    await page.get_by_label("来电摘要").fill(summary)
    await page.get_by_label("来电人手机号码").fill(CALLER_PHONE)
    await page.get_by_role("button", name="保存来电记录").click()
    await expect(page).to_have_url(re.compile(r"/hotline/cases/[0-9A-Z-]+\?logged=\d+$"))
    return page.url.split("?", 1)[0].rsplit("/", 1)[1]


def _report_section(page: Page) -> Locator:
    return page.locator("section#mandatory-report")


async def _record_mandatory_report(page: Page, receipt: str) -> None:
    section = _report_section(page)
    await section.get_by_label("接受报告的公安机关").fill("上城区公安分局 城南派出所")
    await section.get_by_label("报告方式").select_option(label="拨打110报警")
    # The time is filled in with "now" (the latest it allows): the operator reported during the call.
    reported_at = section.get_by_label("报告时间")
    assert await reported_at.input_value() == await reported_at.get_attribute("max")
    await section.get_by_label("公安机关回执号或接警编号").fill(receipt)
    await section.get_by_role("button", name="登记报告").click()
    await expect(_report_section(page)).to_have_attribute("data-mandatory-report", "recorded")


async def _refer(page: Page, agency: str, reason: str, request: str) -> None:
    """Refer the open case page's case to `agency`, chosen in the form; ends on the "referral sent" page."""
    referrals = page.locator("section#referrals")
    await referrals.get_by_text("将此个案转介给机构").click()
    # The options read "name · kind · working days[ · no mobile]": the operator picks the agency by name.
    option = referrals.locator("select[name=agency_id] option", has_text=agency)
    # (The select's name is its label followed by the chosen option, as for any select inside its label.)
    agency_select = referrals.get_by_label(re.compile(r"^机构"))
    await agency_select.select_option(await option.get_attribute("value"))
    await referrals.get_by_label("转介原因").fill(reason)
    await referrals.get_by_label("需要机构做什么").fill(request)
    await referrals.get_by_label("紧急程度").select_option(label="紧急")
    await referrals.get_by_role("button", name="转介", exact=True).click()
    await expect(page.get_by_role("heading", name="转介已发出")).to_be_visible()


async def _sms_to(page: Page, server: LiveServer, masked_to: str, containing: str) -> str:
    """The newest console SMS to `masked_to` that contains `containing`, read on /dev/sms as staff do
    while trying the service; the in-process runner sends within moments."""
    for _ in range(50):
        await page.goto(f"{server.base_url}/dev/sms")
        rows = page.locator("main table tbody tr").filter(has_text=masked_to).filter(has_text=containing)
        if await rows.count():
            return (await rows.first.locator("td").nth(2).inner_text()).strip()
        await asyncio.sleep(0.2)
    raise AssertionError(f"no SMS to {masked_to} with {containing!r} in 10 s")


async def _agency_counts(page: Page, server: LiveServer, agency: str) -> dict[str, int]:
    """The board's open referrals of `agency` by light (zeros when it has none, so no row)."""
    await page.goto(f"{server.base_url}/hotline/supervision")
    row = page.locator('table[data-counts="agency"] tbody tr').filter(
        has=page.get_by_role("rowheader", name=agency, exact=True)
    )
    if not await row.count():
        return dict.fromkeys(LIGHTS, 0)
    return {light: int(await row.locator(f'td[data-count="{light}"]').inner_text()) for light in LIGHTS}


def _referral(page: Page, agency: str) -> Locator:
    return page.locator("section#referrals article.referral").filter(has_text=agency)


async def _answer_as_agency(page: Page, link: str, signer: str, result: str | None) -> None:
    """The agency contact opens its link on a phone, signs for the referral and, given a result, reports
    back. The page must show what the agency needs and nothing of the call."""
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("转介")
    html = await page.content()
    assert SUMMARY not in html and "班主任来电" not in html  # the call's summary stays with the hotline
    assert CALLER_PHONE not in html and CALLER_PHONE[-4:] not in html  # no caller phone, not even masked
    await expect(page.locator(".referral-request")).to_be_visible()
    facts = page.locator("dl.facts")
    for shown in ("暴力或虐待", "紧急", "12–14 岁", "男", "初中", "上城区"):
        await expect(facts).to_contain_text(shown)
    # Made for a phone: nothing wider than the screen, the buttons in reach.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.get_by_label("您的姓名（签收人）").fill(signer)
    await page.get_by_role("button", name="签收").click()
    await expect(page.get_by_text(f"签收人：{signer}。")).to_be_visible()
    await expect(page.locator("article.agency-referral")).to_have_attribute(
        "data-referral-status", "acknowledged"
    )
    if result is not None:
        await page.get_by_label("处理结果").fill(result)
        await page.get_by_role("button", name="提交反馈").click()
        await expect(page.get_by_role("status")).to_have_text("谢谢。转介单位将查看您的反馈。")
        await expect(page.locator(".referral-feedback")).to_have_text(result)


async def test_an_operator_refers_a_violence_case_and_closes_the_loop(
    live_server: LiveServer, desktop: BrowserContext, phone: BrowserContext, browser: Browser
):
    supervisor_ctx = await browser.new_context(**DESKTOP)
    try:
        boss = await supervisor_ctx.new_page()
        await staff_login(boss, live_server, "supervisor")
        await expect(boss).to_have_url(f"{live_server.base_url}/hotline/supervision")
        # The demo quarter lights the board in all three colours, the late ones listed red first.
        for light in LIGHTS:
            assert int(await boss.locator(f'[data-total="{light}"]').inner_text()) > 0, light
        late_lights = await boss.locator("table.late-items tbody tr [data-light]").evaluate_all(
            "spans => spans.map(s => s.dataset.light)"
        )
        assert {"red", "amber"} <= set(late_lights)
        assert late_lights == sorted(late_lights, key=["red", "amber"].index)
        # Each item says what it is in Chinese: rule tasks by their kind, as on "my tasks".
        what = await boss.locator("table.late-items tbody td:nth-child(2)").all_inner_texts()
        assert what and not [text for text in what if re.search(r"[A-Za-z]{2,}", text)], what
        await screenshot(boss, "supervisor-demo-board")
        police_before = await _agency_counts(boss, live_server, POLICE)

        # 1. The operator logs the call; the mandatory report is opened with the case, its clock running.
        page = await desktop.new_page()
        await staff_login(page, live_server, "operator")
        number = await _log_violence_call(page, SUMMARY)
        case_url = f"{live_server.base_url}/hotline/cases/{number}"
        await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "accepted")
        await expect(_report_section(page)).to_have_attribute("data-mandatory-report", "pending")
        await expect(_report_section(page).locator("[data-light]")).to_have_attribute("data-light", "amber")

        # The supervisor on duty is told by SMS (the case number only), and the board lists the report.
        alert = await _sms_to(boss, live_server, ON_DUTY_MOBILE_MASKED, number)
        assert SUMMARY not in alert and CALLER_PHONE[-4:] not in alert
        await boss.goto(f"{live_server.base_url}/hotline/supervision")
        report_row = boss.locator(f'tr[data-report="{number}"]')
        await expect(report_row.locator("[data-light]")).to_have_attribute("data-light", "amber")

        # 2. The operator records the report made to 110.
        await _record_mandatory_report(page, "JJ20261126-0457")
        await expect(_report_section(page)).to_contain_text("已向公安机关报告。")
        await expect(_report_section(page)).to_contain_text("拨打110报警")
        await expect(_report_section(page)).to_contain_text("JJ20261126-0457")
        await boss.reload()
        await expect(boss.locator(f'tr[data-report="{number}"]')).to_have_count(0)

        # Triage: what the work needs to know of the child, and nothing more.
        child = page.locator("section#child")
        await child.get_by_text("修改儿童信息").click()
        await child.get_by_label(re.compile(r"^性别")).select_option(label="男")
        await child.get_by_label("周岁年龄").fill("13")
        await child.get_by_label(re.compile(r"^学段")).select_option(label="初中")
        await child.get_by_label("所在区县").fill("上城区")
        await child.get_by_role("button", name="保存儿童信息").click()
        await expect(page.locator("section#child dl.facts")).to_contain_text("13")

        # 3. Two referrals. The police station has no mobile: its link is shown once, to pass on by hand.
        await _refer(page, POLICE, "孩子自述长期被继父殴打，身上有新伤。", "请上门核实孩子的安全，依法处置。")
        await expect(page.get_by_text("此机构没有登记手机号码")).to_be_visible()
        police_link = (await page.locator("code.referral-link").inner_text()).strip()
        assert police_link.startswith(f"{live_server.base_url}/r/")
        await page.get_by_role("link", name="返回个案").click()
        await expect(page).to_have_url(re.compile(rf"/hotline/cases/{re.escape(number)}#referrals$"))
        assert police_link not in await page.content()  # shown once: not on the case page

        # The school's contact has a mobile: the link goes by SMS.
        await _refer(page, SCHOOL, "学生在校期间需要关注和保护。", "请班主任关注孩子在校情况，联系家长。")
        await expect(page.get_by_text("机构联系人将通过短信收到链接。")).to_be_visible()
        await expect(page.locator("code.referral-link")).to_have_count(0)
        school_sms = await _sms_to(page, live_server, SCHOOL_MOBILE_MASKED, "/r/")
        found = re.search(r"https?://\S+/r/[A-Za-z0-9_-]+", school_sms)
        assert found, school_sms
        school_link = found.group(0)
        assert SUMMARY not in school_sms and CALLER_PHONE[-4:] not in school_sms

        await page.goto(case_url)
        await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "referred")
        police = _referral(page, POLICE)
        await expect(police).to_have_attribute("data-referral-status", "sent")
        await expect(police).to_have_attribute("data-light", "green")  # due in 7 working days
        check_tasks = page.locator("section#tasks tr[data-task-status=open]").filter(has_text="转介")
        await expect(check_tasks).to_have_count(2)
        await expect(check_tasks.locator("[data-light]").first).to_have_attribute("data-light", "green")
        await screenshot(page, "operator-case-referred")

        # The board counts the open police referral, in its light.
        police_open = await _agency_counts(boss, live_server, POLICE)
        assert sum(police_open.values()) == sum(police_before.values()) + 1, (police_before, police_open)
        assert police_open["green"] >= 1

        # 4. The agencies, on phones and without an account, sign and report back.
        agency = await phone.new_page()
        await _answer_as_agency(
            agency, police_link, "刘警官", "已上门核实，对继父予以训诫并出具告诫书，孩子暂由外婆照料。"
        )
        await screenshot(agency, "agency-police-on-a-phone")
        school = await phone.new_page()
        await _answer_as_agency(school, school_link, "吴主任", None)
        await screenshot(school, "agency-school-acknowledged-on-a-phone")

        # Feedback in, but not yet read: the referral stays open on the board.
        police_fed_back = await _agency_counts(boss, live_server, POLICE)
        assert sum(police_fed_back.values()) == sum(police_open.values())

        # 5. The operator accepts the police feedback; the supervisor revokes the school referral.
        await page.goto(case_url)
        police = _referral(page, POLICE)
        await expect(police).to_have_attribute("data-referral-status", "feedback")
        await expect(police.locator(".referral-feedback")).to_contain_text("出具告诫书")
        await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "follow_up")
        await police.get_by_role("button", name="采纳反馈").click()
        await expect(_referral(page, POLICE)).to_have_attribute("data-referral-status", "closed")
        await expect(_referral(page, SCHOOL).get_by_role("button", name="撤回转介")).to_have_count(0)

        police_after = await _agency_counts(boss, live_server, POLICE)
        assert sum(police_after.values()) == sum(police_before.values()), (police_before, police_after)

        await boss.goto(case_url)
        school_ref = _referral(boss, SCHOOL)
        await expect(school_ref).to_have_attribute("data-referral-status", "acknowledged")
        await school_ref.get_by_label("撤回原因").fill("孩子已转学，由新学校跟进。")
        await school_ref.get_by_role("button", name="撤回转介").click()
        await expect(_referral(boss, SCHOOL)).to_have_attribute("data-referral-status", "revoked")
        # The school's link is dead now.
        response = await school.goto(school_link)
        assert response is not None and response.status == 404
        assert "德育处" not in await school.content()

        # 6. The operator closes the case with an outcome and a summary; a satisfaction call-back follows.
        await page.goto(case_url)
        await page.get_by_text("办结个案").click()
        await page.get_by_label("办结结果").select_option(label="已移交相关部门继续处理")
        await page.get_by_label("办结小结").fill(
            "已报警并转介派出所，继父被训诫，孩子由外婆照料，学校持续关注。"
        )
        await page.get_by_role("button", name="办结", exact=True).click()
        await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "closed")
        await expect(page.locator("dl.facts").first).to_contain_text("已移交相关部门继续处理")
        await expect(page.get_by_role("note").filter(has_text="该个案已办结")).to_be_visible()
        satisfaction = page.locator("section#tasks tr[data-task-status=open]").filter(has_text="满意度回访")
        await expect(satisfaction).to_have_count(1)
        await expect(satisfaction.get_by_label("来电人的评价")).to_be_visible()
        await screenshot(page, "operator-case-closed")

        # The timeline tells the story in words, each step attributed: no event codes left untranslated.
        heads = await page.locator("ol.timeline .timeline-head").all_inner_texts()
        assert not [h for h in heads if re.search(r"\b(report|referral|task)\.[a-z_]+", h)], heads
        story = "\n".join(heads)
        for step in (
            "启动强制报告",
            "已向公安机关强制报告",
            "转介已发出",
            "机构已签收转介",
            "机构反馈处理结果",
            "采纳转介反馈",
            "撤回转介",
        ):
            assert step in story, (step, story)
        assert f"{POLICE}（机构）" in story and "agency:" not in story  # the agency's steps are its own
    finally:
        await supervisor_ctx.close()


async def test_closing_is_refused_while_the_mandatory_report_is_pending(
    live_server: LiveServer, desktop: BrowserContext
):
    page = await desktop.new_page()
    await staff_login(page, live_server, "operator")
    number = await _log_violence_call(page, SECOND_SUMMARY)
    await expect(_report_section(page)).to_have_attribute("data-mandatory-report", "pending")

    await page.get_by_text("办结个案").click()
    await page.get_by_label("办结结果").select_option(label="问题已解决")
    await page.get_by_label("办结小结").fill("来电人称情况已缓解。")
    await page.get_by_role("button", name="办结", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text(PENDING_REPORT_REFUSAL)
    await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "accepted")
    await expect(_report_section(page)).to_have_attribute("data-mandatory-report", "pending")
    # What was typed is kept, so the operator can close once the report is recorded.
    await expect(page.get_by_label("办结小结")).to_have_value("来电人称情况已缓解。")
    await screenshot(page, "operator-close-refused")

    await page.goto(f"{live_server.base_url}/hotline/cases/{number}")
    await _record_mandatory_report(page, "JJ20261126-0458")
    await page.get_by_text("办结个案").click()
    await page.get_by_label("办结结果").select_option(label="问题已解决")
    await page.get_by_label("办结小结").fill("已报警，派出所已介入。")
    await page.get_by_role("button", name="办结", exact=True).click()
    await expect(page.locator("[data-case-status]")).to_have_attribute("data-case-status", "closed")
