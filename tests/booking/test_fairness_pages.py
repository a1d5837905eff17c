"""The parent's slot page as a strip of days, the refusal page a parent sees, and the coordinators'
no-show page (look-up and lifting, audited; other roles refused)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from booking.day_strip import STRIP_DAYS, build_strip, parse_day
from booking.errors import BookingInvalid
from booking.models import AvailabilityRule
from core.audit import AuditEvent
from core.db import create_sessionmaker, utcnow
from core.privacy import phone_index
from notifications.opt_out import record_opt_out
from tests.booking.conftest import add_expert, appointments, outbox_rows
from tests.booking.test_fairness import PHONE, _add_no_shows
from tests.conftest import log_in, post_form

ZH = {"accept-language": "zh-CN"}


def _strip_links(html: str) -> list[str]:
    return re.findall(r'href="(/book/experts/\d+\?from=[0-9-]+&amp;day=[0-9-]+)"', html)


# ---- the strip of days ----------------------------------------------------------------------------------


def test_the_strip_pages_by_two_weeks_within_the_horizon_and_picks_the_first_free_day():
    zone = ZoneInfo("Asia/Shanghai")
    today = date(2026, 12, 1)
    # Free times on the 3rd (two) and the 20th (one).
    slots = [datetime.combine(date(2026, 12, d), time(h), zone) for d, h in ((3, 9), (3, 10), (20, 9))]
    first = build_strip(slots, timezone=zone.key, today=today, horizon_days=28, start=None, chosen=None)
    assert [d.on for d in first.days] == [today + timedelta(days=i) for i in range(STRIP_DAYS)]
    assert [d.free for d in first.days][:3] == [0, 0, 2]
    assert first.chosen == date(2026, 12, 3) and first.times == slots[:2]
    assert first.earlier is None and first.later == date(2026, 12, 15)
    assert first.soonest == slots[0]

    second = build_strip(
        slots, timezone=zone.key, today=today, horizon_days=28, start=first.later, chosen=None
    )
    assert second.days[0].on == date(2026, 12, 15) and second.chosen == date(2026, 12, 20)
    # The horizon's last day (the 29th) has nothing free: no paging into an empty page.
    assert second.earlier == today and second.later is None
    assert second.soonest == slots[0]  # still one tap away from any page
    with_last_day = [*slots, datetime.combine(date(2026, 12, 29), time(9), zone)]
    paging_on = build_strip(
        with_last_day, timezone=zone.key, today=today, horizon_days=28, start=first.later, chosen=None
    )
    assert paging_on.later == date(2026, 12, 29)

    # The last page holds only the days up to the horizon; a link past it or from the past is clamped.
    last = build_strip(
        slots, timezone=zone.key, today=today, horizon_days=28, start=date(2027, 3, 1), chosen=None
    )
    assert last.days[0].on == date(2026, 12, 29) and last.days[-1].on == date(2026, 12, 29)
    assert last.later is None and last.chosen is None and last.times == []
    past = build_strip(
        slots, timezone=zone.key, today=today, horizon_days=28, start=date(2026, 1, 1), chosen=None
    )
    assert past.days[0].on == today

    # A chosen day with no free time, or off the page, falls back to the first free day of the page.
    picked = build_strip(
        slots, timezone=zone.key, today=today, horizon_days=28, start=None, chosen=date(2026, 12, 20)
    )
    assert picked.chosen == date(2026, 12, 3)


def test_an_unreadable_day_is_a_form_error():
    assert parse_day("2026-12-03") == date(2026, 12, 3) and parse_day(None) is None
    with pytest.raises(BookingInvalid):
        parse_day("next tuesday")


async def test_the_slot_page_shows_two_weeks_and_one_days_times_with_the_soonest_one_tap_away(client, engine):
    expert = await add_expert(engine)
    # Open on Mondays only: most days of the strip are marked as having no free time.
    async with create_sessionmaker(engine)() as session:
        for rule in (await session.exec(select(AvailabilityRule))).all():
            if rule.weekday != 0:
                await session.delete(rule)
        await session.commit()
    slots = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"]
    page = await client.get(f"/book/experts/{expert.id}", headers=ZH)
    assert page.status_code == 200
    html = page.text
    assert html.count('class="none"') >= STRIP_DAYS - 3  # days without a free time are marked
    links = _strip_links(html)
    assert 1 <= len(links) <= 3  # at most two or three Mondays in two weeks, each a link
    soonest = f"starts_at={quote(slots[0], safe='')}"
    assert html.count(soonest) == 2  # the soonest-time button, and the chosen day's first time
    assert len(re.findall(r"starts_at=", html)) < 20  # one day's times, not four weeks of them
    assert "script" not in html.lower()

    later = re.search(r'href="(/book/experts/\d+\?from=[0-9-]+)">', html)
    assert later is not None
    second = await client.get(later.group(1).replace("&amp;", "&"), headers=ZH)
    assert second.status_code == 200 and soonest in second.text  # soonest still one tap away

    bad = await client.get(f"/book/experts/{expert.id}", params={"day": "tomorrow"}, headers=ZH)
    assert bad.status_code == 400


# ---- what a refused parent reads ---------------------------------------------------------------------


async def test_an_opted_out_parent_reads_how_to_opt_back_in_and_the_number_to_call(client, engine, cipher):
    expert = await add_expert(engine)
    async with create_sessionmaker(engine)() as session:
        await record_opt_out(session, phone_index(cipher, PHONE), source="sms_stop")
        await session.commit()
    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    form = {"starts_at": start, "name": "李女士", "phone": "13812345678", "mode": "phone", "consent": "yes"}
    refused = await post_form(client, f"/book/experts/{expert.id}/form", form, headers=ZH)
    assert refused.status_code == 403
    assert "START" in refused.text and "退订" in refused.text and 'href="tel:12355"' in refused.text
    assert await appointments(engine) == [] and await outbox_rows(engine) == []

    api = await client.post(
        "/api/bookings",
        json={
            "expert_id": expert.id,
            "starts_at": start,
            "mode": "phone",
            "name": "李",
            "phone": "13812345678",
        },
        headers=ZH,
    )
    assert api.status_code == 403 and "12355" in api.json()["detail"]


async def test_a_suspended_parent_is_told_why_until_when_and_whom_to_call(client, engine, cipher):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [50, 30, 3])
    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    form = {"starts_at": start, "name": "李女士", "phone": "13812345678", "mode": "phone", "consent": "yes"}
    refused = await post_form(client, f"/book/experts/{expert.id}/form", form, headers=ZH)
    assert refused.status_code == 403 and "12355" in refused.text
    until = (utcnow() + timedelta(days=87)).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert until in refused.text
    assert await outbox_rows(engine) == []


# ---- the coordinators' no-show page -------------------------------------------------------------------


async def test_a_coordinator_looks_up_a_number_and_lifts_its_suspension(client, engine, cipher):
    expert = await add_expert(engine)
    await _add_no_shows(engine, cipher, expert, [50, 30, 3])
    coordinator = await log_in(client, engine, "coordinator")
    assert (await client.get("/roster/no-shows", headers=ZH)).status_code == 200

    looked = await post_form(client, "/roster/no-shows/lookup", {"phone": "138 1234 5678"}, headers=ZH)
    assert looked.status_code == 200
    assert "138****5678" in looked.text and "暂停" in looked.text

    empty_reason = await post_form(
        client, "/roster/no-shows/lift", {"phone": "13812345678", "reason": "  "}, headers=ZH
    )
    assert empty_reason.status_code == 400

    lifted = await post_form(
        client, "/roster/no-shows/lift", {"phone": "13812345678", "reason": "家长已说明情况"}, headers=ZH
    )
    assert lifted.status_code == 200 and "已解除" in lifted.text
    again = await post_form(
        client, "/roster/no-shows/lift", {"phone": "13812345678", "reason": "再次"}, headers=ZH
    )
    assert again.status_code == 409

    async with create_sessionmaker(engine)() as session:
        actions = [
            (e.action, e.actor_id)
            for e in (
                await session.exec(select(AuditEvent).where(AuditEvent.action.startswith("booking.")))
            ).all()
        ]
    assert ("booking.no_show_lookup", coordinator.id) in actions
    assert actions.count(("booking.suspension_lifted", coordinator.id)) == 1

    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    held = await client.post(
        "/api/bookings",
        json={
            "expert_id": expert.id,
            "starts_at": start,
            "mode": "phone",
            "name": "李",
            "phone": "13812345678",
        },
    )
    assert held.status_code == 201


@pytest.mark.parametrize("role", ["operator", "expert"])
async def test_other_roles_cannot_see_or_lift_suspensions(client, engine, role):
    await log_in(client, engine, role)
    assert (await client.get("/roster/no-shows")).status_code == 403
    lift = await post_form(client, "/roster/no-shows/lift", {"phone": "13812345678", "reason": "x"})
    assert lift.status_code == 403
