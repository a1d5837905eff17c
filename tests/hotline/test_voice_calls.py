"""A call through Twilio's voice webhooks, signed as Twilio signs them: the menu, the queue, an operator
offered the call (whisper, bridge), voicemail when nobody answers, and a record that stays consistent
whatever order Twilio's callbacks come in."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from hotline.voice_models import CallOutcome, CallStatus, DutyState, OfferOutcome
from tests.hotline.voice_world import (
    CALLER,
    NUMBER_12355,
    NUMBER_MENU,
    VOICE,
    age_queue,
    open_world,
    twiml,
    verbs,
    voice_settings,
)


@pytest.fixture
async def voice_world(twilio_settings, fake_twilio, engine):
    async with open_world(voice_settings(twilio_settings), fake_twilio, engine) as world:
        yield world


OPERATOR_PHONE = "+8613900000001"
SECOND_PHONE = "+8613900000002"


async def test_in_hours_call_hears_the_menu_in_mandarin_and_is_recorded_once(voice_world):
    call = voice_world.call()

    root = twiml(await call.incoming())

    assert verbs(root) == ["Say", "Gather"]
    gather = root.find("Gather")
    assert gather.get("action") == VOICE + "/menu"
    assert gather.get("numDigits") == "1"
    assert gather.get("actionOnEmptyResult") == "true"
    say = gather.find("Say")
    assert say.get("language") == "cmn-CN" and say.get("voice") == "Polly.Zhiyu"
    assert "请按" in say.text  # spoken in Mandarin
    row = await call.row()
    assert (row.status, row.line, row.to_number) == (CallStatus.IN_MENU, "12355", NUMBER_12355)
    assert CALLER not in (row.caller_phone_ciphertext or "")  # encrypted at rest
    assert row.caller_phone_index is not None

    # Twilio retrying the webhook replays the menu and leaves one row.
    assert verbs(twiml(await call.incoming())) == ["Say", "Gather"]
    assert (await call.row()).id == row.id


async def test_unsigned_tampered_and_replayed_voice_webhooks_are_refused(voice_world):
    call = voice_world.call()
    url = VOICE + "/incoming"
    params = voice_world.fake.voice_params(call.sid, from_=CALLER, to=NUMBER_12355)
    genuine = RequestValidator(voice_world.fake.auth_token)
    attempts = [
        {},
        {"X-Twilio-Signature": "bm9wZQ=="},
        {"X-Twilio-Signature": RequestValidator("someone-else").compute_signature(url, params)},
        {"X-Twilio-Signature": genuine.compute_signature(url, {**params, "From": "+8613999999999"})},
        {"X-Twilio-Signature": genuine.compute_signature(VOICE + "/status", params)},
    ]
    for headers in attempts:
        response = await voice_world.client.post(url, data=params, headers=headers)
        assert response.status_code == 403, headers
        assert "签名无效" in response.json()["detail"]
    for path in ("/status", "/wait", "/menu", "/offer/status?offer=1", "/offer/whisper?offer=1"):
        response = await voice_world.client.post(VOICE + path, data=params)
        assert response.status_code == 403, path
    assert voice_world.fake.calls == []
    async_rows = await voice_world.offers()
    assert async_rows == []


async def test_full_call_menu_queue_offer_whisper_bridge_completed(voice_world):
    operator = await voice_world.on_duty(OPERATOR_PHONE)
    call = voice_world.call()
    await call.incoming()

    queued = twiml(await call.press("2"))  # a child's safety

    assert verbs(queued) == ["Say", "Enqueue"]
    enqueue = queued.find("Enqueue")
    assert enqueue.text == "12355-crisis"
    assert enqueue.get("waitUrl") == VOICE + "/wait"
    assert enqueue.get("action") == VOICE + "/queue-exit"
    await voice_world.settled()
    row = await call.row()
    assert (row.status, row.menu_choice, row.crisis, row.operator_id) == (
        CallStatus.OFFERED,
        "child_safety",
        True,
        operator,
    )
    # The operator's phone rings: an outbound call through Twilio's Calls API.
    [leg] = voice_world.fake.calls
    assert (leg.to, leg.from_, leg.timeout) == (OPERATOR_PHONE, NUMBER_12355, "20")
    assert leg.url.startswith(VOICE + "/offer/whisper?offer=")
    assert leg.status_callback.startswith(VOICE + "/offer/status?offer=")
    assert set(leg.status_callback_events) == {"initiated", "ringing", "answered", "completed"}
    assert (await voice_world.duty(operator)).state == DutyState.BUSY
    # Twilio retrying the menu request while the operator's phone rings changes nothing.
    assert twiml(await call.press("2")).find("Enqueue").text == "12355-crisis"
    assert (await call.row()).status == CallStatus.OFFERED

    # The hold music says where the caller is.
    hold = twiml(await call.wait_loop())
    assert verbs(hold) == ["Say", "Say", "Pause"]
    assert "1" in hold.find("Say").text

    # The operator answers: whisper, then <Dial><Queue> of the call's queue.
    whisper = twiml(await voice_world.operator_answers(0))
    assert verbs(whisper) == ["Say", "Say", "Dial"]
    assert "12355" in whisper[1].text
    queue = whisper.find("Dial/Queue")
    assert queue.text == "12355-crisis"
    assert queue.get("url").startswith(VOICE + "/offer/connect?offer=")
    # Twilio dequeues the caller: the <Queue url> runs on the caller's leg, naming the operator leg.
    connect = await voice_world.fake.post_signed(
        voice_world.client,
        queue.get("url"),
        voice_world.fake.voice_params(
            call.sid,
            from_=CALLER,
            to=NUMBER_12355,
            DequeingCallSid=leg.sid,
            QueueTime="7",
            CallStatus="in-progress",
        ),
    )
    assert verbs(twiml(connect)) == []
    row = await call.row()
    assert (row.status, row.outcome, row.operator_id) == (
        CallStatus.CONNECTED,
        CallOutcome.ANSWERED,
        operator,
    )
    assert row.answered_at is not None and row.queue_wait_seconds is not None

    # Hang up: the caller's call and the operator's leg both end.
    await call.status("completed", CallDuration="300")
    await voice_world.operator_leg(0, "completed")
    row = await call.row()
    assert (row.status, row.outcome, row.duration_seconds) == (CallStatus.ENDED, CallOutcome.ANSWERED, 300)
    assert row.callback_due_at is None
    [offer] = await voice_world.offers()
    assert offer.outcome == OfferOutcome.ACCEPTED
    duty = await voice_world.duty(operator)
    assert (duty.state, duty.current_call_id) == (DutyState.AVAILABLE, None)


async def test_duplicate_and_out_of_order_callbacks_leave_one_consistent_record(voice_world):
    call = voice_world.call()
    # "completed" outruns everything: the row is made from it, ended, abandoned in the menu.
    await call.status("completed", CallDuration="4")
    await call.status("completed", CallDuration="4")
    await call.status("ringing")
    late = twiml(await call.incoming())
    await call.press("1")

    assert verbs(late) == ["Hangup"]
    row = await call.row()
    assert (row.status, row.outcome, row.duration_seconds) == (CallStatus.ENDED, CallOutcome.ABANDONED, 4)
    assert row.queued_at is None and row.menu_choice is None
    ended_at = row.ended_at

    await call.status("completed", CallDuration="9")
    again = await call.row()
    assert (again.ended_at, again.duration_seconds, again.updated_at) == (ended_at, 4, row.updated_at)


async def test_hanging_up_in_the_queue_is_abandoned_with_a_callback_due(voice_world):
    call = voice_world.call()
    await call.incoming()
    await call.press("1")
    await call.post("/queue-exit", QueueResult="hangup", CallStatus="completed")
    await call.status("completed", CallDuration="40")

    row = await call.row()
    assert (row.status, row.outcome) == (CallStatus.ENDED, CallOutcome.ABANDONED)
    assert row.queue_wait_seconds is not None and row.callback_due_at is not None


async def test_nobody_answers_next_operator_then_voicemail(voice_world):
    first = await voice_world.on_duty(OPERATOR_PHONE, idle_minutes=30)
    second = await voice_world.on_duty(SECOND_PHONE, idle_minutes=5)
    call = voice_world.call()
    await call.incoming()
    await call.press("0")
    await voice_world.settled()

    # The longest idle is rung first; no answer → the other one.
    assert [leg.to for leg in voice_world.fake.calls] == [OPERATOR_PHONE]
    await voice_world.operator_leg(0, "no-answer")
    await voice_world.settled()
    assert [leg.to for leg in voice_world.fake.calls] == [OPERATOR_PHONE, SECOND_PHONE]
    assert (await call.row()).operator_id == second
    assert (await voice_world.duty(first)).state == DutyState.AVAILABLE

    await voice_world.operator_leg(1, "busy")
    await voice_world.settled()
    # Nobody left who has not missed it: the next wait loop takes the caller to voicemail.
    assert len(voice_world.fake.calls) == 2
    assert verbs(twiml(await call.wait_loop())) == ["Leave"]
    mailbox = twiml(await call.post("/queue-exit", QueueResult="leave", CallStatus="in-progress"))
    assert verbs(mailbox) == ["Say", "Say", "Record", "Say", "Hangup"]
    record = mailbox.find("Record")
    assert record.get("recordingStatusCallback") == VOICE + "/voicemail-recording"
    await call.post(
        "/voicemail-recording",
        RecordingSid="RE" + "a" * 32,
        RecordingDuration="31",
        RecordingStatus="completed",
    )
    await call.status("completed", CallDuration="90")

    row = await call.row()
    assert (row.status, row.outcome, row.voicemail_seconds) == (CallStatus.ENDED, CallOutcome.VOICEMAIL, 31)
    assert row.callback_due_at is not None
    assert [o.outcome for o in await voice_world.offers()] == [OfferOutcome.MISSED, OfferOutcome.MISSED]


async def test_nobody_on_duty_waits_then_voicemail(voice_world):
    call = voice_world.call()
    await call.incoming()
    await call.press("0")
    await voice_world.settled()
    assert verbs(twiml(await call.wait_loop())) == ["Say", "Say", "Pause"]

    await age_queue(voice_world.engine, call.sid, voice_world.settings.voice_voicemail_wait_seconds)

    assert verbs(twiml(await call.wait_loop())) == ["Leave"]
    assert (await call.row()).status == CallStatus.RECORDING
    assert voice_world.fake.calls == []


async def test_operator_of_another_line_or_sibling_unit_is_not_offered(voice_world, engine):
    from core.db import create_sessionmaker
    from core.units import create_unit

    async with create_sessionmaker(engine)() as session:
        sibling = await create_unit(
            session, name="邻区中心", kind="guidance_centre", region_code="330100", parent_id=1
        )
        await session.commit()
    await voice_world.on_duty(OPERATOR_PHONE, line="family_edu")
    await voice_world.on_duty(SECOND_PHONE, unit_id=sibling.id)
    call = voice_world.call()
    await call.incoming()
    await call.press("0")
    await voice_world.settled()

    assert voice_world.fake.calls == []
    assert (await call.row()).status == CallStatus.QUEUED


async def test_main_menu_number_takes_the_line_from_the_choice(voice_world):
    call = voice_world.call(to=NUMBER_MENU)
    await call.incoming()
    queued = twiml(await call.press("1"))

    assert queued.find("Enqueue").text == "family_edu"
    assert (await call.row()).line == "family_edu"


async def test_out_of_hours_voicemail_becomes_a_callback(voice_world, twilio_settings, fake_twilio, engine):
    from tests.hotline.voice_world import voice_client

    closed = voice_settings(twilio_settings, voice_hours="12355=;family_edu=")
    async with voice_client(closed) as client:
        voice_world.client = client
        call = voice_world.call()
        root = twiml(await call.incoming())
        assert verbs(root) == ["Say", "Say", "Record", "Say", "Hangup"]
        assert "110" in root[0].text and "120" in root[0].text
        await call.post(
            "/voicemail-recording",
            RecordingSid="RE" + "b" * 32,
            RecordingDuration="12",
            RecordingStatus="completed",
        )
        await call.status("completed", CallDuration="30")
    row = await call.row()
    assert (row.outcome, row.voicemail_sid, row.voicemail_seconds) == (
        CallOutcome.OUT_OF_HOURS,
        "RE" + "b" * 32,
        12,
    )
    assert row.callback_due_at is not None


async def test_signature_over_the_public_https_url_behind_a_tls_proxy(voice_world, twilio_settings):
    from tests.hotline.voice_world import voice_client

    public = voice_settings(twilio_settings, public_base_url="https://hotline.example.cn")
    async with voice_client(public) as client:
        params = voice_world.fake.voice_params("CA" + "c" * 32, from_=CALLER, to=NUMBER_12355)
        genuine = RequestValidator(voice_world.fake.auth_token)
        # The proxy ends TLS and forwards plain HTTP to us; Twilio signed the public https URL.
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hotline.example.cn"}
        signed_public = genuine.compute_signature(
            "https://hotline.example.cn/webhooks/twilio/voice/incoming", params
        )
        signed_inside = genuine.compute_signature(VOICE + "/incoming", params)

        ok = await client.post(
            "/webhooks/twilio/voice/incoming",
            data=params,
            headers={**forwarded, "X-Twilio-Signature": signed_public},
        )
        refused = await client.post(
            "/webhooks/twilio/voice/incoming",
            data=params,
            headers={**forwarded, "X-Twilio-Signature": signed_inside},
        )

    root = twiml(ok)
    assert root.find("Gather").get("action") == "https://hotline.example.cn/webhooks/twilio/voice/menu"
    assert refused.status_code == 403
