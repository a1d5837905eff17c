"""Calendar feeds answer 304 while unchanged, a site's feed gathers its experts for reception, and the
hand-written iCalendar text (folding, escaping) reads back the same in icalendar and Mozilla's ical.js."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import text, update
from sqlmodel import col, select

from booking.calendar import THREAD_FROM, FeedEntry, FeedExpert, FeedScope, render_feed
from booking.ical_text import escape_text, fold
from booking.models import Appointment, AppointmentStatus, Expert, SiteFeed
from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher, phone_index
from tests.booking.conftest import add_expert
from tests.booking.test_calendar import _book_and_confirm, events_by_icalendar, parse_with_ical_js
from tests.conftest import log_in, post_form
from tests.feeds import feed_token_of


async def test_an_unchanged_feed_is_304_and_a_cancellation_makes_it_200_with_a_new_etag(
    client, engine, cipher
):
    expert = await add_expert(engine)
    url = f"/calendar/experts/{feed_token_of(expert)}.ics"
    _, manage_token = await _book_and_confirm(client, engine, cipher, expert.id)
    first = await client.get(url)
    assert first.status_code == 200
    etag, last_modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and last_modified.endswith("GMT")

    for headers in (
        {"if-none-match": etag},
        {"if-none-match": f'W/{etag}, "other"'},
        {"if-modified-since": last_modified},
    ):
        unchanged = await client.get(url, headers=headers)
        assert unchanged.status_code == 304, headers
        assert unchanged.content == b"" and unchanged.headers["etag"] == etag
    assert (await client.get(url, headers={"if-none-match": '"stale"'})).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 §13.2.2).
    both = await client.get(url, headers={"if-none-match": '"stale"', "if-modified-since": last_modified})
    assert both.status_code == 200

    cancelled = await client.post(f"/api/bookings/manage/{manage_token}/cancel", json={})
    assert cancelled.status_code == 200
    after = await client.get(url, headers={"if-none-match": etag})
    assert after.status_code == 200
    assert after.headers["etag"] != etag
    assert events_by_icalendar(after.content).popitem()[1]["status"] == "CANCELLED"
    assert (await client.get(url, headers={"if-none-match": after.headers["etag"]})).status_code == 304


async def test_the_validator_follows_sequence_updates_and_the_roster_entry(client, engine, cipher):
    expert = await add_expert(engine)
    url = f"/calendar/experts/{feed_token_of(expert)}.ics"
    await _book_and_confirm(client, engine, cipher, expert.id)
    etag = (await client.get(url)).headers["etag"]
    # A SEQUENCE bump alone (same updated_at) still changes the validator.
    async with create_sessionmaker(engine)() as session:
        await session.exec(update(Appointment).values(sequence=col(Appointment.sequence) + 1))  # type: ignore[call-overload]
        await session.commit()
    bumped = await client.get(url, headers={"if-none-match": etag})
    assert bumped.status_code == 200 and bumped.headers["etag"] != etag
    # Renaming the expert renames the calendar: 200 again, and Last-Modified moves with it.
    async with create_sessionmaker(engine)() as session:
        row = await session.get(Expert, expert.id)
        assert row is not None
        row.name, row.updated_at = "王老师（已改名）", utcnow() + timedelta(seconds=5)
        await session.commit()
    renamed = await client.get(url, headers={"if-none-match": bumped.headers["etag"]})
    assert renamed.status_code == 200 and "王老师（已改名）" in parse_with_ical_js(renamed.content)["name"]
    since = await client.get(url, headers={"if-modified-since": bumped.headers["last-modified"]})
    assert since.status_code == 200


async def test_a_sites_feed_holds_every_expert_of_the_site_and_its_token_is_never_stored(
    client, engine, cipher
):
    first = await add_expert(engine, name="王老师")
    async with create_sessionmaker(engine)() as session:
        second = Expert(name="李老师", unit_id=first.unit_id, site_id=first.site_id)
        session.add(second)
        await session.commit()
        second_id = second.id or 0
    elsewhere = await add_expert(engine, name="赵老师")  # a site of its own
    await _book_and_confirm(client, engine, cipher, first.id, 0)
    await _add_confirmed(engine, cipher, second_id, count=1)
    await _book_and_confirm(client, engine, cipher, elsewhere.id, 1)

    await log_in(client, engine, Role.COORDINATOR)
    page = await client.get("/roster/sites")
    assert page.status_code == 200 and "/calendar/sites/" not in page.text
    made = await post_form(client, f"/roster/sites/{first.site_id}/feed-token", {}, follow_redirects=False)
    assert made.status_code == 303
    page = await client.get("/roster/sites")
    [url] = [
        part.split("<")[0]
        for part in page.text.split("http://testserver.local")[1:]
        if "/calendar/sites/" in part
    ]
    token = url.removeprefix("/calendar/sites/").removesuffix(".ics")
    assert len(token) == 64

    feed = await client.get(url)
    assert feed.status_code == 200
    events = parse_with_ical_js(feed.content)
    assert "市家庭教育指导服务中心" in events["name"]
    summaries = sorted(e["summary"].split("：")[0] for e in events["events"])
    assert summaries == ["李老师", "王老师"]  # the other site's expert is not there
    assert all("138****5678" in e["description"] for e in events["events"])
    assert (await client.get(url, headers={"if-none-match": feed.headers["etag"]})).status_code == 304

    # Only a hash and a nonce are stored; the token appears nowhere in the database.
    async with engine.connect() as conn:
        stored = [str(v) for v in (await conn.execute(text("SELECT * FROM site_feed"))).one()]
    assert token not in stored
    async with create_sessionmaker(engine)() as session:
        assert [f.site_id for f in (await session.exec(select(SiteFeed))).all()] == [first.site_id]

    rotated = await post_form(client, f"/roster/sites/{first.site_id}/feed-token", {}, follow_redirects=False)
    assert rotated.status_code == 303
    assert (await client.get(url)).status_code == 404  # the old link stops working
    assert (await client.get("/calendar/sites/guess.ics")).status_code == 404
    assert (await client.get(f"/calendar/sites/{token}")).status_code == 404


async def _add_confirmed(engine, cipher: FieldCipher, expert_id: int, *, count: int) -> None:
    """Confirmed bookings written directly, one an hour from tomorrow (many more than the API would make
    quickly)."""
    start = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    phone = "+8613812345678"
    async with create_sessionmaker(engine)() as session:
        for i in range(count):
            session.add(
                Appointment(
                    expert_id=expert_id,
                    starts_at=start + timedelta(hours=i),
                    ends_at=start + timedelta(hours=i, minutes=50),
                    mode="in_person",
                    status=AppointmentStatus.CONFIRMED,
                    parent_name_ciphertext=cipher.encrypt("李女士", context="appointment.parent_name"),
                    parent_phone_ciphertext=cipher.encrypt(phone, context="appointment.parent_phone"),
                    parent_phone_index=phone_index(cipher, phone),
                    ical_uid=f"{uuid.uuid4()}@family-hotline",
                    sequence=1,
                    confirmed_at=utcnow(),
                )
            )
        await session.commit()


async def test_a_large_feed_is_written_off_the_event_loop_and_reads_back_whole(client, engine, cipher):
    expert = await add_expert(engine)
    await _add_confirmed(engine, cipher, expert.id, count=THREAD_FROM + 50)
    feed = await client.get(f"/calendar/experts/{feed_token_of(expert)}.ics")
    assert feed.status_code == 200
    assert len(events_by_icalendar(feed.content)) == THREAD_FROM + 50
    assert len(parse_with_ical_js(feed.content)["events"]) == THREAD_FROM + 50


# ---- the iCalendar text itself -----------------------------------------------------------------------


def test_folding_keeps_lines_within_75_octets_and_never_splits_a_character():
    rng = random.Random(20261126)
    alphabet = "abc ;,\\" + "家庭教育指导服务中心咨询" + "😀👪" + "é"
    for _ in range(500):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300)))
        line = f"DESCRIPTION:{value}".encode()
        folded = fold(line)
        pieces = folded.split(b"\r\n")
        assert all(len(piece) <= 75 for piece in pieces)
        assert all(piece.startswith(b" ") for piece in pieces[1:])
        for piece in pieces:
            piece.decode()  # each physical line is valid UTF-8 on its own
        assert folded.replace(b"\r\n ", b"") == line


def test_text_values_are_escaped_as_rfc_5545_says():
    assert escape_text("a,b;c\\d\ne\r\nf\x00g\th") == "a\\,b\\;c\\\\d\\ne\\nfg h"


def test_long_chinese_text_with_special_characters_round_trips_through_both_parsers():
    place = "杭州市西湖区家庭教育指导服务中心，文三路 100 号；二楼\\咨询室 " * 3
    name = "欧阳老师，家庭教育；心理" * 4
    scope = FeedScope(
        title=f"咨询预约：{name}",
        locale="zh_Hans",
        experts={1: FeedExpert(name, place, "http://testserver.local/roster/experts/1")},
        edited_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    moment = datetime(2026, 11, 2, 1, 30, tzinfo=UTC)
    entry = FeedEntry(
        uid="long-1@family-hotline",
        starts_at=moment,
        ends_at=moment + timedelta(minutes=50),
        status="confirmed",
        sequence=3,
        updated_at=moment - timedelta(days=1),
        created_at=moment - timedelta(days=2),
        topic="bullying",
        mode="in_person",
        masked_phone="138****5678",
        place=place,
        detail_url="http://testserver.local/roster/experts/1",
    )
    feed = render_feed(scope, [entry])
    assert all(len(line) <= 75 for line in feed.split(b"\r\n"))
    assert feed.endswith(b"END:VCALENDAR\r\n")

    [event] = Calendar.from_ical(feed).walk("VEVENT")
    assert str(event["location"]) == place
    assert event.decoded("dtstart") == moment and int(event["sequence"]) == 3
    assert "138****5678" in str(event["description"]) and "\n" in str(event["description"])
    by_mozilla = parse_with_ical_js(feed)
    assert by_mozilla["name"] == f"咨询预约：{name}"
    [js_event] = by_mozilla["events"]
    assert js_event["start"] == "2026-11-02T01:30:00.000Z" and js_event["end"] == "2026-11-02T02:20:00.000Z"
    assert js_event["sequence"] == 3 and js_event["status"] == "CONFIRMED"
    assert js_event["description"].split("\n")[0] == "家长电话：138****5678"


async def test_an_unchanged_feed_is_written_once_and_served_from_memory_until_it_changes(
    client, engine, cipher, monkeypatch
):
    import booking.calendar as calendar

    renders: list[int] = []
    real = calendar._decrypt_and_render

    def counting(*args):
        renders.append(1)
        return real(*args)

    monkeypatch.setattr(calendar, "_decrypt_and_render", counting)
    expert = await add_expert(engine)
    url = f"/calendar/experts/{feed_token_of(expert)}.ics"
    _, manage_token = await _book_and_confirm(client, engine, cipher, expert.id)
    first, again = await client.get(url), await client.get(url)  # no validator, as many services poll
    assert first.content == again.content and len(renders) == 1
    await client.post(f"/api/bookings/manage/{manage_token}/cancel", json={})
    changed = await client.get(url)
    assert len(renders) == 2 and changed.content != first.content
    assert events_by_icalendar(changed.content).popitem()[1]["status"] == "CANCELLED"


def test_the_feed_memory_keeps_the_recently_used_within_its_bytes():
    from booking.feed_cache import RenderedFeeds

    feeds = RenderedFeeds(max_bytes=10)
    feeds.put('"a"', b"aaaa")
    feeds.put('"b"', b"bbbb")
    assert feeds.get('"a"') == b"aaaa"  # now the most recently used
    feeds.put('"c"', b"cccc")  # 12 bytes: the least recently used ("b") goes
    assert (feeds.get('"a"'), feeds.get('"b"'), feeds.get('"c"')) == (b"aaaa", None, b"cccc")
    feeds.put('"huge"', b"x" * 11)  # larger than the whole memory: not kept, nothing evicted for it
    assert feeds.get('"huge"') is None and feeds.get('"a"') == b"aaaa"
