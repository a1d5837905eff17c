"""A coordinator edits a site of their unit: name, address, booking rules and the holiday switch, audited;
bad input changes nothing; a sibling unit's site is not found; other roles are refused."""

from __future__ import annotations

import json

from litestar.testing import AsyncTestClient
from sqlalchemy import text

from core.accounts import Role
from core.db import create_sessionmaker
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.booking.conftest import add_expert
from tests.conftest import log_in, post_form


async def _site_state(engine, site_id: int) -> tuple[object, ...]:
    async with engine.connect() as conn:
        site = (
            await conn.execute(text("SELECT name, address FROM site WHERE id = :s"), {"s": site_id})
        ).one()
        rules = (
            await conn.execute(
                text("SELECT window_days, follows_holidays FROM booking_rules WHERE site_id = :s"),
                {"s": site_id},
            )
        ).all()
    return (*site, [tuple(r) for r in rules])


async def test_a_coordinator_renames_a_site_sets_its_rules_and_it_is_audited(client, engine):
    expert = await add_expert(engine)
    site_id = expert.site_id or 0
    await log_in(client, engine, Role.COORDINATOR)
    listing = await client.get("/roster/sites")
    assert f"/roster/sites/{site_id}/edit" in listing.text
    form = await client.get(f"/roster/sites/{site_id}/edit")
    assert form.status_code == 200 and "市家庭教育指导服务中心" in form.text and "人民路 1 号" in form.text

    saved = await post_form(
        client,
        f"/roster/sites/{site_id}/save",
        {"name": "西城咨询点", "address": "西大街 8 号", "window_days": "30", "follows_holidays": "no"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert await _site_state(engine, site_id) == ("西城咨询点", "西大街 8 号", [(30, False)])
    assert "咨询点已保存" in (await client.get(saved.headers["location"])).text
    again = await client.get(f"/roster/sites/{site_id}/edit")
    assert 'value="30"' in again.text and '<option value="no" selected>' in again.text
    async with engine.connect() as conn:
        detail = (
            await conn.execute(text("SELECT detail FROM audit_event WHERE action = 'roster.site.update'"))
        ).scalar_one()
    assert sorted(json.loads(detail)["changed"]) == ["address", "follows_holidays", "name", "window_days"]


async def test_bad_input_is_refused_with_the_fields_named_and_nothing_changes(client, engine):
    expert = await add_expert(engine)
    site_id = expert.site_id or 0
    await log_in(client, engine, Role.COORDINATOR)
    before = await _site_state(engine, site_id)
    for fields, message in [
        ({"name": "", "address": "x"}, "请填写咨询点名称"),
        ({"name": "点" * 121}, "名称太长"),
        ({"name": "新名字", "window_days": "0"}, "请填写所示范围内的整数"),
        ({"name": "新名字", "release_at": "25:99"}, "18:00"),
    ]:
        refused = await post_form(client, f"/roster/sites/{site_id}/save", fields)
        assert refused.status_code == 400 and message in refused.text, fields
    assert await _site_state(engine, site_id) == before
    # No CSRF token: refused before anything is read.
    bare = await client.post(f"/roster/sites/{site_id}/save", data={"name": "无令牌"})
    assert bare.status_code == 403 and await _site_state(engine, site_id) == before


async def test_a_sibling_units_coordinator_and_other_roles_cannot_edit_a_site(app, engine):
    async with create_sessionmaker(engine)() as session:
        east, west = [
            await create_unit(
                session, name=name, kind=UnitKind.GUIDANCE_CENTRE, region_code=code, parent_id=DEFAULT_UNIT_ID
            )
            for name, code in (("上城区", "330102"), ("拱墅区", "330105"))
        ]
        await session.commit()
    expert = await add_expert(engine, unit_id=west.id or 0)
    site_id = expert.site_id or 0
    before = await _site_state(engine, site_id)
    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.COORDINATOR, unit_id=east.id or 0)
        assert (await browser.get(f"/roster/sites/{site_id}/edit")).status_code == 404
        refused = await post_form(browser, f"/roster/sites/{site_id}/save", {"name": "东区改的"})
        assert refused.status_code == 404 and "市家庭教育指导服务中心" not in refused.text
    for role in (Role.OPERATOR, Role.EXPERT, Role.SUPERVISOR):
        async with AsyncTestClient(app=app) as browser:
            await log_in(browser, engine, role, unit_id=west.id or 0)
            assert (await browser.get(f"/roster/sites/{site_id}/edit")).status_code == 403
            assert (
                await post_form(browser, f"/roster/sites/{site_id}/save", {"name": "x"})
            ).status_code == 403
    async with AsyncTestClient(app=app) as browser:  # the unit above edits it
        await log_in(browser, engine, Role.COORDINATOR)
        ok = await post_form(
            browser,
            f"/roster/sites/{site_id}/save",
            {"name": "拱墅区咨询点", "address": str(before[1])},
            follow_redirects=False,
        )
        assert ok.status_code == 303
    assert await _site_state(engine, site_id) == ("拱墅区咨询点", before[1], [(None, None)])
