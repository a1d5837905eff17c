"""Twilio calling us back: delivery reports and STOP/START replies, accepted only when Twilio signed them."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from core.privacy import phone_index
from notifications.jobs import job_context, send_outbox_message
from notifications.sms import SentSms, TwilioSender
from notifications.webhooks import INBOUND_PATH, keyword_action
from tests.conftest import TWILIO_FROM
from tests.notifications.conftest import (
    PARENT_PHONE,
    enqueue_committed,
    load,
    opt_out_indexes,
)

STATUS_URL = "http://testserver.local/webhooks/twilio/sms-status"
INBOUND_URL = "http://testserver.local" + INBOUND_PATH


async def _sent_message(job_ctx, engine, cipher, fake_twilio, **kwargs):
    """One SMS really sent through the Twilio client to the fake; returns (outbox id, what Twilio got)."""
    outbox_id = await enqueue_committed(engine, cipher, **kwargs)
    assert await send_outbox_message(job_ctx, outbox_id) == "sent"
    return outbox_id, fake_twilio.messages[-1]


async def test_signed_delivery_report_marks_the_sms_delivered(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    outbox_id, message = await _sent_message(job_ctx, engine, cipher, fake_twilio)

    response = await fake_twilio.post_status_callback(twilio_app_client, message, "delivered")

    assert response.status_code == 200
    row = await load(engine, outbox_id)
    assert (row.status, row.provider_status) == ("delivered", "delivered")


async def test_failed_delivery_records_twilio_error_code(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    outbox_id, message = await _sent_message(job_ctx, engine, cipher, fake_twilio)

    await fake_twilio.post_status_callback(twilio_app_client, message, "undelivered", error_code="30003")

    row = await load(engine, outbox_id)
    assert row.status == "undelivered"
    assert "30003" in row.last_error


async def test_unsigned_and_forged_reports_are_refused_and_change_nothing(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    outbox_id, message = await _sent_message(job_ctx, engine, cipher, fake_twilio)
    url = message.status_callback
    params = {"MessageSid": message.sid, "MessageStatus": "failed", "ErrorCode": "30007"}
    forger = RequestValidator("not-our-auth-token")
    genuine = RequestValidator(fake_twilio.auth_token)

    attempts = [
        {},  # no signature at all
        {"X-Twilio-Signature": ""},
        {"X-Twilio-Signature": forger.compute_signature(url, params)},
        # Twilio's signature for other content: "delivered" signed, "failed" posted.
        {"X-Twilio-Signature": genuine.compute_signature(url, {**params, "MessageStatus": "delivered"})},
        # Signed for another URL (the inbound webhook), replayed here.
        {"X-Twilio-Signature": genuine.compute_signature(INBOUND_URL, params)},
    ]
    for headers in attempts:
        response = await twilio_app_client.post(url, data=params, headers=headers)
        assert response.status_code == 403, headers
        assert "签名无效" in response.json()["detail"]  # zh_Hans is the default locale

    row = await load(engine, outbox_id)
    assert (row.status, row.last_error) == ("sent", None)


async def test_refusal_is_explained_in_english_when_asked(twilio_app_client):
    response = await twilio_app_client.post(
        STATUS_URL, data={"MessageSid": "SMx", "MessageStatus": "failed"}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Twilio signature missing or invalid")


async def test_repeated_and_late_reports_never_move_the_status_backwards(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    outbox_id, message = await _sent_message(job_ctx, engine, cipher, fake_twilio)

    for status in ["delivered", "delivered", "sent", "queued", "failed"]:
        response = await fake_twilio.post_status_callback(twilio_app_client, message, status)
        assert response.status_code == 200
        assert (await load(engine, outbox_id)).status == "delivered", status


async def test_report_that_beats_the_workers_own_write_is_not_lost(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio, twilio_sender
):
    """Twilio can report "delivered" before the worker has stored the message SID."""

    class ReportsBeforeReturning:
        async def send(self, to_e164: str, body: str, *, status_callback: str | None = None) -> SentSms:
            sent = await twilio_sender.send(to_e164, body, status_callback=status_callback)
            response = await fake_twilio.post_status_callback(
                twilio_app_client, fake_twilio.messages[-1], "delivered"
            )
            assert response.json() == {"updated": True}
            return sent

    outbox_id = await enqueue_committed(engine, cipher)
    assert (
        await send_outbox_message(
            job_context(job_ctx["sms"].with_sender(ReportsBeforeReturning())), outbox_id
        )
        == "sent"
    )

    row = await load(engine, outbox_id)
    assert (row.status, row.provider_sid) == ("delivered", fake_twilio.messages[-1].sid)


async def test_outbox_id_in_a_report_cannot_relabel_a_message_that_has_its_own_sid(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    outbox_id, message = await _sent_message(job_ctx, engine, cipher, fake_twilio)
    # A genuinely signed report about some other message, arriving on this message's callback URL.
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "failed"}
    response = await fake_twilio.post_signed(twilio_app_client, message.status_callback, params)

    assert response.json() == {"updated": False}
    assert (await load(engine, outbox_id)).status == "sent"


async def test_stop_reply_opts_the_number_out_and_later_notices_are_suppressed(
    twilio_app_client, job_ctx, engine, cipher, fake_twilio
):
    response = await fake_twilio.post_inbound(
        twilio_app_client, INBOUND_URL, from_=PARENT_PHONE, to=TWILIO_FROM, body="STOP"
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert response.text.endswith("<Response></Response>")
    assert await opt_out_indexes(engine) == {phone_index(cipher, PARENT_PHONE)}

    notice_id = await enqueue_committed(engine, cipher, kind="booking_confirmed")
    assert await send_outbox_message(job_ctx, notice_id) == "suppressed"
    assert (await load(engine, notice_id)).status == "suppressed"
    assert fake_twilio.messages == []

    # A code the parent has just asked for on the booking page still goes out.
    code_id = await enqueue_committed(
        engine, cipher, kind="otp", body="【家庭教育热线】您的预约验证码为123456"
    )
    assert await send_outbox_message(job_ctx, code_id) == "sent"
    assert [m.to for m in fake_twilio.messages] == [PARENT_PHONE]


async def test_start_reply_lifts_the_opt_out(twilio_app_client, job_ctx, engine, cipher, fake_twilio):
    await fake_twilio.post_inbound(
        twilio_app_client, INBOUND_URL, from_=PARENT_PHONE, to=TWILIO_FROM, body="退订"
    )
    await fake_twilio.post_inbound(
        twilio_app_client, INBOUND_URL, from_=PARENT_PHONE, to=TWILIO_FROM, body="TD"
    )
    assert len(await opt_out_indexes(engine)) == 1, "a second STOP must be harmless"

    await fake_twilio.post_inbound(
        twilio_app_client, INBOUND_URL, from_=PARENT_PHONE, to=TWILIO_FROM, body="start"
    )

    assert await opt_out_indexes(engine) == set()
    outbox_id = await enqueue_committed(engine, cipher)
    assert await send_outbox_message(job_ctx, outbox_id) == "sent"


async def test_ordinary_reply_changes_nothing(twilio_app_client, engine, fake_twilio):
    response = await fake_twilio.post_inbound(
        twilio_app_client,
        INBOUND_URL,
        from_=PARENT_PHONE,
        to=TWILIO_FROM,
        body="Please stop calling me at work",
    )
    assert response.status_code == 200
    assert await opt_out_indexes(engine) == set()


async def test_forged_stop_is_refused(twilio_app_client, engine):
    response = await twilio_app_client.post(
        INBOUND_URL, data={"From": PARENT_PHONE, "Body": "STOP"}, headers={"X-Twilio-Signature": "bm9wZQ=="}
    )
    assert response.status_code == 403
    assert await opt_out_indexes(engine) == set()


async def test_webhooks_refuse_everything_when_no_auth_token_is_configured(twilio_settings, engine):
    from litestar.testing import AsyncTestClient

    from app.server import create_app

    settings = twilio_settings.with_overrides(twilio_auth_token="", sms_backend="console")
    params = {"From": PARENT_PHONE, "Body": "STOP"}
    # With an empty token anyone could compute this "signature".
    signature = RequestValidator("").compute_signature(INBOUND_URL, params)
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        response = await client.post(INBOUND_URL, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert await opt_out_indexes(engine) == set()


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("STOP", "stop"),
        (" stop. ", "stop"),
        ("Unsubscribe", "stop"),
        ("退订", "stop"),
        ("退订。", "stop"),
        ("td", "stop"),
        ("T", "stop"),
        ("R", "stop"),
        ("STOPALL", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("谢谢", None),
        ("stop sending the link please", None),
        ("", None),
    ],
)
def test_reply_keywords(body, action):
    assert keyword_action(body) == action


def test_twilio_sender_refuses_to_start_without_credentials(settings):
    with pytest.raises(ValueError, match="FH_TWILIO_ACCOUNT_SID"):
        TwilioSender(settings.with_overrides(sms_backend="twilio"))
