"""Contract check: placing an operator's call (Calls create) with the real client against Prism serving
Twilio's own OpenAPI description. Prism validates the request (path, fields, formats, auth) and answers
with the spec's example; a request that drifts from the real API fails here."""

from __future__ import annotations

import pytest

from notifications.voice_calls_api import OutboundCall, TwilioVoice, VoiceApiError
from tests.notifications.test_contract_prism import ACCOUNT_SID, prism_url  # noqa: F401 (fixture)

CALL = OutboundCall(
    to="+8613900000001",
    from_="+8657112355000",
    url="https://hotline.example.cn/webhooks/twilio/voice/offer/whisper?offer=7",
    status_callback="https://hotline.example.cn/webhooks/twilio/voice/offer/status?offer=7",
    timeout=20,
)


def _voice(settings, prism_url: str, account_sid: str = ACCOUNT_SID) -> TwilioVoice:  # noqa: F811
    return TwilioVoice(
        settings.with_overrides(
            twilio_account_sid=account_sid, twilio_auth_token="contract-test-token", twilio_api_base=prism_url
        )
    )


async def test_placing_an_operator_call_matches_twilios_contract(settings, prism_url, monkeypatch):  # noqa: F811
    # Twilio takes the progress events as one repeated form field per event (its docs, and the client
    # sends them so); Prism's form decoder does not read repeated fields as the spec's array and refuses
    # them. Everything else is checked here; the events are checked against our fake Twilio
    # (tests/hotline/test_voice_calls.py).
    monkeypatch.setattr("notifications.voice_calls_api.OFFER_EVENTS", [])
    voice = _voice(settings, prism_url)
    try:
        sid = await voice.place_call(CALL)
    finally:
        await voice.aclose()

    assert sid.startswith("CA") and len(sid) == 34


async def test_a_malformed_account_is_refused_by_the_contract(settings, prism_url):  # noqa: F811
    voice = _voice(settings, prism_url, account_sid="not-an-account-sid")
    try:
        with pytest.raises(VoiceApiError, match="422"):
            await voice.place_call(CALL)
    finally:
        await voice.aclose()


async def test_cancelling_an_operators_ringing_call_matches_twilios_contract(settings, prism_url):  # noqa: F811
    # Calls update with Status=canceled, on a CallSid of the form Twilio gives (CA + 32 hex).
    voice = _voice(settings, prism_url)
    try:
        await voice.cancel("CA" + "0123456789abcdef" * 2)
    finally:
        await voice.aclose()


async def test_cancelling_a_malformed_call_sid_is_refused_by_the_contract(settings, prism_url):  # noqa: F811
    voice = _voice(settings, prism_url)
    try:
        with pytest.raises(VoiceApiError, match="422"):
            await voice.cancel("not-a-call-sid")
    finally:
        await voice.aclose()
