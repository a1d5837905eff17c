"""An operator logs calls: case numbers, encryption at rest, validation, follow-up calls, audit rows."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from core.accounts import Role
from core.privacy import DecryptionError, FieldCipher, phone_index
from hotline.intake import CALLER_PHONE_CONTEXT, SUMMARY_CONTEXT
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import (
    NOTHING_SAVED,
    PHONE,
    PHONE_MASKED,
    SUMMARY,
    THIS_YEAR,
    a_call,
    hotline_rows,
)


async def test_operator_logs_a_call_and_gets_a_case_number(client, engine):
    await log_in(client, engine, Role.OPERATOR)

    response = await post_form(client, "/hotline/calls/new", a_call(), follow_redirects=False)

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"/hotline/cases/12355-{THIS_YEAR}-000001")
    page = await client.get(location)
    assert page.status_code == 200
    assert f"12355-{THIS_YEAR}-000001" in page.text
    assert SUMMARY in page.text
    assert PHONE_MASKED in page.text and PHONE not in page.text
    assert "欺凌" in page.text  # the category, in the default language


async def test_family_education_calls_are_numbered_on_their_own_line(client, engine):
    await log_in(client, engine, Role.SUPERVISOR)
    await post_form(client, "/hotline/calls/new", a_call())
    response = await post_form(
        client, "/hotline/calls/new", a_call(line="family_edu", category="parenting"), follow_redirects=False
    )
    assert response.headers["location"].startswith(f"/hotline/cases/FE-{THIS_YEAR}-000001")


async def test_summary_and_phone_are_not_stored_in_clear(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    await post_form(client, "/hotline/calls/new", a_call())

    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT summary_ciphertext, caller_phone_ciphertext, caller_phone_index FROM hotline_call"
                )
            )
        ).one()
        everything = json.dumps(
            [list(r) for r in (await conn.execute(text("SELECT * FROM hotline_call"))).all()]
            + [list(r) for r in (await conn.execute(text("SELECT * FROM audit_event"))).all()],
            default=str,
            ensure_ascii=False,
        )
    summary_ciphertext, phone_ciphertext, stored_index = row
    for clear in (SUMMARY, SUMMARY[:6], PHONE, PHONE[-8:]):
        assert clear not in everything
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(summary_ciphertext, context=SUMMARY_CONTEXT) == SUMMARY
    assert cipher.decrypt(phone_ciphertext, context=CALLER_PHONE_CONTEXT) == "+86" + PHONE
    assert stored_index == phone_index(cipher, "+86" + PHONE)
    # Each column has its own context: a ciphertext moved to the other column does not decrypt.
    with pytest.raises(DecryptionError):
        cipher.decrypt(phone_ciphertext, context=SUMMARY_CONTEXT)


async def test_only_the_age_band_is_required_and_anonymous_calls_are_accepted(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    response = await post_form(
        client,
        "/hotline/calls/new",
        a_call(caller_type="", category="", urgency="", caller_phone="", child_age_band="unknown"),
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "匿名" in page.text  # no number: shown as anonymous
    async with engine.connect() as conn:
        call = (
            await conn.execute(
                text("SELECT caller_type, category, urgency, caller_phone_ciphertext FROM hotline_call")
            )
        ).one()
    assert tuple(call) == ("unknown", "unclassified", "unassessed", None)


async def test_bad_phone_is_refused_in_chinese_and_nothing_is_saved(client, engine):
    await log_in(client, engine, Role.OPERATOR)

    response = await post_form(client, "/hotline/calls/new", a_call(caller_phone="12345"))

    assert response.status_code == 400
    assert "请填写中国大陆手机号码" in response.text
    assert SUMMARY in response.text  # what the operator typed is kept for correcting
    assert await hotline_rows(engine) == NOTHING_SAVED


async def test_form_errors_follow_the_chosen_language(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    await post_form(client, "/language", {"locale": "en", "next": "/"})

    response = await post_form(client, "/hotline/calls/new", a_call(caller_phone="12345", child_age_band=""))

    assert response.status_code == 400
    assert "Enter a mainland mobile number" in response.text
    assert "Choose the child&#39;s age band" in response.text
    assert await hotline_rows(engine) == NOTHING_SAVED


async def test_missing_age_band_and_summary_are_refused_together(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    response = await post_json(client, "/api/calls", a_call(child_age_band="", summary="   "))
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"child_age_band", "summary"}
    assert await hotline_rows(engine) == NOTHING_SAVED


async def test_summary_longer_than_4000_characters_is_refused(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    too_long = await post_json(client, "/api/calls", a_call(summary="字" * 4001))
    assert too_long.status_code == 400
    assert "summary" in too_long.json()["errors"]
    just_fits = await post_json(client, "/api/calls", a_call(summary="字" * 4000))
    assert just_fits.status_code == 201


async def test_call_form_and_staff_api_without_csrf_token_are_refused(client, engine):
    """The login cookie is the staff API's credential, so it keeps CSRF (the anonymous booking API,
    which no cookie opens, does not)."""
    await log_in(client, engine, Role.OPERATOR)
    response = await client.post("/hotline/calls/new", data=a_call())
    assert response.status_code == 403
    json_response = await client.post("/api/calls", json=a_call())
    assert json_response.status_code == 403
    assert json_response.json()["detail"] == "表单已过期，请返回并刷新页面后重试。"
    assert await hotline_rows(engine) == NOTHING_SAVED
    with_token = await post_json(client, "/api/calls", a_call())
    assert with_token.status_code == 201  # the session was good all along


async def test_follow_up_call_joins_the_case_and_can_only_raise_its_urgency(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    first = (
        await post_json(client, "/api/calls", a_call(urgency="routine", child_age_band="unknown"))
    ).json()
    number = first["case_number"]

    crisis = await post_json(
        client, "/api/calls", a_call(case_number=number.lower(), urgency="crisis", child_age_band="15-17")
    )
    calmer = await post_json(client, "/api/calls", a_call(case_number=number, urgency="routine"))

    assert crisis.status_code == calmer.status_code == 201
    assert crisis.json()["case_number"] == calmer.json()["case_number"] == number
    assert crisis.json()["opened_new_case"] is False
    case = (await client.get(f"/api/cases/{number}")).json()
    assert len(case["calls"]) == 3
    assert case["urgency"] == "crisis"  # a later routine call does not hide the crisis
    assert case["child_age_band"] == "15-17"  # the unknown age band was filled in


async def test_unknown_case_number_is_refused_and_nothing_is_saved(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    response = await post_form(client, "/hotline/calls/new", a_call(case_number="12355-2026-000999"))
    assert response.status_code == 400
    assert "没有这个编号的个案" in response.text
    malformed = await post_json(client, "/api/calls", a_call(case_number="2026-1"))
    assert "case_number" in malformed.json()["errors"]
    assert await hotline_rows(engine) == NOTHING_SAVED


async def test_logging_a_call_writes_case_and_call_audit_rows(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    created = (await post_json(client, "/api/calls", a_call())).json()

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT action, actor_id, object_type, object_id, detail FROM audit_event ORDER BY id")
            )
        ).all()
    by_action = {row.action: row for row in rows}
    assert by_action["case.create"].actor_id == operator.id
    assert by_action["case.create"].object_id == created["case_number"]
    assert by_action["call.create"].object_id == str(created["call_id"])
    assert json.loads(by_action["call.create"].detail)["case"] == created["case_number"]


async def test_api_logs_a_call_and_returns_201(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    response = await post_json(client, "/api/calls", a_call(caller_phone="+86 138-1234-5678"))
    assert response.status_code == 201
    body = response.json()
    assert body["case_number"] == f"12355-{THIS_YEAR}-000001"
    assert isinstance(body["call_id"], int)
    assert body["earlier_cases"] == []
