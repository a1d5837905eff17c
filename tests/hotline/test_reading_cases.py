"""Reading cases: masked lists, audited case pages, repeat callers, and who may read at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from hotline.case_views import PAGE_SIZE
from hotline.intake import SUMMARY_CONTEXT, CallIntake, log_call
from tests.conftest import log_in, make_user, post_form, post_json
from tests.hotline.calls import PHONE, PHONE_MASKED, SUMMARY, a_call, count_rows


class RecordingCipher(FieldCipher):
    """Remembers which columns were decrypted, so a test can prove summaries were never touched."""

    def __init__(self, data_key: str) -> None:
        super().__init__(data_key)
        self.decrypted_contexts: list[str] = []

    def decrypt(self, token: str, *, context: str = "") -> str:
        self.decrypted_contexts.append(context)
        return super().decrypt(token, context=context)


class RefusingCipher(FieldCipher):
    def decrypt(self, token: str, *, context: str = "") -> str:
        raise AssertionError(f"decrypted {context} where no decryption was needed")


async def _audit_rows(engine, action: str):
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT actor_id, object_id, detail FROM audit_event WHERE action = :a ORDER BY id"),
                {"a": action},
            )
        ).all()


async def test_case_list_shows_masked_phone_and_never_the_full_number(client, engine, app, settings):
    await log_in(client, engine, Role.OPERATOR)
    await post_json(client, "/api/calls", a_call())
    recording = RecordingCipher(settings.data_key)
    app.state.cipher = recording

    page = await client.get("/hotline/cases")
    api = await client.get("/api/cases")

    assert page.status_code == api.status_code == 200
    for body in (page.text, api.text):
        assert PHONE_MASKED in body
        assert PHONE not in body and PHONE[-8:] not in body
        assert SUMMARY not in body
    assert api.json()["rows"][0]["caller_phone_masked"] == PHONE_MASKED
    assert SUMMARY_CONTEXT not in recording.decrypted_contexts  # the list never opens a summary
    assert await count_rows(engine, "audit_event", "action = 'case.read'") == 0


async def test_case_list_is_newest_first_filtered_and_paginated(client, engine, settings):
    operator = await log_in(client, engine, Role.SUPERVISOR)
    cipher = FieldCipher(settings.data_key)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    async with create_sessionmaker(engine)() as session:
        for minute in range(PAGE_SIZE + 2):
            line = "family_edu" if minute % 3 == 0 else "12355"
            urgency = "crisis" if minute == 7 else "routine"
            intake = CallIntake(**a_call(line=line, urgency=urgency, caller_phone=""))
            await log_call(
                session,
                cipher,
                intake=intake,
                actor=operator,
                timezone="Asia/Shanghai",
                now=start + timedelta(minutes=minute),
            )

    first = (await client.get("/api/cases")).json()
    second = (await client.get("/api/cases", params={"page": 2})).json()
    newest = [row["number"] for row in first["rows"]][:3]
    assert newest == ["12355-2026-000018", "12355-2026-000017", "FE-2026-000009"]
    assert len(first["rows"]) == PAGE_SIZE and first["has_next"] is True
    assert len(second["rows"]) == 2 and second["has_next"] is False
    assert second["rows"][-1]["number"] == "FE-2026-000001"  # the oldest comes last

    family = (await client.get("/api/cases", params={"line": "family_edu"})).json()
    assert {row["line"] for row in family["rows"]} == {"family_edu"}
    assert len(family["rows"]) == 9
    crisis = await client.get("/hotline/cases", params={"urgency": "crisis"})
    assert crisis.text.count('class="badge crisis"') == 1
    assert (await client.get("/hotline/cases", params={"status": "accepted", "page": 2})).status_code == 200

    assert (await client.get("/api/cases", params={"urgency": "panic"})).status_code == 400
    assert (await client.get("/api/cases", params={"page": 0})).status_code == 400


async def test_opening_a_case_writes_an_audit_row(client, engine):
    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    number = (await post_json(client, "/api/calls", a_call())).json()["case_number"]

    page = await client.get(f"/hotline/cases/{number}")
    api = await client.get(f"/api/cases/{number}")

    assert page.status_code == api.status_code == 200
    assert SUMMARY in page.text and api.json()["calls"][0]["summary"] == SUMMARY
    assert api.json()["calls"][0]["caller_phone_masked"] == PHONE_MASKED
    assert PHONE not in page.text and PHONE not in api.text
    reads = await _audit_rows(engine, "case.read")  # read through a new connection: committed
    assert [(row.actor_id, row.object_id) for row in reads] == [(supervisor.id, number)] * 2
    assert [json.loads(row.detail)["via"] for row in reads] == ["page", "api"]


async def test_unknown_case_number_shows_a_404_page(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    page = await client.get("/hotline/cases/12355-2026-424242")
    assert page.status_code == 404
    assert "没有这个编号的个案" in page.text
    api = await client.get("/api/cases/12355-2026-424242")
    assert api.status_code == 404
    assert api.json()["detail"]
    assert await count_rows(engine, "audit_event", "action = 'case.read'") == 0


async def test_a_malformed_case_number_is_not_found_and_a_nul_byte_is_refused(client, engine):
    """PostgreSQL refuses a NUL byte in text, so looking such a "number" up was a 500 (found by
    tests/test_api_fuzz.py). NUL is now refused at the door, and a number that cannot be one is not
    looked up at all."""
    await log_in(client, engine, Role.OPERATOR)
    number = (await post_json(client, "/api/calls", a_call())).json()["case_number"]
    for wanted in (f"{number}%00", "%00"):
        api = await client.get(f"/api/cases/{wanted}")
        assert api.status_code == 400 and "NUL" in api.json()["detail"], wanted
        assert (await client.get(f"/hotline/cases/{wanted}")).status_code == 400
    for wanted in (f"{number}x", "not-a-number", "12355-2026"):
        api = await client.get(f"/api/cases/{wanted}")
        assert api.status_code == 404, wanted
        assert api.json()["detail"] == "没有这个编号的个案。"
    assert (await client.get(f"/api/cases/{number.lower()}")).status_code == 200


async def test_repeat_caller_is_recognised_by_blind_index_without_decrypting(client, engine, settings):
    await log_in(client, engine, Role.OPERATOR)
    first = (await post_json(client, "/api/calls", a_call())).json()
    await post_json(client, "/api/calls", a_call(caller_phone="13900001111"))  # someone else

    operator = await make_user(engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        # Same number, written differently; a cipher that refuses to decrypt proves no row was opened.
        again = await log_call(
            session,
            RefusingCipher(settings.data_key),
            intake=CallIntake(**a_call(caller_phone="+86 138 1234 5678", category="self_harm")),
            actor=operator,
            timezone="Asia/Shanghai",
        )

    assert [case.number for case in again.earlier_cases] == [first["case_number"]]
    page = await client.get(f"/hotline/cases/{again.case_number}")
    assert "这个号码曾就其他个案来电" in page.text
    assert first["case_number"] in page.text
    # And from the first case, the newer one is shown too.
    older = (await client.get(f"/api/cases/{first['case_number']}")).json()
    assert [case["number"] for case in older["same_number_cases"]] == [again.case_number]


async def test_anonymous_calls_are_never_linked_as_repeat_callers(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    await post_json(client, "/api/calls", a_call(caller_phone=""))
    second = (await post_json(client, "/api/calls", a_call(caller_phone=""))).json()
    assert second["earlier_cases"] == []


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.EXPERT, Role.ADMIN])
async def test_coordinator_expert_and_admin_cannot_read_cases(client, engine, role):
    await log_in(client, engine, Role.OPERATOR)
    number = (await post_json(client, "/api/calls", a_call())).json()["case_number"]
    await log_in(client, engine, role)

    for url in ("/hotline/cases", f"/hotline/cases/{number}", "/hotline/calls/new", "/api/cases"):
        response = await client.get(url)
        assert response.status_code == 403, url
        assert SUMMARY not in response.text and PHONE_MASKED not in response.text
    assert (await client.get(f"/api/cases/{number}")).status_code == 403
    assert (await post_json(client, "/api/calls", a_call())).status_code == 403
    reveal = await post_form(client, f"/hotline/cases/{number}/reveal-phone", {"call_id": 1})
    assert reveal.status_code == 403 and PHONE not in reveal.text
    assert await count_rows(engine, "referral_case") == 1
    assert await count_rows(engine, "audit_event", "action = 'case.read'") == 0


async def test_anonymous_visitor_is_sent_to_login(client):
    page = await client.get("/hotline/cases", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/hotline/cases")
    assert (await client.get("/api/cases")).status_code == 401
    assert (await client.get("/hotline/calls/new", follow_redirects=False)).status_code == 303


async def test_revealing_a_callers_full_number_is_audited(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    first = (await post_json(client, "/api/calls", a_call())).json()
    number = first["case_number"]
    other = (await post_json(client, "/api/calls", a_call(caller_phone="13900001111"))).json()

    page = await client.get(f"/hotline/cases/{number}")
    assert PHONE not in page.text and "reveal-phone" in page.text

    shown = await post_form(client, f"/hotline/cases/{number}/reveal-phone", {"call_id": first["call_id"]})
    assert shown.status_code == 200
    assert "+86" + PHONE in shown.text
    reveals = await _audit_rows(engine, "call.phone_reveal")
    assert [(row.actor_id, row.object_id) for row in reveals] == [(operator.id, str(first["call_id"]))]

    # A call of another case cannot be unmasked through this case, and a CSRF-less post is refused.
    wrong = await post_form(client, f"/hotline/cases/{number}/reveal-phone", {"call_id": other["call_id"]})
    assert wrong.status_code == 404 and "13900001111" not in wrong.text
    forged = await client.post(f"/hotline/cases/{number}/reveal-phone", data={"call_id": first["call_id"]})
    assert forged.status_code == 403
    assert len(await _audit_rows(engine, "call.phone_reveal")) == 1
