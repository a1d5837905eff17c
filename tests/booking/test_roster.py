"""Coordinators keep the expert roster; experts see only their own schedule; others are kept out."""

from __future__ import annotations

import pytest
from sqlmodel import select

from booking.models import AvailabilityRule, Expert, Site
from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker
from tests.booking.conftest import add_expert, last_otp
from tests.conftest import log_in, make_user, post_form
from tests.feeds import feed_token_of

GOOD_EXPERT = [
    ("name", "陈老师"),
    ("title", "国家二级心理咨询师"),
    ("specialties", "parenting"),
    ("specialties", "bullying"),
    ("site_id", "new"),
    ("new_site_name", "区妇联家庭教育指导服务中心"),
    ("new_site_address", "和平路 8 号"),
    ("modes", "in_person"),
    ("modes", "video"),
    ("slot_minutes", "45"),
    ("buffer_minutes", "15"),
    ("rule_weekday", "1"),
    ("rule_start", "09:00"),
    ("rule_end", "12:00"),
    ("rule_weekday", "3"),
    ("rule_start", "14:00"),
    ("rule_end", "17:30"),
    ("rule_weekday", "0"),
    ("rule_start", ""),
    ("rule_end", ""),
]


async def _count(engine, model) -> int:
    async with create_sessionmaker(engine)() as session:
        return len((await session.exec(select(model))).all())


def _with(changes: dict[str, list[str]]) -> list[tuple[str, str]]:
    kept = [(k, v) for k, v in GOOD_EXPERT if k not in changes]
    return kept + [(k, v) for k, values in changes.items() for v in values]


async def test_coordinator_adds_an_expert_with_a_new_site_and_weekly_hours(client, engine):
    await log_in(client, engine, Role.COORDINATOR)
    form = await client.get("/roster/experts/new")
    assert form.status_code == 200 and 'name="specialties"' in form.text
    created = await post_form(client, "/roster/experts/new", GOOD_EXPERT, follow_redirects=False)
    assert created.status_code == 303, created.text
    async with create_sessionmaker(engine)() as session:
        [expert] = (await session.exec(select(Expert))).all()
        rules = (await session.exec(select(AvailabilityRule))).all()
        [site] = (await session.exec(select(Site))).all()
    assert expert.specialty_codes == ["parenting", "bullying"] and expert.mode_codes == ["in_person", "video"]
    assert (expert.slot_minutes, expert.buffer_minutes, expert.site_id) == (45, 15, site.id)
    assert sorted((r.weekday, r.start_local.isoformat(), r.end_local.isoformat()) for r in rules) == [
        (1, "09:00:00", "12:00:00"),
        (3, "14:00:00", "17:30:00"),
    ]
    assert expert.feed_nonce and len(feed_token_of(expert)) >= 43
    listing = await client.get("/roster/experts")
    assert "陈老师" in listing.text


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"name": [""]}, "请填写专家姓名"),
        ({"specialties": []}, "请至少勾选一个擅长领域"),
        ({"modes": []}, "请至少勾选一种咨询方式"),
        ({"slot_minutes": ["5"]}, "15 至 240 分钟"),
        ({"rule_weekday": ["1"], "rule_start": ["12:00"], "rule_end": ["09:00"]}, "开始时间早于结束时间"),
        (
            {"rule_weekday": ["1", "1"], "rule_start": ["09:00", "10:00"], "rule_end": ["11:00", "12:00"]},
            "有重叠",
        ),
        ({"site_id": [""], "new_site_name": [""]}, "面对面咨询需要指定场所"),
    ],
)
async def test_roster_form_errors_are_shown_with_400_and_nothing_is_saved(
    client, engine, changes, field_message
):
    await log_in(client, engine, Role.COORDINATOR)
    page = await post_form(client, "/roster/experts/new", _with(changes), headers={"accept-language": "zh"})
    assert page.status_code == 400
    assert field_message in page.text
    assert 'value="国家二级心理咨询师"' in page.text  # the coordinator's typing is kept
    assert await _count(engine, Expert) == 0
    assert await _count(engine, Site) == 0
    assert await _count(engine, AvailabilityRule) == 0


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR])
async def test_operators_and_supervisors_cannot_open_the_roster(client, engine, role):
    expert = await add_expert(engine)
    await log_in(client, engine, role)
    for url in ("/roster/experts", "/roster/experts/new", f"/roster/experts/{expert.id}"):
        assert (await client.get(url)).status_code == 403
    assert (await post_form(client, "/roster/experts/new", GOOD_EXPERT)).status_code == 403
    assert (await post_form(client, f"/roster/experts/{expert.id}/feed-token", {})).status_code == 403
    assert await _count(engine, Expert) == 1


