"""The case timeline: calls, notes, status and risk changes and bookings in time order, each with who
did it; notes encrypted; every read of it audited; the case page keeps the masked phone and its
audited reveal on each call."""

from __future__ import annotations

import json

from core.accounts import Role
from core.privacy import FieldCipher
from tests.booking.conftest import add_expert
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import PHONE, PHONE_MASKED, SUMMARY, a_call, count_rows
from tests.hotline.casework import audits, events
from tests.hotline.test_booking_from_a_case import _form_url, _free_slots, a_booking

NOTE = "已与班主任通话，学校将安排心理老师跟进。"


async def test_the_timeline_tells_the_case_in_order_and_who_did_each_thing(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    number = (await post_json(client, "/api/calls", a_call(category="parenting"))).json()["case_number"]
    noted = await post_json(client, f"/api/cases/{number}/notes", {"text": NOTE})
    assert noted.status_code == 201
    assert (noted.json()["kind"], noted.json()["text"], noted.json()["who"]) == (
        "note",
        NOTE,
        operator.username,
    )
    await post_json(client, f"/api/cases/{number}/status", {"status": "in_progress", "reason": "开始跟进"})
    expert = await add_expert(engine, name="王老师")
    start = (await _free_slots(engine, settings, expert))[3]
    booked = await post_form(client, _form_url(number, expert), a_booking(start), follow_redirects=False)
    assert booked.status_code == 303
    second = a_call(category="parenting", case_number=number, caller_phone="", summary="母亲再次来电")
    await post_json(client, "/api/calls", second)
    await post_json(client, f"/api/cases/{number}/risk", {"risk_level": "medium", "reason": "情绪低落"})

    timeline = await client.get(f"/api/cases/{number}/timeline")
    assert timeline.status_code == 200
    entries = timeline.json()
    assert [entry["kind"] for entry in entries] == ["call", "note", "status", "appointment", "call", "risk"]
    assert all(entry["who"] == operator.username for entry in entries)
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    call, note, status, appointment, again, risk = entries
    assert call["text"] == SUMMARY and call["call"]["caller_phone_masked"] == PHONE_MASKED
    assert PHONE not in timeline.text
    assert call["what"].startswith("来电 · ")
    assert note["text"] == NOTE and note["what"] == "备注"
    assert status["text"] == "开始跟进"
    assert "王老师" in appointment["what"] and appointment["appointment"]["expert_name"] == "王老师"
    assert again["text"] == "母亲再次来电" and again["call"]["caller_phone_masked"] == ""
    assert risk["detail"] == {"from": "unassessed", "to": "medium"} and risk["text"] == "情绪低落"

    # The note is stored encrypted, and the read of the timeline is audited.
    [stored] = await events(engine, number, "note")
    assert NOTE not in (stored.text_ciphertext or "")
    assert (
        FieldCipher(settings.data_key).decrypt(stored.text_ciphertext or "", context="case_event.text")
        == NOTE
    )
    reads = await audits(engine, "case.read", number)
    assert [json.loads(row.detail)["via"] for row in reads] == ["api:timeline"]
    assert len(await audits(engine, "case.note", number)) == 1

    page = await client.get(f"/hotline/cases/{number}")
    assert page.status_code == 200
    assert page.text.index(SUMMARY) < page.text.index(NOTE) < page.text.index("母亲再次来电")
    assert (
        page.text.count('action="/hotline/cases/' + number + '/reveal-phone"') == 1
    )  # one call has a number
    assert PHONE not in page.text
    assert [json.loads(row.detail)["via"] for row in await audits(engine, "case.read", number)][-1] == "page"


async def test_a_note_must_say_something(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    number = (await post_json(client, "/api/calls", a_call())).json()["case_number"]
    for text in ("", "   ", "记" * 4001):
        refused = await post_json(client, f"/api/cases/{number}/notes", {"text": text})
        assert refused.status_code == 400 and "text" in refused.json()["errors"]
    page = await post_form(client, f"/hotline/cases/{number}/notes", {"text": ""})
    assert page.status_code == 400 and 'id="notes-text-error"' in page.text
    assert await count_rows(engine, "case_event") == 0
    assert await audits(engine, "case.note") == []


async def test_every_read_of_a_case_page_or_its_api_is_audited_and_acts_are_too(client, engine):
    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    number = (await post_json(client, "/api/calls", a_call())).json()["case_number"]
    await client.get(f"/hotline/cases/{number}")
    await client.get(f"/api/cases/{number}")
    await client.get(f"/api/cases/{number}/timeline")
    # A refused form shows the case again: that is a read too, and audited as one.
    await post_form(client, f"/hotline/cases/{number}/close", {"outcome": "resolved"})
    reads = await audits(engine, "case.read", number)
    assert [(row.actor_id, json.loads(row.detail)["via"]) for row in reads] == [
        (supervisor.id, "page"),
        (supervisor.id, "api"),
        (supervisor.id, "api:timeline"),
        (supervisor.id, "page"),
    ]
    # The case list reads no case content and is not a case read.
    await client.get("/hotline/cases")
    assert len(await audits(engine, "case.read", number)) == 4
    page = await client.get(f"/hotline/cases/{number}")
    assert "<code>case.read</code>" in page.text  # the supervisor's audit history on the page
