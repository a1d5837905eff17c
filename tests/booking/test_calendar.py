"""Experts' calendar feeds, read back by two independent parsers: icalendar and Mozilla's ical.js."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from icalendar import Calendar

from core.settings import PROJECT_ROOT
from tests.booking.conftest import add_expert, appointments, last_otp
from tests.feeds import feed_token_of

ICAL_JS = PROJECT_ROOT / "tests" / "node" / "node_modules" / "ical.js" / "dist" / "ical.js"
SCRIPT = Path(__file__).with_name("ical_events.mjs")


def parse_with_ical_js(feed: bytes) -> dict:
    if shutil.which("node") is None or not ICAL_JS.exists():
        pytest.skip("node or ical.js is not installed (npm ci in tests/node)")
    done = subprocess.run(
        ["node", str(SCRIPT), str(ICAL_JS)], input=feed, capture_output=True, check=True, timeout=30
    )
    return json.loads(done.stdout)


def events_by_icalendar(feed: bytes) -> dict[str, dict]:
    calendar = Calendar.from_ical(feed)
    return {
        str(e["uid"]): {
            "status": str(e["status"]),
            "sequence": int(e["sequence"]),
            "start": e.decoded("dtstart"),
            "text": f"{e.get('summary', '')} {e.get('description', '')}",
        }
        for e in calendar.walk("VEVENT")
    }


async def _book_and_confirm(client, engine, cipher, expert_id: int, index: int = 0) -> tuple[str, str]:
    start = (await client.get(f"/api/experts/{expert_id}/slots")).json()["slots"][index]
    held = await client.post(
        "/api/bookings",
        json={"expert_id": expert_id, "starts_at": start, "mode": "in_person", "name": "李女士",
              "phone": "13812345678", "topic": "bullying"},
    )  # fmt: skip
    assert held.status_code == 201, held.text
    code = await last_otp(engine, cipher)
    confirmed = await client.post(f"/api/bookings/{held.json()['verify_token']}/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    return start, confirmed.json()["manage_token"]


async def test_a_new_booking_appears_in_the_feed_with_a_stable_uid_and_cancelling_raises_sequence(
    client, engine, cipher
):
    expert = await add_expert(engine)
    feed_url = f"/calendar/experts/{feed_token_of(expert)}.ics"
    empty = await client.get(feed_url)
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "text/calendar; charset=utf-8"
    assert events_by_icalendar(empty.content) == {}

    start, manage_token = await _book_and_confirm(client, engine, cipher, expert.id)
    [row] = await appointments(engine)

    first = (await client.get(feed_url)).content
    again = (await client.get(feed_url)).content
    assert first == again  # nothing changed, so calendar apps see the very same event
    by_python = events_by_icalendar(first)
    assert list(by_python) == [row.ical_uid]
    assert by_python[row.ical_uid]["status"] == "CONFIRMED"
    assert by_python[row.ical_uid]["start"].isoformat().replace("+00:00", "Z") == start
    by_mozilla = parse_with_ical_js(first)
    assert [(e["uid"], e["status"]) for e in by_mozilla["events"]] == [(row.ical_uid, "CONFIRMED")]
    assert by_mozilla["name"] and "王老师" in by_mozilla["name"]
    confirmed_sequence = by_mozilla["events"][0]["sequence"]

    await client.post(f"/api/bookings/manage/{manage_token}/cancel", json={})
    after = (await client.get(feed_url)).content
    [cancelled] = parse_with_ical_js(after)["events"]
    assert cancelled["uid"] == row.ical_uid
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["sequence"] > confirmed_sequence
    assert events_by_icalendar(after)[row.ical_uid]["status"] == "CANCELLED"


async def test_the_feed_never_shows_a_parent_name_or_full_phone(client, engine, cipher):
    expert = await add_expert(engine)
    await _book_and_confirm(client, engine, cipher, expert.id)
    feed = (await client.get(f"/calendar/experts/{feed_token_of(expert)}.ics")).content
    text = feed.decode()
    assert "李女士" not in text and "13812345678" not in text and "12345678" not in text
    [event] = parse_with_ical_js(feed)["events"]
    assert "138****5678" in event["description"]
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M" in text and "X-PUBLISHED-TTL:PT15M" in text


async def test_held_but_unconfirmed_bookings_stay_out_of_the_feed(client, engine):
    expert = await add_expert(engine)
    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    await client.post(
        "/api/bookings",
        json={
            "expert_id": expert.id,
            "starts_at": start,
            "mode": "phone",
            "name": "李",
            "phone": "13812345678",
        },
    )
    feed = (await client.get(f"/calendar/experts/{feed_token_of(expert)}.ics")).content
    assert events_by_icalendar(feed) == {}


async def test_unknown_or_malformed_feed_tokens_are_404(client, engine):
    expert = await add_expert(engine)
    assert (await client.get("/calendar/experts/guess.ics")).status_code == 404
    assert (await client.get(f"/calendar/experts/{feed_token_of(expert)}")).status_code == 404
    assert (await client.get(f"/calendar/experts/{feed_token_of(expert)}.ics")).status_code == 200
