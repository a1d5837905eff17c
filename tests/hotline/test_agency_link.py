"""The agency's secret link: works for its own referral only, shows what the page promises and no more
(no call summary, no caller phone unless ticked), audited on every open, dead after close, revoke or
expiry, and throttled (429) after repeated unknown tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from hotline.agency_link import BAD_TOKEN_LIMIT
from hotline.casework_models import Referral
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import PHONE, PHONE_MASKED, SUMMARY
from tests.hotline.referral_world import (
    REASON,
    REQUEST,
    add_agency,
    another_browser,
    last_link_token,
    open_case,
    refer,
    scalar,
)


async def _referred(client, engine, settings, **overrides) -> tuple[str, int, str]:
    operator = await log_in(client, engine, Role.OPERATOR)
    agency_id = await add_agency(engine, settings, operator)
    number = await open_case(client)
    sent = await refer(client, number, agency_id, **overrides)
    return number, sent["referral_id"], await last_link_token(engine, settings)


async def _opens(engine, referral_id: int) -> int:
    return int(
        await scalar(
            engine,
            "SELECT COUNT(*) FROM audit_event WHERE action = 'referral.link_open' AND object_id = :r"
            " AND actor_label = 'agency:西湖派出所'",
            r=str(referral_id),
        )
    )


async def test_the_page_shows_what_the_agency_needs_and_nothing_more(app, client, engine, settings):
    number, rid, token = await _referred(client, engine, settings)
    async with another_browser(settings) as agency:
        page = await agency.get(f"/r/{token}")
        assert page.status_code == 200
        assert (
            page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        )
        html = page.text
        for shown in (number, REASON, REQUEST, "西湖派出所"):
            assert shown in html
        for hidden in (SUMMARY, SUMMARY[:8], PHONE, PHONE_MASKED, PHONE[-4:]):
            assert hidden not in html
        assert await _opens(engine, rid) == 1
        await agency.get(f"/r/{token}")
        assert await _opens(engine, rid) == 2
    events = await scalar(
        engine,
        "SELECT COUNT(*) FROM case_event WHERE kind = 'referral.link_open'"
        " AND actor_label = 'agency:西湖派出所'",
    )
    assert events == 2


async def test_the_caller_phone_is_shown_only_when_the_operator_ticked_it(app, client, engine, settings):
    _, _, token = await _referred(client, engine, settings, share_caller_phone=True)
    async with another_browser(settings) as agency:
        html = (await agency.get(f"/r/{token}")).text
    assert PHONE in html and SUMMARY not in html


async def test_a_token_opens_only_its_own_referral(app, client, engine, settings):
    number, _, token = await _referred(client, engine, settings)
    other_number = await open_case(client, caller_phone="13911112222")
    agency_id = await scalar(engine, "SELECT id FROM agency")
    await refer(client, other_number, agency_id)
    other_token = await last_link_token(engine, settings)
    async with another_browser(settings) as agency:
        first, second = (await agency.get(f"/r/{token}")).text, (await agency.get(f"/r/{other_token}")).text
    assert number in first and other_number not in first
    assert other_number in second and number not in second


async def test_acknowledge_and_feedback_land_on_the_timeline_and_a_step_twice_is_refused(
    app, client, engine, settings
):
    number, rid, token = await _referred(client, engine, settings)
    async with another_browser(settings) as agency:
        assert (await post_form(agency, f"/r/{token}/acknowledge", {"text": ""})).status_code == 400
        done = await post_form(agency, f"/r/{token}/acknowledge", {"text": "张警官"}, follow_redirects=False)
        assert done.status_code == 303
        again = await post_form(agency, f"/r/{token}/acknowledge", {"text": "张警官"})
        assert again.status_code == 409
        assert (
            await post_form(agency, f"/r/{token}/feedback", {"text": "已上门"}, follow_redirects=False)
        ).status_code == 303
    assert await scalar(engine, "SELECT acknowledged_by FROM referral WHERE id = :r", r=rid) == "张警官"
    kinds = await scalar(
        engine,
        "SELECT COUNT(*) FROM case_event WHERE kind IN ('referral.acknowledged', 'referral.feedback')"
        " AND actor_label = 'agency:西湖派出所'",
    )
    assert kinds == 2
    audited = await scalar(
        engine,
        "SELECT COUNT(*) FROM audit_event WHERE action = 'referral.feedback' AND object_type = 'referral'",
    )
    assert audited == 1
    case_page = (await client.get(f"/hotline/cases/{number}")).text
    assert "已上门" in case_page


async def test_the_link_dies_after_revoke_decline_and_expiry(app, client, engine, settings):
    number, rid, token = await _referred(client, engine, settings)
    async with another_browser(settings) as supervisor:
        await log_in(supervisor, engine, Role.SUPERVISOR)
        assert (
            await post_json(supervisor, f"/api/cases/{number}/referrals/{rid}/revoke", {"text": "误转"})
        ).status_code == 200
    async with another_browser(settings) as agency:
        dead = await agency.get(f"/r/{token}")
        assert dead.status_code == 404 and REASON not in dead.text and number not in dead.text
        refused = await post_form(agency, f"/r/{token}/feedback", {"text": "x"})
        assert refused.status_code == 404
    assert await scalar(engine, "SELECT feedback_ciphertext FROM referral WHERE id = :r", r=rid) is None

    agency_id = await scalar(engine, "SELECT id FROM agency")
    other = await open_case(client, caller_phone="13911112222")
    second = (await refer(client, other, agency_id))["referral_id"]
    token = await last_link_token(engine, settings)
    async with another_browser(settings) as agency:
        assert (
            await post_form(agency, f"/r/{token}/decline", {"text": "不属于本所辖区"}, follow_redirects=False)
        ).status_code == 303
        assert (await agency.get(f"/r/{token}")).status_code == 404
    assert await scalar(engine, "SELECT status FROM referral WHERE id = :r", r=second) == "declined"

    third_case = await open_case(client, caller_phone="13933334444")
    third = (await refer(client, third_case, agency_id))["referral_id"]
    token = await last_link_token(engine, settings)
    async with another_browser(settings) as agency:
        assert (await agency.get(f"/r/{token}")).status_code == 200  # on the last day it still works
    await _send_back(engine, third, timedelta(days=settings.agency_link_days, hours=1))
    async with another_browser(settings) as agency:
        assert (await agency.get(f"/r/{token}")).status_code == 404


async def _send_back(engine, referral_id: int, age: timedelta) -> None:
    async with create_sessionmaker(engine)() as session:
        await session.exec(update(Referral).where(Referral.id == referral_id).values(sent_at=utcnow() - age))
        await session.commit()


async def test_guessing_tokens_is_throttled_by_address(app, client, engine, settings):
    _, _, token = await _referred(client, engine, settings)
    async with another_browser(settings) as guesser:
        for attempt in range(BAD_TOKEN_LIMIT):
            assert (await guesser.get(f"/r/guess{attempt}")).status_code == 404
        throttled = await guesser.get("/r/guess-again")
        assert throttled.status_code == 429 and "15" in throttled.text
        # Even the right token waits until the window has passed: a guesser learns nothing.
        assert (await guesser.get(f"/r/{token}")).status_code == 429
