"""Triage: the risk level with its reason (a call-back when it is raised, once), the child's minimum
details and flags (the name encrypted, masked wherever it shows), and the help plan of a high-risk child
with its review task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.accounts import Role
from core.privacy import FieldCipher
from hotline.case_facts import CHILD_NAME_CONTEXT, PLAN_MEASURES_CONTEXT, RISK_REASON_CONTEXT
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import a_call, count_rows
from tests.hotline.casework import audits, case_model, case_row, events, one_row, tasks

REASON = "孩子说继父经常打他，害怕回家"


async def _case(client) -> str:
    return (await post_json(client, "/api/calls", a_call(category="family_conflict"))).json()["case_number"]


async def test_raising_the_risk_opens_one_call_back_however_often_it_is_raised(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)

    low = await post_form(client, f"/hotline/cases/{number}/risk", {"risk_level": "low", "reason": "先观察"})
    assert low.status_code == 200 and "风险评估已保存" in low.text
    assert await tasks(engine, number) == []
    high = await post_json(client, f"/api/cases/{number}/risk", {"risk_level": "high", "reason": REASON})
    assert high.status_code == 200 and high.json()["risk_level"] == "high"
    critical = await post_json(
        client, f"/api/cases/{number}/risk", {"risk_level": "critical", "reason": REASON}
    )
    assert critical.status_code == 200
    await post_json(client, f"/api/cases/{number}/risk", {"risk_level": "medium", "reason": "已安置在外婆家"})
    await post_json(client, f"/api/cases/{number}/risk", {"risk_level": "high", "reason": REASON})

    [callback] = await tasks(engine, number)
    assert (callback.kind, callback.rule_key, callback.status, callback.owner_id) == (
        "callback",
        "callback:risk",
        "open",
        operator.id,
    )
    assert abs(callback.due_at - callback.created_at - timedelta(hours=24)) < timedelta(seconds=5)
    moves = [(e.detail["from"], e.detail["to"]) for e in await events(engine, number, "risk")]
    assert moves == [
        ("unassessed", "low"),
        ("low", "high"),
        ("high", "critical"),
        ("critical", "medium"),
        ("medium", "high"),
    ]
    row = await case_row(engine, number)
    assert REASON not in str(tuple(row))  # the reason is stored encrypted only
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(row.risk_reason_ciphertext, context=RISK_REASON_CONTEXT) == REASON
    assert len(await audits(engine, "case.risk", number)) == 5

    detail = (await client.get(f"/api/cases/{number}")).json()
    assert (detail["risk_level"], detail["risk_reason"]) == ("high", REASON)
    timeline = (await client.get(f"/api/cases/{number}/timeline")).json()
    assert "风险等级：中 → 高" in [entry["what"] for entry in timeline]


async def test_a_risk_without_a_level_or_a_reason_is_refused(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    for body, field in (
        ({"risk_level": "high", "reason": ""}, "reason"),
        ({"risk_level": "unassessed", "reason": REASON}, "risk_level"),
        ({"risk_level": "extreme", "reason": REASON}, "risk_level"),
        ({"risk_level": "high", "reason": "很" * 1001}, "reason"),
    ):
        refused = await post_json(client, f"/api/cases/{number}/risk", body)
        assert refused.status_code == 400 and field in refused.json()["errors"], body
    page = await post_form(client, f"/hotline/cases/{number}/risk", {"risk_level": "high"})
    assert page.status_code == 400 and 'id="risk-reason-error"' in page.text
    assert (await case_row(engine, number)).risk_level == "unassessed"
    assert await events(engine, number) == [] and await tasks(engine, number) == []


async def test_the_child_keeps_to_the_minimum_and_the_name_stays_masked(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    form = [
        ("sex", "male"),
        ("age", "13"),
        ("school_stage", "junior"),
        ("district", "西湖区 北山街道"),
        ("name", "张小明"),
        ("flags", "left_behind"),
        ("flags", "unsupervised"),
    ]
    saved = await post_form(client, f"/hotline/cases/{number}/child", form)
    assert saved.status_code == 200 and "儿童信息已保存" in saved.text
    assert "张小明" not in saved.text and "张**" in saved.text

    row = await case_row(engine, number)
    assert (row.child_sex, row.child_age, row.child_school_stage, row.child_district) == (
        "male",
        13,
        "junior",
        "西湖区 北山街道",
    )
    assert row.child_age_band == "12-14"
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(row.child_name_ciphertext, context=CHILD_NAME_CONTEXT) == "张小明"
    flags = await one_row(engine, "SELECT COUNT(*) AS n, MIN(flag) AS a, MAX(flag) AS b FROM child_flag")
    assert tuple(flags) == (2, "left_behind", "unsupervised")

    listing = await client.get("/api/cases")
    assert listing.json()["rows"][0]["child_name_masked"] == "张**"
    assert "张小明" not in listing.text and "张小明" not in (await client.get("/hotline/cases")).text
    detail = (await client.get(f"/api/cases/{number}")).json()["child"]
    assert detail == {
        "sex": "male",
        "age": 13,
        "school_stage": "junior",
        "district": "西湖区 北山街道",
        "name_masked": "张**",
        "has_name": True,
        "flags": ["unsupervised", "left_behind"],  # in the vocabulary's order
    }
    [event] = await events(engine, number, "child")
    changed = ["age", "district", "flags", "name", "school_stage", "sex"]  # the age band was 12-14 already
    assert event.detail == {"changed": changed}
    assert "张小明" not in str(event.detail) and event.text_ciphertext is None

    # The JSON API: an empty name keeps it; remove_name removes it; flags replaced as a whole.
    kept = await post_json(client, f"/api/cases/{number}/child", {"sex": "male", "age": 14, "flags": []})
    assert kept.status_code == 200
    assert (await case_row(engine, number)).child_name_ciphertext == row.child_name_ciphertext
    assert await count_rows(engine, "child_flag") == 0
    await post_json(client, f"/api/cases/{number}/child", {"sex": "male", "remove_name": True})
    assert (await case_row(engine, number)).child_name_ciphertext is None


async def test_wrong_child_details_are_refused_and_nothing_changes(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    before = await case_row(engine, number)
    for body, field in (
        ({"age": 18}, "age"),
        ({"age": -1}, "age"),
        ({"sex": "x"}, "sex"),
        ({"school_stage": "college"}, "school_stage"),
        ({"district": "区" * 61}, "district"),
        ({"name": "名" * 41}, "name"),
        ({"flags": ["orphan"]}, "flags"),
    ):
        refused = await post_json(client, f"/api/cases/{number}/child", body)
        assert refused.status_code == 400 and field in refused.json()["errors"], body
    form = [("age", "十三"), ("flags", "left_behind")]
    page = await post_form(client, f"/hotline/cases/{number}/child", form)
    assert page.status_code == 400 and 'id="child-age-error"' in page.text
    assert 'value="left_behind" checked' in page.text  # the form comes back as it was sent
    assert await case_row(engine, number) == before
    assert await count_rows(engine, "child_flag") == 0 and await events(engine, number) == []


async def test_a_help_plan_for_a_high_risk_child_and_its_review_task(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = await _case(client)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    plan = {"measures": "每周家访；联系学校心理老师", "responsible": "社区儿童主任 王老师", "review_on": ""}

    early = await post_json(client, f"/api/cases/{number}/help-plan", {**plan, "review_on": str(today)})
    assert early.status_code == 400 and "case" in early.json()["errors"]  # not a high-risk child yet
    page = await client.get(f"/hotline/cases/{number}")
    assert f"/hotline/cases/{number}/help-plan" not in page.text

    await post_json(client, f"/api/cases/{number}/risk", {"risk_level": "critical", "reason": REASON})
    page = await client.get(f"/hotline/cases/{number}")
    assert f"/hotline/cases/{number}/help-plan" in page.text
    for review_on in ("", "tomorrow", str(today - timedelta(days=1)), str(today + timedelta(days=400))):
        refused = await post_json(client, f"/api/cases/{number}/help-plan", {**plan, "review_on": review_on})
        assert refused.status_code == 400 and "review_on" in refused.json()["errors"], review_on
    missing = await post_json(client, f"/api/cases/{number}/help-plan", {"review_on": str(today)})
    assert set(missing.json()["errors"]) == {"measures", "responsible"}
    assert await count_rows(engine, "help_plan") == 0

    first_review = today + timedelta(days=14)
    first = {**plan, "review_on": str(first_review)}
    saved = await post_json(client, f"/api/cases/{number}/help-plan", first)
    assert saved.status_code == 200 and saved.json()["review_on"] == str(first_review)
    cipher = FieldCipher(settings.data_key)
    row = await one_row(engine, "SELECT measures_ciphertext, responsible FROM help_plan")
    assert cipher.decrypt(row.measures_ciphertext, context=PLAN_MEASURES_CONTEXT) == plan["measures"]
    reviews = [t for t in await tasks(engine, number) if t.kind == "plan_review"]
    assert [(t.rule_key, t.status, t.owner_id) for t in reviews] == [
        (f"plan_review:{first_review}", "open", operator.id)
    ]
    # Due by the end of the review day in the site's zone.
    next_day = first_review + timedelta(days=1)
    end_of_day = datetime.combine(next_day, datetime.min.time(), ZoneInfo("Asia/Shanghai"))
    assert reviews[0].due_at == end_of_day.astimezone(UTC)

    # Saved again with the same date: no second task. A new date: the old review is cancelled. The
    # first date again: a new task, since its rule already fired.
    assert (await post_json(client, f"/api/cases/{number}/help-plan", first)).status_code == 200
    later = first_review + timedelta(days=14)
    revised = await post_form(client, f"/hotline/cases/{number}/help-plan", {**plan, "review_on": str(later)})
    assert revised.status_code == 200 and "帮扶计划已保存" in revised.text
    await post_json(client, f"/api/cases/{number}/help-plan", first)
    reviews = [(t.rule_key, t.status) for t in await tasks(engine, number) if t.kind == "plan_review"]
    assert reviews == [
        (f"plan_review:{first_review}", "cancelled"),
        (f"plan_review:{later}", "cancelled"),
        (f"plan_review:{first_review}:3", "open"),
    ]
    assert await count_rows(engine, "help_plan") == 1
    plan_events = await events(engine, number, "plan")
    assert [e.detail["created"] for e in plan_events] == [True, False, False, False]
    detail = (await client.get(f"/api/cases/{number}")).json()["help_plan"]
    assert detail["measures"] == plan["measures"] and detail["review_on"] == str(first_review)
    assert (await case_model(engine, number)).risk_level == "critical"
