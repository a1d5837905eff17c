"""The demo makes the dashboard and the report visible at once: every comparison has figures, last
quarter's report is signed, this quarter's has begun."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from app.demo import DEMO_PASSWORD, seed_demo
from tests.conftest import post_form


async def test_the_demo_fills_the_dashboard_and_the_reports(settings, client):
    now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert await seed_demo(settings, now=now)
    login = {"username": "supervisor", "password": DEMO_PASSWORD}
    assert (await post_form(client, "/login", login, follow_redirects=False)).status_code == 303
    page = await client.get("/reports?period=2026-Q4", follow_redirects=False)
    table = re.search(r'data-panel-table="calls-summary">(.*?)</table>', page.text, re.S)
    assert table is not None, page.status_code
    total = re.search(r'<tr data-key="calls.total">(.*?)</tr>', table.group(1), re.S)
    assert total is not None
    values = [int(v) for v in re.findall(r"<td>(\d+)</td>", total.group(1))]
    assert len(values) == 3 and all(v > 0 for v in values), values
    assert 'data-chart="bookings-mode"' in page.text
    # Today's demo phone calls (app/demo_voice.py) reach the voice figures, with a service level.
    voice = re.search(r'<tr data-key="voice.total">(.*?)</tr>', page.text, re.S)
    assert voice is not None and int(re.findall(r"<td>(\d+)</td>", voice.group(1))[0]) > 0
    assert re.search(
        r'<tr data-key="voice.service_level_rate"><th[^>]*>[^<]*</th><td>\d+\.\d%</td>', page.text
    )
    report = (await client.get("/reports/quarterly/2026-Q3")).text
    assert 'data-version="1"' in report
    current = (await client.get("/reports/quarterly/2026-Q4")).text
    assert "本季度热线运行平稳" in current and "尚未签发" in current