async def test_anonymous_visitors_are_sent_to_the_login_page(client, engine):
    expert = await add_expert(engine)
    response = await client.get(f"/roster/experts/{expert.id}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


async def test_an_expert_is_sent_from_the_roster_pages_to_their_own_page_and_sees_no_intake_notes_there(
    client, engine, cipher
):
    user = await make_user(engine, Role.EXPERT)
    own = await add_expert(engine, name="赵老师", user_id=user.id)
    other = await add_expert(engine, name="钱老师")
    start = (await client.get(f"/api/experts/{own.id}/slots")).json()["slots"][0]
    held = await client.post(
        "/api/bookings",
        json={"expert_id": own.id, "starts_at": start, "mode": "phone", "name": "孙女士",
              "phone": "13812345678", "notes": "孩子最近不愿意上学"},
    )  # fmt: skip
    code = await last_otp(engine, cipher)
    await client.post(f"/api/bookings/{held.json()['verify_token']}/confirm", json={"code": code})

    from tests.conftest import TEST_PASSWORD

    await post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    # /expert audits each read of intake notes; the roster pages would show them as a schedule read.
    for path in ("/roster/experts", f"/roster/experts/{own.id}"):
        landing = await client.get(path, follow_redirects=False)
        assert landing.status_code == 303 and landing.headers["location"] == "/expert"
        assert "孩子最近不愿意上学" not in landing.text
    elsewhere = await client.get(f"/roster/experts/{other.id}", follow_redirects=False)
    assert elsewhere.status_code == 403 and "钱老师" not in elsewhere.text
    page = await client.get("/expert")
    assert page.status_code == 200 and "孩子最近不愿意上学" not in page.text
    assert (await client.get("/roster/experts/new")).status_code == 403
    async with create_sessionmaker(engine)() as session:
        schedule_reads = select(AuditEvent).where(AuditEvent.action == "roster.schedule.read")
        reads = (await session.exec(schedule_reads)).all()
    assert reads == []


async def test_coordinator_sees_masked_bookings_and_regenerating_the_feed_kills_the_old_url(
    client, engine, cipher
):
    expert = await add_expert(engine)
    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    held = await client.post(
        "/api/bookings",
        json={"expert_id": expert.id, "starts_at": start, "mode": "phone", "name": "孙女士",
              "phone": "13812345678", "notes": "孩子最近不愿意上学"},
    )  # fmt: skip
    await client.post(
        f"/api/bookings/{held.json()['verify_token']}/confirm",
        json={"code": await last_otp(engine, cipher)},
    )
    await log_in(client, engine, Role.COORDINATOR)
    page = await client.get(f"/roster/experts/{expert.id}")
    assert page.status_code == 200
    assert f"http://testserver.local/calendar/experts/{feed_token_of(expert)}.ics" in page.text
    assert "138****5678" in page.text and "孙*" in page.text
    assert "13812345678" not in page.text and "孙女士" not in page.text
    assert "孩子最近不愿意上学" not in page.text  # intake notes are for the expert only

    old_feed = f"/calendar/experts/{feed_token_of(expert)}.ics"
    assert (await client.get(old_feed)).status_code == 200
    regenerated = await post_form(
        client, f"/roster/experts/{expert.id}/feed-token", {}, follow_redirects=False
    )
    assert regenerated.status_code == 303
    assert (await client.get(old_feed)).status_code == 404
    async with create_sessionmaker(engine)() as session:
        fresh = await session.get(Expert, expert.id)
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert fresh is not None and fresh.feed_token_hash != expert.feed_token_hash
    assert (await client.get(f"/calendar/experts/{feed_token_of(fresh)}.ics")).status_code == 200
    assert "roster.schedule.read" in actions


@pytest.mark.parametrize("expert_id", [2**31, 2**63, 2**64])
async def test_ids_beyond_the_key_range_are_not_found_not_a_crash(client, engine, expert_id):
    await log_in(client, engine, Role.COORDINATOR)
    assert (await client.get(f"/roster/experts/{expert_id}")).status_code == 404
    regenerate = await post_form(client, f"/roster/experts/{expert_id}/feed-token", {})
    assert regenerate.status_code == 404
    form = await post_form(
        client,
        "/roster/experts/new",
        {"name": "周老师", "specialties": "parenting", "modes": "phone", "site_id": str(expert_id)},
    )
    assert form.status_code == 400
    assert await _count(engine, Expert) == 0
