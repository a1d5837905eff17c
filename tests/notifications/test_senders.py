"""How provider answers become outcomes (sent, rejected for good, or worth another try later, perhaps
after looking for the message first), and how we read back what was sent to a number."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from aiohttp import web

from app.wiring import worker_settings
from core.db import utcnow
from notifications.jobs import RETRY_CAP, retry_delay
from notifications.sms import (
    ConsoleSender,
    SmsRejected,
    SmsTemporarilyUnavailable,
    TwilioSender,
    build_sender,
)
from tests.notifications.conftest import OTHER_PHONE, PARENT_PHONE


async def test_twilio_sender_sends_with_the_real_client(twilio_sender, fake_twilio):
    sent = await twilio_sender.send(PARENT_PHONE, "你好", status_callback="https://example.cn/cb?outbox=1")

    [message] = fake_twilio.messages
    assert (sent.provider_sid, sent.status) == (message.sid, "queued")
    assert (message.to, message.body, message.status_callback) == (
        PARENT_PHONE,
        "你好",
        "https://example.cn/cb?outbox=1",
    )


@pytest.mark.parametrize(("mode", "code"), [("opted_out", 21610), ("invalid_number", 21211)])
async def test_refusals_about_the_recipient_are_final(twilio_sender, fake_twilio, mode, code):
    fake_twilio.mode = mode
    with pytest.raises(SmsRejected) as rejected:
        await twilio_sender.send(PARENT_PHONE, "hello")
    assert rejected.value.code == code


async def test_twilio_outage_is_temporary_and_the_message_may_have_been_created(twilio_sender, fake_twilio):
    fake_twilio.mode = "outage"
    with pytest.raises(SmsTemporarilyUnavailable, match="500") as outage:
        await twilio_sender.send(PARENT_PHONE, "hello")
    # A 5xx says Twilio failed, not that it created nothing: the retry looks before sending.
    assert outage.value.may_have_arrived


async def test_twilio_unreachable_is_temporary_and_nothing_arrived(twilio_settings):
    sender = TwilioSender(twilio_settings.with_overrides(twilio_api_base="http://127.0.0.1:1"))
    try:
        with pytest.raises(SmsTemporarilyUnavailable) as unreachable:
            await sender.send(PARENT_PHONE, "hello")
    finally:
        await sender.aclose()
    assert not unreachable.value.may_have_arrived


async def test_a_send_whose_answer_never_comes_may_have_arrived(twilio_sender, fake_twilio, monkeypatch):
    monkeypatch.setattr("notifications.sms.TWILIO_SEND_TIMEOUT_SECONDS", 0.3)
    fake_twilio.hold_next_send()
    with pytest.raises(SmsTemporarilyUnavailable) as unanswered:
        await twilio_sender.send(PARENT_PHONE, "hello")
    fake_twilio.release_held_sends()
    assert unanswered.value.may_have_arrived
    assert [message.body for message in fake_twilio.messages] == ["hello"]  # Twilio did create it


async def test_lookup_reads_what_was_sent_to_one_number_newest_first_page_by_page(twilio_sender, fake_twilio):
    since = utcnow() - timedelta(seconds=1)
    for n in range(45):
        await twilio_sender.send(PARENT_PHONE, f"#{n}")
    await twilio_sender.send(OTHER_PHONE, "not to the parent")

    listed = await twilio_sender.sent_to(PARENT_PHONE, since=since)

    assert [sms.body for sms in listed] == [f"#{n}" for n in reversed(range(45))]
    assert {sms.to for sms in listed} == {PARENT_PHONE}
    assert [sms.provider_sid for sms in listed][-1] == fake_twilio.messages[0].sid
    assert fake_twilio.list_requests == 3  # 20 + 20 + 5: the client followed next_page_uri twice


async def test_lookup_stops_at_the_first_message_older_than_asked(twilio_sender, fake_twilio):
    for n in range(30):
        await twilio_sender.send(PARENT_PHONE, f"#{n}")
    for message in fake_twilio.messages[:25]:
        message.created_at -= timedelta(hours=1)

    listed = await twilio_sender.sent_to(PARENT_PHONE, since=utcnow() - timedelta(minutes=5))

    assert [sms.body for sms in listed] == ["#29", "#28", "#27", "#26", "#25"]
    assert fake_twilio.list_requests == 1  # the older messages on later pages were never fetched
    assert all(sms.created_at is not None and sms.created_at.tzinfo is not None for sms in listed)


async def test_lookup_during_an_outage_says_it_cannot_tell(twilio_sender, fake_twilio):
    fake_twilio.mode = "outage"
    with pytest.raises(SmsTemporarilyUnavailable, match="lookup failed: 500"):
        await twilio_sender.sent_to(PARENT_PHONE, since=utcnow())


async def test_the_console_looks_up_what_it_printed():
    console = ConsoleSender()
    since = utcnow()
    await console.send(PARENT_PHONE, "one")
    await console.send(OTHER_PHONE, "two")
    await console.send(PARENT_PHONE, "three")
    assert [sms.body for sms in await console.sent_to(PARENT_PHONE, since=since)] == ["three", "one"]
    assert await console.sent_to(PARENT_PHONE, since=utcnow() + timedelta(seconds=1)) == []


@pytest.mark.parametrize(("status", "retry"), [(429, True), (503, True), (401, True), (400, False)])
async def test_rate_limits_and_credential_trouble_are_retried_other_client_errors_are_not(
    twilio_settings, status, retry
):
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"code": 20000 + status, "message": "no", "status": status}, status=status)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    sender = TwilioSender(twilio_settings.with_overrides(twilio_api_base=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(SmsTemporarilyUnavailable if retry else SmsRejected):
            await sender.send(PARENT_PHONE, "hello")
    finally:
        await sender.aclose()
        await runner.cleanup()


def test_backend_is_chosen_by_settings(settings, twilio_settings):
    assert isinstance(build_sender(settings), ConsoleSender)
    assert isinstance(build_sender(twilio_settings), TwilioSender)
    with pytest.raises(ValueError, match="FH_SMS_BACKEND"):
        build_sender(settings.with_overrides(sms_backend="carrier-pigeon"))


def test_retries_back_off_exponentially_up_to_an_hour():
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert all(later >= earlier for earlier, later in pairwise(delays))
    assert max(delays) == RETRY_CAP == timedelta(hours=1)


def test_one_time_codes_are_retried_sooner_and_give_up_within_a_hold():
    delays = [retry_delay(n, "otp") for n in range(1, 8)]
    assert delays[:3] == [timedelta(seconds=s) for s in (5, 10, 20)]
    # Eight tries end within the ten minutes a slot is held for the parent typing the code.
    assert sum(delays, timedelta()) < timedelta(minutes=11)
    assert retry_delay(1, "booking_confirmed") == timedelta(seconds=30)


def test_worker_keeps_no_job_results_so_rows_can_be_queued_again(twilio_settings):
    config = worker_settings(
        twilio_settings.with_overrides(redis_url="redis://127.0.0.1:6379/14", sms_stop_grace_seconds=12)
    )
    [send] = config["functions"]
    assert (send.name, send.keep_result_s, send.max_tries) == ("send_outbox_message", 0, 1)
    assert config["keep_result"] == 0
    # The outbox sweep is no arq cron: each worker sweeps on its own clock, which needs no Redis. The
    # cron jobs are case work's (alerting once when a task, referral or report turns red), the voice
    # queue's safety net (hotline.voice_dispatch.sweep) and the reports' daily reminder of a report
    # falling due unsigned.
    assert [job.name for job in config["cron_jobs"]] == [
        "check_lights",
        "sweep_voice_queue",
        "remind_unsigned_reports",
    ]
    # arq's own graceful stop waits as long as ours.
    assert config["job_completion_wait"] == 12
