"""Voice figures in the reports against tests/reports/voice_world.py's hand counts, and the same service
level as the supervisor's live panel (both count with hotline.voice_levels)."""

from __future__ import annotations

import io
import json
import re

from openpyxl import load_workbook

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from hotline.voice_board import voice_panel
from reports.figures import FigureScope, compute_figures, percentile_from_histogram
from reports.models import ReportVersion
from reports.periods import parse_period
from reports.quarterly import comparison
from tests.conftest import log_in, make_user, post_form
from tests.reports.test_report_pages import _cell
from tests.reports.voice_world import seed_voice_calls
from tests.reports.world import local, units

TZ = "Asia/Shanghai"


async def _voice(engine, scope, code="2026-Q3"):
    async with create_sessionmaker(engine)() as s:
        figures = await compute_figures(s, scope, parse_period(code), timezone=TZ, now=utcnow())
    return figures["voice"]


async def test_voice_calls_by_line_and_outcome_with_the_service_level(engine):
    world = await units(engine)
    await seed_voice_calls(engine, world)
    voice = await _voice(engine, FigureScope(unit_id=world.a))
    assert voice["by_line"] == {
        "12355": {"total": 5, "answered": 3, "abandoned": 0, "voicemail": 1, "out_of_hours": 0},
        "family_edu": {"total": 2, "answered": 0, "abandoned": 1, "voicemail": 1, "out_of_hours": 1},
    }
    assert (voice["total"], voice["answered"], voice["voicemail"], voice["out_of_hours"]) == (7, 3, 2, 1)
    assert (voice["queued_ended"], voice["answered_in_time"], voice["service_level_rate"]) == (5, 2, 0.4)
    assert (voice["median_wait_seconds"], voice["p90_wait_seconds"]) == (12.0, 30)


async def test_voice_scopes_and_periods(engine):
    world = await units(engine)
    await seed_voice_calls(engine, world)
    async with create_sessionmaker(engine)() as s:
        three = await comparison(
            s, FigureScope(unit_id=world.a), parse_period("2026-Q3"), timezone=TZ, now=utcnow()
        )
    assert [three[k]["voice"]["total"] for k in ("current", "previous", "year_before")] == [7, 1, 1]
    assert [three[k]["voice"]["service_level_rate"] for k in ("previous", "year_before")] == [1.0, 0.0]
    q4 = await _voice(engine, FigureScope(unit_id=world.a), "2026-Q4")
    assert q4["total"] == 1  # 00:10 on 1 October local is still 30 September in UTC
    lower = await _voice(engine, FigureScope(unit_id=world.a1))
    assert (lower["total"], lower["answered"], lower["service_level_rate"]) == (1, 1, 0.0)
    sibling = await _voice(engine, FigureScope(unit_id=world.b))
    assert sibling["total"] == 1
    family = await _voice(engine, FigureScope(unit_id=world.a, line="family_edu"))
    assert (family["total"], family["queued_ended"], family["service_level_rate"]) == (2, 1, 0.0)
    assert family["median_wait_seconds"] is None and set(family["by_line"]) == {"family_edu"}


async def test_the_report_and_the_live_panel_agree_on_a_day(engine):
    world = await units(engine)
    await seed_voice_calls(engine, world)
    supervisor = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    async with create_sessionmaker(engine)() as s:
        panel = await voice_panel(s, supervisor, now=local("2026-08-01 23:00"), timezone=TZ)
        day = await compute_figures(
            s, FigureScope(unit_id=world.a), parse_period("2026-08-01..2026-08-01"), timezone=TZ, now=utcnow()
        )
    family = next(row for row in panel if row.line == "family_edu")
    voice = day["voice"]
    assert (family.abandoned_today, family.queued_ended_today, family.service_level) == (1, 1, 0.0)
    assert (voice["abandoned"], voice["queued_ended"], voice["service_level_rate"]) == (1, 1, 0.0)


def test_the_nearest_rank_percentile():
    assert percentile_from_histogram({}, 0.9) is None
    assert percentile_from_histogram({5: 9, 60: 1}, 0.9) == 5
    assert percentile_from_histogram({5: 8, 60: 2}, 0.9) == 60


async def test_the_dashboard_and_the_xlsx_show_voice_figures(client, engine):
    world = await units(engine)
    await seed_voice_calls(engine, world)
    await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    html = (await client.get("/reports?period=2026-Q3")).text
    assert _cell(html, "voice-summary", "voice.total") == ["7", "1", "1"]
    assert _cell(html, "voice-summary", "voice.service_level_rate") == ["40.0%", "100.0%", "0.0%"]
    assert _cell(html, "voice-line", "family_edu.out_of_hours") == ["1", "0", "0"]
    assert re.search(r'<svg [^>]*data-chart="voice-line"', html)
    book = load_workbook(
        io.BytesIO((await client.get(f"/reports/quarterly/2026-Q3.xlsx?unit={world.a}")).content)
    )
    rows = {row[1]: row[2:5] for row in book.worksheets[1].iter_rows(values_only=True) if row[1]}
    assert rows.get("语音来电数", rows.get("Voice calls received")) == (7, 1, 1)


async def test_a_signed_version_keeps_its_voice_figures_and_older_ones_say_they_had_none(client, engine):
    world = await units(engine)
    supervisor = await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    await seed_voice_calls(engine, world)
    signed = await post_form(client, f"/reports/quarterly/2026-Q3/sign?unit={world.a}", {"progress": "完成"})
    assert signed.status_code in (200, 303)
    await seed_voice_calls(engine, world)  # a correction after the sign-off: the draft counts it
    printed = (await client.get(f"/reports/quarterly/2026-Q3/print?unit={world.a}&version=1")).text
    assert _cell(printed, "voice-summary", "voice.total") == ["7", "1", "1"]
    draft = (await client.get(f"/reports/quarterly/2026-Q3/print?unit={world.a}")).text
    assert _cell(draft, "voice-summary", "voice.total") == ["14", "2", "2"]
    # A version signed before the reports had voice figures stored none: the page says so.
    async with create_sessionmaker(engine)() as s:
        three = await comparison(
            s, FigureScope(unit_id=world.a), parse_period("2026-Q3"), timezone=TZ, now=utcnow()
        )
        for figures in three.values():
            figures["voice"] = None
        s.add(
            ReportVersion(
                unit_id=world.a,
                unit_name="A区",
                period="2026-Q3",
                version=2,
                figures_json=json.dumps(three),
                progress="旧版",
                signed_by_id=supervisor.id or 0,
                signed_by_name=supervisor.display_name,
            )
        )
        await s.commit()
    old = (await client.get(f"/reports/quarterly/2026-Q3/print?unit={world.a}&version=2")).text
    assert 'data-voice="missing"' in old and 'data-panel="voice-summary"' not in old
    assert 'data-voice="missing"' not in printed
