"""Mandatory reports (强制报告): opened at intake in the call's transaction, one per case, with a deadline
and alerts to the supervisors over the case's unit; recorded from the case page and the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

import hotline.intake
from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.errors import FormInvalid
from core.privacy import FieldCipher
from hotline.case_terms import MandatoryReportStatus
from hotline.intake import CallIntake, log_call
from hotline.mandatory_reports import (
    POLICE_RESPONSE_CONTEXT,
    clean_situations,
    pending_report_for_case,
    report_due_at,
    report_need,
)
from hotline.models import ReferralCase
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import PHONE, SUMMARY, a_call, hotline_rows
from tests.hotline.reports_helpers import (
    SUPERVISOR_MOBILE,
    alerts,
    events,
    raw,
    reports,
    staff_sms,
    supervisor,
    two_districts,
)

SHANGHAI = "Asia/Shanghai"


def _number(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/cases/")[1].split("?")[0]


def _section_state(page: str) -> str:
    found = re.search(r'data-mandatory-report="(\w+)"', page)
    assert found, "the case page has no mandatory-report section"
    return found.group(1)


# ---- the deadline -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arose", "hours", "due"),
    [
        # 11:00 in Shanghai: the end of that same local day, 23:59:59 (15:59:59 UTC).
        (datetime(2026, 11, 26, 3, 0, tzinfo=UTC), 0, datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)),
        # 23:59 local: still the same day, one minute left.
        (datetime(2026, 11, 26, 15, 59, tzinfo=UTC), 0, datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)),
        # 00:30 local on the 27th is 16:30 UTC on the 26th: the local day decides, not the UTC one.
        (datetime(2026, 11, 26, 16, 30, tzinfo=UTC), 0, datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)),
        # N hours: counted from when it arose, across local midnight.
        (datetime(2026, 11, 26, 15, 0, tzinfo=UTC), 4, datetime(2026, 11, 26, 19, 0, tzinfo=UTC)),
    ],
)
def test_the_deadline_is_the_end_of_the_local_day_or_n_hours(arose, hours, due):
    assert report_due_at(arose, deadline_hours=hours, timezone=SHANGHAI) == due


def test_what_triggers_a_report():
    assert report_need(category="violence", suspected=False, situations=()).trigger == "category:violence"
    assert (
        report_need(category="sexual_abuse", suspected=True, situations=()).trigger == "category:sexual_abuse"
    )
    assert report_need(category="bullying", suspected=True, situations=()).trigger == "ticked"
    ticked = report_need(category="bullying", suspected=False, situations=("abandoned",))
    assert ticked is not None and ticked.trigger == "ticked" and ticked.situations == ("abandoned",)
    assert report_need(category="bullying", suspected=False, situations=()) is None
    # Codes each once, in the vocabulary's order; an unknown one is refused.
    assert clean_situations(["abandoned", "genital_injury", " abandoned ", ""]) == (
        "genital_injury",
        "abandoned",
    )
    with pytest.raises(FormInvalid) as refused:
        clean_situations(["abandoned", "made_up"])
    assert set(refused.value.errors) == {"situations"}


# ---- at intake ------------------------------------------------------------------------------------------


async def test_a_violence_call_opens_a_pending_report_and_alerts_the_supervisor_at_once(
    client, engine, settings
):
    cipher = FieldCipher(settings.data_key)
    on_duty = await supervisor(engine, cipher, mobile=SUPERVISOR_MOBILE, on_duty=True)
    operator = await log_in(client, engine, Role.OPERATOR)
    before = utcnow()

    number = _number(
        await post_form(
            client,
            "/hotline/calls/new",
            a_call(category="violence", urgency="urgent"),
            follow_redirects=False,
        )
    )

    [report] = await reports(engine)
    assert report.status == MandatoryReportStatus.PENDING
    assert report.trigger == "category:violence" and report.situations == ""
    assert report.due_at == report_due_at(report.created_at, deadline_hours=0, timezone=SHANGHAI)
    assert before <= report.created_at <= utcnow()
    [opened] = await events(engine)
    assert (opened.kind, opened.actor_id, opened.case_id) == ("report.opened", operator.id, report.case_id)
    assert await raw(engine, "SELECT COUNT(*) FROM audit_event WHERE action = 'mandatory_report.open'") == 1

    [alert] = await alerts(engine)
    assert alert.recipient_id == on_duty.id and alert.dedupe_key == f"report.new:{report.id}"
    assert alert.kind == "mandatory_report.new" and number in alert.params
    [(to, body)] = await staff_sms(engine, cipher)
    assert to == SUPERVISOR_MOBILE
    assert number in body and "强制报告" in body
    for personal in (SUMMARY, SUMMARY[:6], PHONE, PHONE[-4:], "13812345678"):
        assert personal not in body

    page = await client.get(f"/hotline/cases/{number}")
    assert _section_state(page.text) == "pending"
    assert 'data-light="' in page.text


async def test_a_call_that_fails_after_the_report_was_opened_saves_neither(engine, settings, monkeypatch):
    cipher = FieldCipher(settings.data_key)
    await supervisor(engine, cipher, mobile=SUPERVISOR_MOBILE, on_duty=True)
    operator = await make_user(engine, Role.OPERATOR)

    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the database went away")

    # The repeat-caller look-up runs after the report and its alerts were written, before the commit.
    monkeypatch.setattr(hotline.intake, "cases_called_about_from", broken)
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(RuntimeError):
            await log_call(
                session,
                cipher,
                intake=CallIntake(**a_call(category="violence")),
                actor=operator,
                timezone=SHANGHAI,
                settings=settings,
            )
    assert await hotline_rows(engine) == {"cases": 0, "calls": 0, "counters": 0, "audit": 0}
    assert await reports(engine) == [] and await alerts(engine) == [] and await events(engine) == []
    assert await staff_sms(engine, cipher) == []


async def test_ticking_suspected_infringement_or_a_situation_opens_a_report(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    ticked = _number(
        await post_form(
            client, "/hotline/calls/new", {**a_call(), "suspected_infringement": "1"}, follow_redirects=False
        )
    )
    situations = _number(
        await post_form(
            client,
            "/hotline/calls/new",
            [*a_call().items(), ("situations", "multiple_injuries"), ("situations", "abandoned")],
            follow_redirects=False,
        )
    )
    one_box = _number(
        await post_form(
            client,
            "/hotline/calls/new",
            {**a_call(), "situations": "missing_trafficked"},
            follow_redirects=False,
        )
    )
    plain = _number(await post_form(client, "/hotline/calls/new", a_call(), follow_redirects=False))

    by_case = {report.case_id: report for report in await reports(engine)}
    async with create_sessionmaker(engine)() as session:
        ids = {case.number: case.id for case in (await session.exec(select(ReferralCase))).all()}
    assert (by_case[ids[ticked]].trigger, by_case[ids[ticked]].situations) == ("ticked", "")
    assert (by_case[ids[situations]].trigger, by_case[ids[situations]].situations) == (
        "ticked",
        "multiple_injuries,abandoned",
    )
    assert by_case[ids[one_box]].situations == "missing_trafficked"
    assert ids[plain] not in by_case
    assert _section_state((await client.get(f"/hotline/cases/{plain}")).text) == "none"


async def test_an_unknown_situation_is_refused_and_nothing_is_saved(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    form = await post_form(
        client, "/hotline/calls/new", [*a_call(category="violence").items(), ("situations", "x")]
    )
    assert form.status_code == 400
    assert 'id="situations-error"' in form.text
    api = await post_json(
        client, "/api/calls", {**a_call(category="violence"), "situations": ["abandoned", "x"]}
    )
    assert api.status_code == 400 and "situations" in api.json()["errors"]
    assert await hotline_rows(engine) == {"cases": 0, "calls": 0, "counters": 0, "audit": 0}
    assert await reports(engine) == [] and await alerts(engine) == []


async def test_a_case_has_one_report_and_later_calls_add_their_situations(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    boss = await supervisor(engine, cipher, mobile=SUPERVISOR_MOBILE, on_duty=True)
    await log_in(client, engine, Role.OPERATOR)
    first = await post_json(
        client, "/api/calls", {**a_call(category="violence"), "situations": ["abandoned"]}
    )
    assert first.status_code == 201 and first.json()["mandatory_report_opened"] is True
    number = first.json()["case_number"]
    again = await post_json(
        client,
        "/api/calls",
        {**a_call(case_number=number), "suspected_infringement": True, "situations": ["genital_injury"]},
    )
    assert again.status_code == 201 and again.json()["mandatory_report_opened"] is False
    await post_json(client, "/api/calls", {**a_call(case_number=number, category="sexual_abuse")})

    [report] = await reports(engine)
    assert report.trigger == "category:violence"
    assert report.situations == "genital_injury,abandoned"
    assert [event.kind for event in await events(engine)] == ["report.opened", "report.situations"]
    assert [alert.recipient_id for alert in await alerts(engine)] == [boss.id]
    assert len(await staff_sms(engine, cipher)) == 1


async def test_alerts_go_to_each_supervisor_over_the_unit_and_sms_only_to_those_on_duty_with_a_mobile(
    app, engine, settings
):
    from litestar.testing import AsyncTestClient

    cipher = FieldCipher(settings.data_key)
    units = await two_districts(engine)
    city_on_duty = await supervisor(
        engine, cipher, unit_id=units["city"], mobile="+8613900002222", on_duty=True
    )
    city_off_duty = await supervisor(engine, cipher, unit_id=units["city"], mobile="+8613900003333")
    west_no_mobile = await supervisor(engine, cipher, unit_id=units["west"], on_duty=True)
    west_on_duty = await supervisor(
        engine, cipher, unit_id=units["west"], mobile=SUPERVISOR_MOBILE, on_duty=True
    )
    east = await supervisor(engine, cipher, unit_id=units["east"], mobile="+8613900004444", on_duty=True)

    async with AsyncTestClient(app=app) as west_client:
        await log_in(west_client, engine, Role.OPERATOR, unit_id=units["west"])
        number = _number(
            await post_form(
                west_client, "/hotline/calls/new", a_call(category="guardianship"), follow_redirects=False
            )
        )

    recipients = [alert.recipient_id for alert in await alerts(engine)]
    assert sorted(recipients) == sorted(
        [city_on_duty.id, city_off_duty.id, west_no_mobile.id, west_on_duty.id]
    )
    assert east.id not in recipients
    sms = await staff_sms(engine, cipher)
    assert sorted(to for to, _ in sms) == sorted(["+8613900002222", SUPERVISOR_MOBILE])
    for _, body in sms:
        assert number in body and PHONE not in body and SUMMARY[:6] not in body


# ---- recording ------------------------------------------------------------------------------------------


def _local_minute(when: datetime) -> str:
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(SHANGHAI)).strftime("%Y-%m-%dT%H:%M")


GOOD_RECORD = {
    "police_unit": "西湖区公安分局北山派出所",
    "channel": "phone_110",
    "receipt_number": "JJ20261126-0042",
    "police_response": "",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"police_unit": "  "}, "police_unit"),
        ({"police_unit": "派" * 121}, "police_unit"),
        ({"channel": "pigeon"}, "channel"),
        ({"receipt_number": ""}, "receipt_number"),
        ({"reported_at": "yesterday-ish"}, "reported_at"),
        ({"reported_at": "FUTURE"}, "reported_at"),
        ({"reported_at": "BEFORE"}, "reported_at"),
        ({"police_response": "很" * 4001}, "police_response"),
    ],
)
async def test_a_bad_record_is_refused_and_changes_nothing(client, engine, change, field):
    await log_in(client, engine, Role.OPERATOR)
    number = _number(
        await post_form(client, "/hotline/calls/new", a_call(category="violence"), follow_redirects=False)
    )
    [report] = await reports(engine)
    times = {
        "FUTURE": _local_minute(utcnow() + timedelta(minutes=10)),
        "BEFORE": _local_minute(report.created_at - timedelta(minutes=2)),
    }
    fields = {**GOOD_RECORD, "reported_at": _local_minute(utcnow()), **change}
    fields["reported_at"] = times.get(fields["reported_at"], fields["reported_at"])

    refused = await post_form(client, f"/hotline/cases/{number}/mandatory-report", fields)

    assert refused.status_code == 400
    assert f'id="report-{field}-error"' in refused.text
    [after] = await reports(engine)
    assert after.status == MandatoryReportStatus.PENDING and after.police_unit is None
    assert [event.kind for event in await events(engine)] == ["report.opened"]
    api = await post_json(client, f"/api/cases/{number}/mandatory-report/record", fields)
    assert api.status_code == 400 and field in api.json()["errors"]


async def test_recording_the_report_then_adding_the_police_response(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    operator = await log_in(client, engine, Role.OPERATOR)
    number = _number(
        await post_form(client, "/hotline/calls/new", a_call(category="violence"), follow_redirects=False)
    )

    recorded = await post_form(
        client,
        f"/hotline/cases/{number}/mandatory-report",
        {**GOOD_RECORD, "reported_at": _local_minute(utcnow())},
        follow_redirects=False,
    )
    assert recorded.status_code == 303 and recorded.headers["location"].endswith("#mandatory-report")
    [report] = await reports(engine)
    assert report.status == MandatoryReportStatus.RECORDED
    assert report.recorded_by_id == operator.id and report.police_unit == GOOD_RECORD["police_unit"]
    assert report.channel == "phone_110" and report.receipt_number == "JJ20261126-0042"
    assert report.police_response_ciphertext is None
    async with create_sessionmaker(engine)() as session:
        assert await pending_report_for_case(session, report.case_id) is None
    page = (await client.get(f"/hotline/cases/{number}")).text
    assert _section_state(page) == "recorded" and "JJ20261126-0042" in page
    assert 'data-report-form="response"' in page

    # Recording it again is refused; only the response may follow.
    again = await post_json(
        client,
        f"/api/cases/{number}/mandatory-report/record",
        {**GOOD_RECORD, "reported_at": _local_minute(utcnow())},
    )
    assert again.status_code == 400 and "report" in again.json()["errors"]
    response = "已立案侦查，孩子由民政部门临时监护。"
    added = await post_form(
        client,
        f"/hotline/cases/{number}/mandatory-report",
        {"police_response": response},
        follow_redirects=False,
    )
    assert added.status_code == 303
    [report] = await reports(engine)
    assert (
        cipher.decrypt(report.police_response_ciphertext or "", context=POLICE_RESPONSE_CONTEXT) == response
    )
    assert response not in await raw(engine, "SELECT police_response_ciphertext FROM mandatory_report")
    twice = await post_form(client, f"/hotline/cases/{number}/mandatory-report", {"police_response": "改写"})
    assert twice.status_code == 400
    assert [event.kind for event in await events(engine)] == [
        "report.opened",
        "report.recorded",
        "report.response",
    ]
    assert (
        await raw(
            engine,
            "SELECT COUNT(*) FROM audit_event"
            " WHERE action IN ('mandatory_report.record', 'mandatory_report.response')",
        )
        == 2
    )
    read = await client.get(f"/api/cases/{number}/mandatory-report")
    assert read.status_code == 200
    assert read.json()["state"] == "recorded" and read.json()["police_response"] == response
    assert read.json()["recorded_by"] == "Test operator"


async def test_a_supervisor_records_and_no_route_deletes_a_report(client, engine, app):
    await log_in(client, engine, Role.SUPERVISOR)
    number = _number(
        await post_form(client, "/hotline/calls/new", a_call(category="violence"), follow_redirects=False)
    )
    recorded = await post_json(
        client,
        f"/api/cases/{number}/mandatory-report/record",
        {**GOOD_RECORD, "channel": "visit", "reported_at": utcnow().isoformat()},
    )
    assert recorded.status_code == 200 and recorded.json()["state"] == "recorded"
    for path in (
        f"/api/cases/{number}/mandatory-report",
        f"/api/cases/{number}/mandatory-report/record",
        f"/hotline/cases/{number}/mandatory-report",
    ):
        deleted = await client.delete(path, headers={"x-csrftoken": client.cookies["fh_csrf"]})
        assert deleted.status_code == 405
    assert len(await reports(engine)) == 1


async def test_a_report_on_a_closed_case_cannot_be_recorded_or_opened(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = _number(
        await post_form(client, "/hotline/calls/new", a_call(category="violence"), follow_redirects=False)
    )
    async with engine.begin() as conn:
        from sqlalchemy import text

        await conn.execute(text("UPDATE referral_case SET status = 'closed'"))
    refused = await post_json(
        client,
        f"/api/cases/{number}/mandatory-report/record",
        {**GOOD_RECORD, "reported_at": utcnow().isoformat()},
    )
    assert refused.status_code == 400 and "case" in refused.json()["errors"]
    assert (await post_json(client, f"/api/cases/{number}/mandatory-report/open", {})).status_code == 400
    [report] = await reports(engine)
    assert report.status == MandatoryReportStatus.PENDING


async def test_a_report_opened_by_hand_on_an_existing_case(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    boss = await supervisor(engine, cipher)
    await log_in(client, engine, Role.OPERATOR)
    number = _number(await post_form(client, "/hotline/calls/new", a_call(), follow_redirects=False))
    page = (await client.get(f"/hotline/cases/{number}")).text
    assert _section_state(page) == "none" and 'data-report-form="open"' in page

    bad = await post_form(
        client, f"/hotline/cases/{number}/mandatory-report/open", {"situations": "nonsense"}
    )
    assert bad.status_code == 400 and await reports(engine) == []

    opened = await post_form(
        client,
        f"/hotline/cases/{number}/mandatory-report/open",
        {"situations": "suicide_self_harm_poisoning"},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    [report] = await reports(engine)
    assert (report.trigger, report.situations) == ("ticked", "suicide_self_harm_poisoning")
    assert [alert.recipient_id for alert in await alerts(engine)] == [boss.id]
    assert _section_state((await client.get(f"/hotline/cases/{number}")).text) == "pending"
    # Through the API: the same report gains a situation, no second one, no second alert.
    more = await post_json(
        client, f"/api/cases/{number}/mandatory-report/open", {"situations": ["abandoned"]}
    )
    assert more.status_code == 200 and more.json()["situations"] == [
        "suicide_self_harm_poisoning",
        "abandoned",
    ]
    assert len(await reports(engine)) == 1 and len(await alerts(engine)) == 1


# ---- the case page's clock ------------------------------------------------------------------------------


async def test_a_report_past_its_deadline_shows_overdue_and_red(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    two_days_ago = utcnow() - timedelta(days=2)
    async with create_sessionmaker(engine)() as session:
        old = await log_call(
            session,
            cipher,
            intake=CallIntake(**a_call(category="sexual_abuse")),
            actor=operator,
            timezone=SHANGHAI,
            settings=settings,
            now=two_days_ago,
        )
    async with create_sessionmaker(engine)() as session:
        soon = await log_call(
            session,
            cipher,
            intake=CallIntake(**a_call(category="violence")),
            actor=operator,
            timezone=SHANGHAI,
            settings=settings.with_overrides(mandatory_report_deadline_hours=48),
        )
    overdue = (await client.get(f"/hotline/cases/{old.case_number}")).text
    assert _section_state(overdue) == "overdue"
    assert 'data-light="red"' in overdue
    fresh = (await client.get(f"/hotline/cases/{soon.case_number}")).text
    assert _section_state(fresh) == "pending"
    assert 'data-light="green"' in fresh  # due in 48 hours, past the 24-hour amber window
    api = await client.get(f"/api/cases/{old.case_number}/mandatory-report")
    assert (api.json()["state"], api.json()["light"]) == ("overdue", "red")
    async with create_sessionmaker(engine)() as session:
        case = (await session.exec(select(ReferralCase).where(ReferralCase.number == old.case_number))).one()
        pending = await pending_report_for_case(session, case.id or 0)
        assert pending is not None and pending.due_at < utcnow()


async def test_a_case_of_another_unit_has_no_report_to_read_or_record(app, engine):
    from litestar.testing import AsyncTestClient

    units = await two_districts(engine)
    async with AsyncTestClient(app=app) as west:
        await log_in(west, engine, Role.OPERATOR, unit_id=units["west"])
        number = _number(
            await post_form(west, "/hotline/calls/new", a_call(category="violence"), follow_redirects=False)
        )
    async with AsyncTestClient(app=app) as east:
        await log_in(east, engine, Role.SUPERVISOR, unit_id=units["east"])
        assert (await east.get(f"/api/cases/{number}/mandatory-report")).status_code == 404
        recorded = await post_json(
            east,
            f"/api/cases/{number}/mandatory-report/record",
            {**GOOD_RECORD, "reported_at": utcnow().isoformat()},
        )
        assert recorded.status_code == 404
    [report] = await reports(engine)
    assert report.status == MandatoryReportStatus.PENDING
    async with create_sessionmaker(engine)() as session:
        assert (
            len(
                (
                    await session.exec(select(ReferralCase).where(col(ReferralCase.unit_id) == units["west"]))
                ).all()
            )
            == 1
        )
