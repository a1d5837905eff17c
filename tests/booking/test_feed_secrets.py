"""Expert feed links are kept like the site feed's (booking.feed_links): a nonce and the token's SHA-256,
never the token; links from before revision 0018 keep working until replaced."""

from __future__ import annotations

import hashlib
import re
import uuid

import icalendar
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import select

from app.migrate import alembic_config, upgrade_database
from booking.calendar import expert_feed
from booking.models import Expert
from core.accounts import Role
from core.db import create_engine, create_sessionmaker
from tests.booking.conftest import add_expert
from tests.conftest import POSTGRES_URL, USING_POSTGRES, _with_database, log_in, post_form

FEED_LINK = re.compile(r"/calendar/(?:experts|sites)/([A-Za-z0-9_-]+)\.ics")


async def _stored_text(engine) -> str:
    """Every value of the tables that hold feed links, as one string to search."""
    async with engine.connect() as conn:
        rows = [
            *(await conn.execute(text("SELECT * FROM expert"))).all(),
            *(await conn.execute(text("SELECT * FROM site_feed"))).all(),
        ]
    return "\n".join(str(value) for row in rows for value in row)


async def test_no_feed_token_is_stored_and_a_new_link_kills_the_old_one(client, engine):
    expert = await add_expert(engine)
    await log_in(client, engine, Role.COORDINATOR)
    await post_form(client, f"/roster/sites/{expert.site_id}/feed-token", {})
    expert_page = (await client.get(f"/roster/experts/{expert.id}")).text
    site_page = (await client.get("/roster/sites")).text
    tokens = FEED_LINK.findall(expert_page) + FEED_LINK.findall(site_page)
    assert len(set(tokens)) == 2, "the expert's link and the site's link, both shown"
    stored = await _stored_text(engine)
    for token in tokens:
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored  # matched by its hash

    old = f"/calendar/experts/{FEED_LINK.findall(expert_page)[0]}.ics"
    feed = await client.get(old)
    assert feed.status_code == 200 and icalendar.Calendar.from_ical(feed.content).get("X-WR-CALNAME")
    rotated = await post_form(client, f"/roster/experts/{expert.id}/feed-token", {}, follow_redirects=False)
    assert rotated.status_code == 303
    assert (await client.get(old)).status_code == 404
    new_tokens = FEED_LINK.findall((await client.get(f"/roster/experts/{expert.id}")).text)
    assert new_tokens and f"/calendar/experts/{new_tokens[0]}.ics" != old
    assert (await client.get(f"/calendar/experts/{new_tokens[0]}.ics")).status_code == 200
    assert new_tokens[0] not in await _stored_text(engine)


async def test_a_link_from_before_keeps_working_but_is_not_shown_until_replaced(app, client, engine):
    old_token = uuid.uuid4().hex
    user = await log_in(client, engine, Role.EXPERT)
    expert = await add_expert(engine, user_id=user.id)
    async with create_sessionmaker(engine)() as session:
        row = await session.get(Expert, expert.id)
        assert row is not None
        row.feed_nonce, row.feed_token_hash = None, hashlib.sha256(old_token.encode()).hexdigest()
        await session.commit()
    assert (await client.get(f"/calendar/experts/{old_token}.ics")).status_code == 200
    page = await client.get("/expert")
    assert page.status_code == 200 and not FEED_LINK.search(page.text)
    assert "无法再次显示" in page.text  # the page says why and offers a new address
    await post_form(client, "/expert/feed-token", {})
    assert (await client.get(f"/calendar/experts/{old_token}.ics")).status_code == 404
    shown = FEED_LINK.findall((await client.get("/expert")).text)
    assert shown and (await client.get(f"/calendar/experts/{shown[0]}.ics")).status_code == 200


async def test_the_migration_keeps_each_old_link_as_its_hash(tmp_path, settings, cipher):
    """Revision 0018 on a database holding an expert with a plain token: the token is gone from the
    table, its hash opens the same feed."""
    if USING_POSTGRES:
        name = f"fh_test_0018_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = _with_database(POSTGRES_URL, name)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'before.db'}"
    before = ScriptDirectory.from_config(alembic_config(url)).get_revision("0018").down_revision
    assert isinstance(before, str)
    engine = create_engine(url)
    try:
        await upgrade_database(url, before)
        old_token = "plain-" + uuid.uuid4().hex
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO expert (name, unit_id, title, bio, specialties, modes, slot_minutes,"
                    " buffer_minutes, feed_token, active, created_at)"
                    " VALUES ('王老师', 1, '', '', 'parenting', 'phone', 50, 10, :t, true, CURRENT_TIMESTAMP)"
                ),
                {"t": old_token},
            )
        await upgrade_database(url)
        assert old_token not in await _stored_text(engine)
        async with create_sessionmaker(engine)() as session:
            expert = (await session.exec(select(Expert))).one()
            assert expert.feed_nonce is None
            assert expert.feed_token_hash == hashlib.sha256(old_token.encode()).hexdigest()
            feed = await expert_feed(session, cipher, settings, old_token)
        assert feed.body is not None and icalendar.Calendar.from_ical(feed.body).get("X-WR-CALNAME")
    finally:
        await engine.dispose()
        if USING_POSTGRES:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
