"""The demo's expert login: lands on their own page with consultations waiting to be recorded."""

from __future__ import annotations

from app.demo import DEMO_PASSWORD, seed_demo
from tests.conftest import post_form


async def test_the_demo_expert_logs_in_to_their_page_and_records_a_past_consultation(settings, client):
    assert await seed_demo(settings)
    landed = await post_form(
        client, "/login", {"username": "expert", "password": DEMO_PASSWORD}, follow_redirects=False
    )
    assert landed.status_code == 303 and landed.headers["location"] == "/expert"
    page = await client.get("/expert")
    assert page.status_code == 200 and "张慧" in page.text
    waiting = page.text.split('data-appointment="')
    assert len(waiting) > 4  # three past to record, one recorded, two to come
    first = waiting[1].split('"')[0]
    opened = await client.get(f"/expert/appointments/{first}")
    assert opened.status_code == 200
    saved = await post_form(client, f"/expert/appointments/{first}/attendance", {"attendance": "attended"})
    assert saved.status_code == 200
