"""The caller hangs up while an operator's phone rings for them: the ringing leg is cancelled through
Twilio's Calls API (our fake), the offer is settled, and the operator is free for the next call, once
however often and in whatever order Twilio reports the hang-up."""

from __future__ import annotations

import pytest

from hotline.voice_models import CallOutcome, CallStatus, DutyState, OfferOutcome
from tests.hotline.voice_world import open_world, twiml, verbs, voice_settings

OPERATOR_PHONE = "+8613900000001"
OTHER_CALLER = "+8613700000009"


@pytest.fixture
async def voice_world(twilio_settings, fake_twilio, engine):
    async with open_world(voice_settings(twilio_settings), fake_twilio, engine) as world:
        yield world


async def _ringing(world, **call_fields):
    """A caller queued and the operator's phone ringing for them."""
    operator = await world.on_duty(OPERATOR_PHONE)
    call = world.call(**call_fields)
    await call.incoming()
    await call.press("1")
    await world.settled()
    [leg] = world.fake.calls
    assert (await call.row()).status == CallStatus.OFFERED
    assert (await world.duty(operator)).state == DutyState.BUSY
    return operator, call, leg


def _cancels(world):
    return [(sid, fields) for sid, fields in world.fake.call_updates if fields.get("Status") == "canceled"]


async def test_caller_hanging_up_cancels_the_ringing_leg_once_and_frees_the_operator(voice_world):
    operator, call, leg = await _ringing(voice_world)

    await call.status("completed", CallDuration="12")
    await voice_world.settled()

    assert _cancels(voice_world) == [(leg.sid, {"Status": "canceled"})]
    [offer] = await voice_world.offers()
    assert (offer.outcome, offer.leg_sid) == (OfferOutcome.CANCELED, leg.sid)
    assert offer.settled_at is not None
    duty = await voice_world.duty(operator)
    assert (duty.state, duty.current_call_id) == (DutyState.AVAILABLE, None)
    assert duty.idle_since is not None
    row = await call.row()
    assert (row.status, row.outcome) == (CallStatus.ENDED, CallOutcome.ABANDONED)
    assert row.callback_due_at is not None  # the caller is called back

    # Twilio repeats the caller's callback and reports the cancelled leg: nothing more happens.
    await call.status("completed", CallDuration="12")
    await call.post("/queue-exit", QueueResult="hangup", CallStatus="completed")
    await voice_world.operator_leg(0, "canceled")
    await voice_world.settled()
    assert len(_cancels(voice_world)) == 1
    assert [o.outcome for o in await voice_world.offers()] == [OfferOutcome.CANCELED]
    assert (await voice_world.duty(operator)).state == DutyState.AVAILABLE
    # Had the operator picked up in the instant before the cancel, they hear that the caller has gone.
    late = twiml(await voice_world.operator_answers(0))
    assert verbs(late) == ["Say", "Hangup"]
    assert len(voice_world.fake.calls) == 1  # nobody was rung again for an ended call


async def test_hang_up_reported_by_the_queue_first_cancels_the_leg(voice_world):
    operator, call, leg = await _ringing(voice_world)

    await call.post("/queue-exit", QueueResult="hangup", CallStatus="completed")
    await call.status("completed", CallDuration="20")
    await voice_world.settled()

    assert _cancels(voice_world) == [(leg.sid, {"Status": "canceled"})]
    assert (await voice_world.duty(operator)).state == DutyState.AVAILABLE
    assert (await call.row()).outcome == CallOutcome.ABANDONED


async def test_the_freed_operator_is_offered_the_next_waiting_call(voice_world):
    operator, first, first_leg = await _ringing(voice_world)
    second = voice_world.call(from_=OTHER_CALLER)
    await second.incoming()
    await second.press("1")
    await voice_world.settled()
    assert (await second.row()).status == CallStatus.QUEUED  # the only operator is busy

    await first.status("completed")
    await voice_world.settled()

    assert [leg.to for leg in voice_world.fake.calls] == [OPERATOR_PHONE, OPERATOR_PHONE]
    row = await second.row()
    assert (row.status, row.operator_id) == (CallStatus.OFFERED, operator)
    assert _cancels(voice_world) == [(first_leg.sid, {"Status": "canceled"})]


async def test_twilio_refusing_the_cancel_still_frees_the_operator(voice_world):
    operator, call, _leg = await _ringing(voice_world)
    voice_world.fake.mode = "outage"

    response = await call.status("completed")
    await voice_world.settled()

    assert response.status_code == 200
    assert voice_world.fake.refused == 1  # the cancel was asked for and refused
    assert (await voice_world.duty(operator)).state == DutyState.AVAILABLE
    [offer] = await voice_world.offers()
    assert offer.outcome == OfferOutcome.CANCELED


async def test_a_hang_up_before_the_legs_sid_is_known_is_cancelled_by_the_dispatcher(settings, engine):
    # The caller hangs up while Twilio is still answering the dispatcher's Calls create: the offer is
    # settled then, with no SID to cancel; the dispatcher cancels the leg once Twilio names it.
    from datetime import timedelta

    from sqlmodel import select

    from core.db import create_sessionmaker, utcnow
    from core.privacy import FieldCipher
    from hotline.cipher_contexts import VOICE_ANSWER_PHONE
    from hotline.voice_dispatch import cancel_ringing_offer, dispatch_line
    from hotline.voice_models import OperatorDuty, VoiceOffer
    from tests.conftest import make_user
    from tests.hotline.voice_rows import a_voice_call, read_call

    cipher = FieldCipher(settings.data_key)
    sessionmaker = create_sessionmaker(engine)
    operator = await make_user(engine, "operator")
    async with sessionmaker() as session:
        session.add(
            OperatorDuty(
                staff_user_id=operator.id,
                state=DutyState.AVAILABLE,
                answer_phone_ciphertext=cipher.encrypt(OPERATOR_PHONE, context=VOICE_ANSWER_PHONE),
                idle_since=utcnow() - timedelta(minutes=1),
            )
        )
        await session.commit()
    call_id = await a_voice_call(engine, cipher, status=CallStatus.QUEUED, queued_at=utcnow())

    class HangUpWhilePlacing:
        def __init__(self):
            self.canceled = []

        async def place_call(self, call):
            async with sessionmaker() as session:  # the caller's hang-up, handled meanwhile
                assert await cancel_ringing_offer(session, call_id) is not None
                await session.commit()
            return "CA" + "f" * 32

        async def cancel(self, call_sid):
            self.canceled.append(call_sid)

    api = HangUpWhilePlacing()
    assert await dispatch_line(sessionmaker, settings, cipher, api, "12355") == 1

    assert api.canceled == ["CA" + "f" * 32]
    async with sessionmaker() as session:
        duty = await session.get(OperatorDuty, operator.id)
        assert duty is not None and duty.state == DutyState.AVAILABLE
    async with sessionmaker() as session:
        [offer] = (await session.exec(select(VoiceOffer))).all()
        assert (offer.outcome, offer.leg_sid) == (OfferOutcome.CANCELED, "CA" + "f" * 32)
    assert (await read_call(engine, call_id)).operator_id == operator.id
