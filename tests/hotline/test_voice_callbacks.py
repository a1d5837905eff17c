"""The callback list: voicemails and calls abandoned in the queue, masked, in the viewer's scope; calling
back through Twilio (operator's phone first, then the caller), once; audited playback by SID."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from core.audit import AuditEvent
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.units import create_unit
from hotline.cipher_contexts import VOICE_ANSWER_PHONE
from hotline.voice_dispatch import dispatch_line
from hotline.voice_models import CallStatus, DutyState, OperatorDuty, VoiceCall, VoiceOffer
from hotline.voice_records import open_call
from notifications.voice_calls_api import TwilioVoice
from tests.conftest import log_in, post_form
from tests.hotline.voice_world import (
    CALLER,
    NUMBER_12355,
    VOICE,
    RecordingVoiceApi,
    open_world,
    twiml,
    verbs,
    voice_settings,
)

OPERATOR_PHONE = "+8613900000001"


@pytest.fixture
async def voice_world(twilio_settings, fake_twilio, engine):
    async with open_world(voice_settings(twilio_settings), fake_twilio, engine) as world:
        yield world


async def _voicemail(world, *, caller: str = CALLER) -> VoiceCall:
    call = world.call(from_=caller)
    await call.incoming()
    await call.press("1")
    await call.post("/queue-exit", QueueResult="hangup", CallStatus="completed")
    await call.post("/voicemail-recording", RecordingSid="RE" + "d" * 32, RecordingDuration="17")
    return await call.row()


async def _go_on_duty(world, staff_id: int, phone: str = OPERATOR_PHONE) -> None:
    async with create_sessionmaker(world.engine)() as session:
        session.add(
            OperatorDuty(
                staff_user_id=staff_id,
                state=DutyState.PAUSED,
                answer_phone_ciphertext=world.cipher.encrypt(phone, context=VOICE_ANSWER_PHONE),
            )
        )
        await session.commit()


async def test_callback_list_masks_numbers_and_calling_back_rings_the_operator_then_the_caller(voice_world):
    row = await _voicemail(voice_world)
    client = voice_world.client
    operator = await log_in(client, voice_world.engine, "operator")

    page = await client.get("/hotline/callbacks")
    assert page.status_code == 200
    assert f'data-callback="{row.id}"' in page.text
    assert CALLER not in page.text and CALLER[-4:] in page.text  # masked
    assert "17" in page.text
    tasks = await client.get("/hotline/tasks")
    assert 'href="/hotline/callbacks"' in tasks.text

    # Not on duty: no phone to ring first.
    refused = await post_form(client, f"/hotline/callbacks/{row.id}/call", {})
    assert refused.status_code == 400
    assert voice_world.fake.calls == []

    await _go_on_duty(voice_world, operator.id)
    api = client.app.state.voice.api = RecordingVoiceApi()
    done = await post_form(client, f"/hotline/callbacks/{row.id}/call", {}, follow_redirects=False)
    assert done.status_code == 303
    [leg] = api.placed
    assert (leg.to, leg.from_) == (OPERATOR_PHONE, NUMBER_12355)
    assert leg.url == f"{VOICE}/callback/bridge?call={row.id}"
    # The operator answers: Twilio fetches the bridge, which dials the caller from our number.
    bridge = twiml(
        await voice_world.fake.post_signed(
            client, leg.url, voice_world.fake.voice_params("CA" + "e" * 32, from_=leg.from_, to=leg.to)
        )
    )
    assert verbs(bridge) == ["Say", "Dial"]
    assert bridge.find("Dial").text == CALLER
    assert bridge.find("Dial").get("callerId") == NUMBER_12355

    again = await post_form(client, f"/hotline/callbacks/{row.id}/call", {})
    assert again.status_code == 409
    assert len(api.placed) == 1
    called_back = await client.get("/hotline/callbacks")
    assert f'data-callback="{row.id}"' not in called_back.text
    async with create_sessionmaker(voice_world.engine)() as session:
        stored = await session.get(VoiceCall, row.id)
        audit = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "voice_call.call_back"))
        ).all()
    assert (stored.callback_by_id, stored.callback_done_at is not None) == (operator.id, True)
    assert [(a.actor_id, a.object_id) for a in audit] == [(operator.id, str(row.id))]


async def test_playing_a_voicemail_is_audited_and_redirects_to_twilio_by_sid(voice_world):
    row = await _voicemail(voice_world)
    client = voice_world.client
    supervisor = await log_in(client, voice_world.engine, "supervisor")

    response = await client.get(f"/hotline/voice-calls/{row.id}/voicemail", follow_redirects=False)
    no_recording = await client.get(f"/hotline/voice-calls/{row.id}/recording", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/Recordings/RE{'d' * 32}.mp3")
    assert voice_world.fake.account_sid in response.headers["location"]
    assert no_recording.status_code == 404
    async with create_sessionmaker(voice_world.engine)() as session:
        audit = (await session.exec(select(AuditEvent).where(AuditEvent.object_type == "voice_call"))).all()
    assert [(a.action, a.actor_id) for a in audit] == [("voice_call.play_voicemail", supervisor.id)]


async def test_a_sibling_unit_neither_lists_nor_calls_back_nor_plays(voice_world):
    async with create_sessionmaker(voice_world.engine)() as session:
        sibling = await create_unit(
            session, name="东区中心", kind="guidance_centre", region_code="330100", parent_id=1
        )
        await session.commit()
    row = await _voicemail(voice_world)
    client = voice_world.client
    east = await log_in(client, voice_world.engine, "operator", unit_id=sibling.id)
    await _go_on_duty(voice_world, east.id)
    api = client.app.state.voice.api = RecordingVoiceApi()

    listing = await client.get("/hotline/callbacks")
    call_back = await post_form(client, f"/hotline/callbacks/{row.id}/call", {})
    play = await client.get(f"/hotline/voice-calls/{row.id}/voicemail", follow_redirects=False)

    assert f'data-callback="{row.id}"' not in listing.text and CALLER[-4:] not in listing.text
    assert (call_back.status_code, play.status_code) == (404, 404)
    assert api.placed == []


async def test_two_dispatchers_at_once_never_offer_one_call_twice_nor_one_operator_two_calls(
    twilio_settings, fake_twilio, engine
):
    settings = voice_settings(twilio_settings)
    cipher = FieldCipher(settings.data_key)
    maker = create_sessionmaker(engine)
    from tests.conftest import make_user

    operators = [await make_user(engine, "operator") for _ in range(2)]
    async with maker() as session:
        for index, user in enumerate(operators):
            session.add(
                OperatorDuty(
                    staff_user_id=user.id,
                    state=DutyState.AVAILABLE,
                    answer_phone_ciphertext=cipher.encrypt(
                        f"+861390000000{index}", context=VOICE_ANSWER_PHONE
                    ),
                )
            )
        for index in range(3):
            await open_call(
                session,
                cipher,
                call_sid=f"CA{index:032d}",
                unit_id=1,
                line="12355",
                to_number=NUMBER_12355,
                caller=CALLER,
            )
        await session.commit()
        from sqlalchemy import update

        from core.db import utcnow

        await session.exec(update(VoiceCall).values(status=CallStatus.QUEUED, queued_at=utcnow()))
        await session.commit()
    api = TwilioVoice(settings)
    try:
        placed = await asyncio.gather(
            *(dispatch_line(maker, settings, cipher, api, "12355") for _ in range(4))
        )
    finally:
        await api.aclose()

    async with maker() as session:
        offers = (await session.exec(select(VoiceOffer))).all()
        offered = (await session.exec(select(VoiceCall).where(VoiceCall.status == CallStatus.OFFERED))).all()
    assert sum(placed) == 2 == len(offers) == len(fake_twilio.calls) == len(offered)
    assert len({o.voice_call_id for o in offers}) == 2
    assert len({o.operator_id for o in offers}) == 2
    assert {o.leg_sid for o in offers} == {c.sid for c in fake_twilio.calls}


async def test_the_safety_net_sends_overdue_calls_to_voicemail_and_offers_the_others(
    twilio_settings, fake_twilio, engine
):
    from datetime import timedelta

    from sqlalchemy import update

    from core.db import utcnow
    from hotline.voice_dispatch import sweep
    from tests.conftest import make_user

    settings = voice_settings(twilio_settings)
    cipher = FieldCipher(settings.data_key)
    maker = create_sessionmaker(engine)
    operator = await make_user(engine, "operator")
    async with maker() as session:
        for sid in ("CA" + "1" * 32, "CA" + "2" * 32):
            await open_call(
                session, cipher, call_sid=sid, unit_id=1, line="12355", to_number=NUMBER_12355, caller=CALLER
            )
        overdue = utcnow() - timedelta(seconds=settings.voice_voicemail_wait_seconds + 1)
        await session.exec(update(VoiceCall).values(status=CallStatus.QUEUED, queued_at=utcnow()))
        await session.exec(
            update(VoiceCall).where(VoiceCall.call_sid == "CA" + "1" * 32).values(queued_at=overdue)
        )
        session.add(
            OperatorDuty(
                staff_user_id=operator.id,
                state=DutyState.AVAILABLE,
                answer_phone_ciphertext=cipher.encrypt(OPERATOR_PHONE, context=VOICE_ANSWER_PHONE),
            )
        )
        await session.commit()
    api = TwilioVoice(settings)
    try:
        assert await sweep(maker, settings, cipher, api) == 1
    finally:
        await api.aclose()

    async with maker() as session:
        states = dict((await session.exec(select(VoiceCall.call_sid, VoiceCall.status))).all())
    assert states == {"CA" + "1" * 32: CallStatus.RECORDING, "CA" + "2" * 32: CallStatus.OFFERED}
    assert [leg.to for leg in fake_twilio.calls] == [OPERATOR_PHONE]
