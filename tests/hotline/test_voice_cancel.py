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
