"""The operator's voice console: duty from the console (validated number, encrypted and masked, state
changes that refuse mid-call), the live screen-pop (server-sent events, the operator's own call only, the
caller's earlier cases within scope, audited) and logging a voice call into a new or an earlier case."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlmodel import select

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from hotline.cipher_contexts import VOICE_ANSWER_PHONE
from hotline.models import Call
from hotline.voice_models import CallOutcome, CallStatus, DutyState, OperatorDuty
from hotline.voice_screen import screen_pop_events
from tests.conftest import log_in, post_form
from tests.hotline.calls import PHONE, a_call, count_rows
from tests.hotline.casework_rows import a_case
from tests.hotline.voice_rows import a_voice_call, ago, read_call, set_call
from tests.hotline.voice_world import open_world, voice_settings


async def _duty(engine, user_id: int) -> OperatorDuty | None:
    async with create_sessionmaker(engine)() as session:
        return await session.get(OperatorDuty, user_id)


async def _audits(engine, action: str) -> int:
    return await count_rows(engine, "audit_event", f"action = '{action}'")


async def _sibling_unit(engine) -> int:
    async with create_sessionmaker(engine)() as session:
        unit = await create_unit(
            session, name="东区", kind=UnitKind.OTHER, region_code="330102", parent_id=None
        )
        await session.commit()
        return unit.id or 0


# ---- duty -----------------------------------------------------------------------------------------------


async def test_an_operator_goes_on_duty_pauses_resumes_and_goes_off(client, engine, settings, monkeypatch):
    dispatched: list[str] = []

    def record(runtime, line):
        dispatched.append(line)

    monkeypatch.setattr("hotline.voice_runtime.VoiceRuntime.kick", record)
    operator = await log_in(client, engine, Role.OPERATOR)
    page = await client.get("/hotline/voice/")
    assert page.status_code == 200 and 'data-duty="off"' in page.text

    on = await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "0571-8765 4321"})
    assert on.status_code == 200 and 'data-duty="available"' in on.text
    # Shown masked; stored encrypted, bound to its column.
    assert "571****4321" in on.text and "87654321" not in on.text
    duty = await _duty(engine, operator.id)
    assert duty is not None and duty.state == DutyState.AVAILABLE and duty.idle_since is not None
    assert "8765" not in (duty.answer_phone_ciphertext or "")
    cipher = FieldCipher(settings.data_key)
    assert cipher.decrypt(duty.answer_phone_ciphertext or "", context=VOICE_ANSWER_PHONE) == "+8657187654321"
    assert dispatched == ["12355", "family_edu"]  # every line: this operator is limited to none

    paused = await post_form(client, "/hotline/voice/duty/pause", {})
    assert 'data-duty="paused"' in paused.text
    assert (await _duty(engine, operator.id)).idle_since is None
    resumed = await post_form(client, "/hotline/voice/duty/resume", {})
    assert 'data-duty="available"' in resumed.text
    after_resume = await _duty(engine, operator.id)
    assert after_resume.idle_since is not None and after_resume.idle_since >= duty.idle_since
    assert dispatched == ["12355", "family_edu"] * 2  # on duty, then resumed: every line both times

    off = await post_form(client, "/hotline/voice/duty/off", {})
    assert 'data-duty="off"' in off.text
    final = await _duty(engine, operator.id)
    assert final.state == DutyState.OFF and final.idle_since is None
    assert [await _audits(engine, f"voice.duty_{act}") for act in ("on", "pause", "resume", "off")] == [
        1,
        1,
        1,
        1,
    ]


async def test_a_bad_number_is_refused_with_a_message_and_nothing_changes(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    for bad in ("", "12345", "+44 20 7946 0958", "138-1234-567a"):
        refused = await post_form(client, "/hotline/voice/duty/on", {"answer_phone": bad})
        assert refused.status_code == 400, bad
        assert 'id="answer_phone-error"' in refused.text
        assert await _duty(engine, operator.id) is None
    assert await _audits(engine, "voice.duty_on") == 0
    # Going on duty with a number, then a bad new number: still on the first one.
    await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "13912345678"})
    before = await _duty(engine, operator.id)
    refused = await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "999"})
    assert refused.status_code == 400
    after = await _duty(engine, operator.id)
    assert after.answer_phone_ciphertext == before.answer_phone_ciphertext and after.state == before.state


async def test_an_operator_on_a_call_cannot_pause_or_go_off_and_is_told_why(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "13912345678"})
    async with create_sessionmaker(engine)() as session:  # the dispatcher offered them a call
        await session.exec(text("UPDATE operator_duty SET state = 'busy', idle_since = NULL"))
        await session.commit()
    for act in ("off", "pause", "on"):
        refused = await post_form(client, f"/hotline/voice/duty/{act}", {"answer_phone": "13700001111"})
        assert refused.status_code == 409, act
        assert "finish it first" in refused.text or "先" in refused.text
        assert (await _duty(engine, operator.id)).state == DutyState.BUSY
    assert await _audits(engine, "voice.duty_off") == 0
    # Acts that the state does not allow: resume while not paused.
    async with create_sessionmaker(engine)() as session:
        await session.exec(text("UPDATE operator_duty SET state = 'available'"))
        await session.commit()
    assert (await post_form(client, "/hotline/voice/duty/resume", {})).status_code == 409
    assert (await post_form(client, "/hotline/voice/duty/nap", {})).status_code == 404


async def test_duty_needs_a_hotline_role(client, engine):
    coordinator = await log_in(client, engine, Role.COORDINATOR)
    assert (await client.get("/hotline/voice/")).status_code == 403
    refused = await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "13912345678"})
    assert refused.status_code == 403
    assert await _duty(engine, coordinator.id) is None


async def test_duty_needs_a_csrf_token(client, engine):
    operator = await log_in(client, engine, Role.OPERATOR)
    no_token = await client.post("/hotline/voice/duty/on", data={"answer_phone": "13912345678"})
    assert no_token.status_code == 403
    assert await _duty(engine, operator.id) is None


async def test_a_line_limited_operator_is_on_duty_for_their_line_only(client, engine, monkeypatch):
    dispatched: list[str] = []

    def record(runtime, line):
        dispatched.append(line)

    monkeypatch.setattr("hotline.voice_runtime.VoiceRuntime.kick", record)
    operator = await log_in(client, engine, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        await session.exec(text(f"UPDATE staff_user SET line = 'family_edu' WHERE id = {operator.id}"))  # noqa: S608
        await session.commit()
    await post_form(client, "/hotline/voice/duty/on", {"answer_phone": "13912345678"})
    assert dispatched == ["family_edu"]


async def test_going_on_duty_offers_a_call_already_waiting(twilio_settings, fake_twilio, engine):
    # A caller waits with nobody on duty; the operator who goes on duty from the console is rung at once
    # (the console kicks the dispatcher after its commit), not only when the next call arrives.
    async with open_world(voice_settings(twilio_settings), fake_twilio, engine) as world:
        call = world.call()
        await call.incoming()
        await call.press("0")
        await world.settled()
        assert world.fake.calls == [] and (await call.row()).status == CallStatus.QUEUED

        operator = await log_in(world.client, engine, Role.OPERATOR)
        on = await post_form(world.client, "/hotline/voice/duty/on", {"answer_phone": "13912345678"})
        # The page after the redirect may be drawn before or after the dispatcher (in the background)
        # has claimed this operator for the waiting call.
        assert on.status_code == 200
        assert 'data-duty="available"' in on.text or 'data-duty="busy"' in on.text
        await world.settled()

        [leg] = world.fake.calls
        assert leg.to == "+8613912345678"
        row = await call.row()
        assert (row.status, row.operator_id) == (CallStatus.OFFERED, operator.id)
        assert (await world.duty(operator.id)).state == DutyState.BUSY


# ---- screen-pop -----------------------------------------------------------------------------------------


async def _events(engine, settings, viewer, ticks: int, between=None) -> list[str]:
    """Run the stream for `ticks` polls without waiting; `between(tick)` changes rows between polls."""
    count = {"tick": 0}

    async def no_wait(_seconds: float) -> None:
        count["tick"] += 1
        if between is not None:
            await between(count["tick"])

    def render(pop, to_log) -> str:
        if pop is None:
            return "none:" + ",".join(str(c.voice_call_id) for c in to_log)
        return f"call:{pop.voice_call_id}:{pop.status}:{pop.caller_masked}:" + ",".join(
            case.number for case in pop.earlier_cases
        )

    out = []
    async for message in screen_pop_events(
        create_sessionmaker(engine),
        FieldCipher(settings.data_key),
        viewer,
        render,
        seconds=ticks,
        poll=1,
        sleep=no_wait,
    ):
        if message.event == "pop":
            out.append(str(message.data))
    return out


async def test_the_stream_pops_my_call_with_the_callers_earlier_case_and_nothing_of_anothers(
    engine, settings
):
    from tests.conftest import make_user

    cipher = FieldCipher(settings.data_key)
    me = await make_user(engine, Role.OPERATOR, "me")
    colleague = await make_user(engine, Role.OPERATOR, "colleague")
    _, earlier = await a_case(engine, cipher, colleague, caller_phone=PHONE)
    others = await a_voice_call(engine, cipher, phone="+8613911112222", status=CallStatus.QUEUED)
    mine = await a_voice_call(engine, cipher, status=CallStatus.QUEUED, menu_choice="2", crisis=True)

    async def callbacks(tick: int) -> None:
        if tick == 1:  # another operator is offered and takes their call
            await set_call(engine, others, status=CallStatus.CONNECTED, operator_id=colleague.id)
        if tick == 2:
            await set_call(engine, mine, status=CallStatus.OFFERED, operator_id=me.id)
        if tick == 3:
            await set_call(
                engine, mine, status=CallStatus.CONNECTED, answered_at=utcnow(), queue_wait_seconds=12
            )
        if tick == 5:
            await set_call(
                engine, mine, status=CallStatus.ENDED, outcome=CallOutcome.ANSWERED, ended_at=utcnow()
            )

    events = await _events(engine, settings, me, ticks=7, between=callbacks)
    assert events == [
        "none:",
        f"call:{mine}:offered:138****5678:{earlier}",
        f"call:{mine}:connected:138****5678:{earlier}",
        f"none:{mine}",  # ended, not logged yet: it stays on the console to be logged
    ]
    assert not any(f"call:{others}" in event for event in events)
    # Each pop read the caller's history and was audited; the colleague's call was never read.
    async with engine.connect() as conn:
        audited = (
            await conn.execute(
                text("SELECT object_id FROM audit_event WHERE action = 'voice.caller_history'")
            )
        ).all()
    assert sorted(row[0] for row in audited) == [str(mine), str(mine)]


async def test_a_sibling_units_cases_never_appear_in_the_pop(engine, settings):
    from tests.conftest import make_user

    cipher = FieldCipher(settings.data_key)
    east = await _sibling_unit(engine)
    me = await make_user(engine, Role.OPERATOR, "me")
    east_operator = await make_user(engine, Role.OPERATOR, "east-op", unit_id=east)
    _, east_case = await a_case(engine, cipher, east_operator, caller_phone=PHONE)
    _, own_case = await a_case(engine, cipher, me, caller_phone=PHONE, line="family_edu")
    call = await a_voice_call(engine, cipher, status=CallStatus.CONNECTED, operator_id=me.id)
    events = await _events(engine, settings, me, ticks=1)
    assert events == [f"call:{call}:connected:138****5678:{own_case}"]
    assert east_case not in events[0]
    # A call of the sibling unit wrongly pointing at me is not shown either.
    await set_call(engine, call, unit_id=east)
    assert await _events(engine, settings, me, ticks=1) == ["none:"]


async def test_the_event_stream_over_http_and_the_no_script_page(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    me = await log_in(client, engine, Role.OPERATOR)
    call = await a_voice_call(
        engine, cipher, status=CallStatus.CONNECTED, operator_id=me.id, menu_choice="2", crisis=True
    )
    stream = await client.get("/hotline/voice/screen-pop/events")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert "event: pop" in stream.text and f'data-voice-call="{call}"' in stream.text
    assert "data-crisis" in stream.text and "138****5678" in stream.text and "13812345678" not in stream.text
    page = await client.get("/hotline/voice/")
    assert f'data-voice-call="{call}"' in page.text  # the page itself is the no-script fallback
    assert '<script src="/static/voice_console.js" defer></script>' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert (await client.get("/static/voice_console.js")).status_code == 200


# ---- logging the call into a case ----------------------------------------------------------------------


async def test_logging_a_voice_call_into_a_new_case_links_the_call(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    me = await log_in(client, engine, Role.OPERATOR)
    answered = ago(90)
    call = await a_voice_call(
        engine,
        cipher,
        status=CallStatus.CONNECTED,
        operator_id=me.id,
        answered_at=answered,
        line="family_edu",
    )
    form = await client.get(f"/hotline/voice/calls/{call}/log")
    assert form.status_code == 200
    assert 'option value="family_edu" selected' in form.text and "138****5678" in form.text
    assert 'name="caller_phone"' not in form.text  # the number comes from the call record
    saved = await post_form(
        client,
        f"/hotline/voice/calls/{call}/log",
        a_call(line="family_edu", caller_phone="13700000000"),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    number = re.search(r"/hotline/cases/([^?]+)\?logged=(\d+)", saved.headers["location"])
    assert number is not None
    linked = await read_call(engine, call)
    assert linked.hotline_call_id == int(number.group(2)) and linked.case_id is not None
    async with create_sessionmaker(engine)() as session:
        row = await session.get(Call, linked.hotline_call_id)
        assert row is not None and row.channel == "voice" and row.line == "family_edu"
        assert row.received_at == answered
        # The caller's number from Twilio, not anything typed into the form.
        assert (
            cipher.decrypt(row.caller_phone_ciphertext or "", context="hotline_call.caller_phone")
            == "+8613812345678"
        )
    assert await _audits(engine, "voice.call_logged") == 1
    # Logged once: a second save is refused and nothing more is saved.
    calls_before = await count_rows(engine, "hotline_call")
    again = await post_form(client, f"/hotline/voice/calls/{call}/log", a_call(line="family_edu"))
    assert again.status_code == 400 and await count_rows(engine, "hotline_call") == calls_before


async def test_logging_into_the_earlier_case_from_the_pop(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    me = await log_in(client, engine, Role.OPERATOR)
    case_id, earlier = await a_case(engine, cipher, me, caller_phone=PHONE)
    call = await a_voice_call(
        engine, cipher, status=CallStatus.CONNECTED, operator_id=me.id, answered_at=ago(30)
    )
    page = await client.get("/hotline/voice/")
    link = f"/hotline/voice/calls/{call}/log?case={earlier}"
    assert link in page.text
    form = await client.get(link)
    assert f'value="{earlier}"' in form.text
    saved = await post_form(
        client, f"/hotline/voice/calls/{call}/log", a_call(case_number=earlier), follow_redirects=False
    )
    assert saved.status_code == 303 and earlier in saved.headers["location"]
    linked = await read_call(engine, call)
    assert linked.case_id == case_id
    assert await count_rows(engine, "referral_case") == 1
    assert await count_rows(engine, "hotline_call", f"case_id = {case_id} AND channel = 'voice'") == 1


async def test_a_bad_log_form_saves_nothing_and_links_nothing(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    me = await log_in(client, engine, Role.OPERATOR)
    call = await a_voice_call(engine, cipher, status=CallStatus.CONNECTED, operator_id=me.id)
    refused = await post_form(
        client, f"/hotline/voice/calls/{call}/log", a_call(summary="", case_number="FE-1")
    )
    assert refused.status_code == 400 and "summary-error" in refused.text
    assert await count_rows(engine, "hotline_call") == 0
    assert (await read_call(engine, call)).hotline_call_id is None


async def test_someone_elses_or_a_sibling_units_call_cannot_be_logged(app, engine, settings):
    from tests.conftest import make_user

    cipher = FieldCipher(settings.data_key)
    colleague = await make_user(engine, Role.OPERATOR, "colleague")
    theirs = await a_voice_call(engine, cipher, status=CallStatus.CONNECTED, operator_id=colleague.id)
    async with AsyncTestClient(app=app) as client:
        await log_in(client, engine, Role.OPERATOR)
        assert (await client.get(f"/hotline/voice/calls/{theirs}/log")).status_code == 404
        assert (await post_form(client, f"/hotline/voice/calls/{theirs}/log", a_call())).status_code == 404
    east = await _sibling_unit(engine)
    async with AsyncTestClient(app=app) as east_client:
        east_operator = await log_in(east_client, engine, Role.OPERATOR, unit_id=east)
        await set_call(engine, theirs, operator_id=east_operator.id)  # a row of the first unit, not theirs
        assert (await east_client.get(f"/hotline/voice/calls/{theirs}/log")).status_code == 404
        page = await east_client.get("/hotline/voice/")
        assert f'data-voice-call="{theirs}"' not in page.text
    assert east != DEFAULT_UNIT_ID
    assert (await read_call(engine, theirs)).hotline_call_id is None
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(Call))).first() is None
