"""The dashboard and the quarterly report as people use them: who may open what, charts whose tables say
the figures, the sign-off freezing a version the database will not change, and the exports read back."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.accounts import Role
from core.db import create_sessionmaker
from reports.models import ReportVersion
from tests.conftest import log_in, make_user, post_form
from tests.reports.world import seed, units


def _cell(html: str, panel: str, key: str) -> list[str]:
    """The three values of a row of a panel's table."""
    table = re.search(rf'data-panel-table="{panel}">(.*?)</table>', html, re.S)
    assert table, panel
    row = re.search(rf'<tr data-key="{re.escape(key)}">(.*?)</tr>', table.group(1), re.S)
    assert row, (panel, key)
    return re.findall(r"<td>(.*?)</td>", row.group(1))


async def test_the_dashboard_shows_the_units_figures_with_charts_and_tables(client, engine):
    world = await units(engine)
    supervisor = await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, supervisor, world)
    page = await client.get("/reports?period=2026-Q3")
    assert page.status_code == 200
    html = page.text
    # This quarter, the one before, a year before: as counted by hand in tests/reports/world.py.
    assert _cell(html, "calls-summary", "calls.total") == ["3", "1", "2"]
    assert _cell(html, "calls-line", "12355") == ["2", "1", "2"]
    assert _cell(html, "bookings-summary", "bookings.no_show_rate") == ["50.0%", "—", "—"]
    # Each chart is an SVG with a title and a description, beside its table; none for text-only panels.
    charts = re.findall(r'<svg [^>]*data-chart="([^"]+)"', html)
    assert {"calls-day", "calls-line", "cases-risk", "bookings-mode"} <= set(charts)
    assert "calls-summary" not in charts
    assert re.search(r'<title id="calls-line-t">[^<]+</title><desc id="calls-line-d">[^<]*: 2', html)
    assert "<script" not in html
    # The sibling district's expert never appears; asking for the sibling's unit is "not found".
    assert "李老师" not in html and "王老师" in html
    assert (await client.get(f"/reports?unit={world.b}")).status_code == 404
    # A lower unit can be picked.
    lower = await client.get(f"/reports?period=2026-Q3&unit={world.a1}")
    assert _cell(lower.text, "calls-summary", "calls.total")[0] == "1"


async def test_coordinators_see_booking_figures_only_and_operators_nothing(client, engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, staff, world)
    await log_in(client, engine, Role.COORDINATOR, unit_id=world.a)
    html = (await client.get("/reports?period=2026-Q3")).text
    assert 'data-panel="bookings-site"' in html and 'data-panel="calls-line"' not in html
    assert _cell(html, "bookings-summary", "bookings.total")[0] == "3"
    assert (await client.get("/reports/quarterly/2026-Q3")).status_code == 403
    client.cookies.clear()
    await log_in(client, engine, Role.OPERATOR, unit_id=world.a)
    assert (await client.get("/reports")).status_code == 403


@pytest.mark.parametrize("bad", ["2026-Q9", "2026-05", "nonsense"])
async def test_a_report_needs_a_quarter_half_year_or_year(client, engine, bad):
    await log_in(client, engine, Role.SUPERVISOR)
    assert (await client.get(f"/reports/quarterly/{bad}")).status_code == 404
    assert (await client.get(f"/reports?period={bad}")).status_code in (200, 400)


async def test_sign_off_freezes_a_version_and_a_correction_makes_the_next(client, engine):
    world = await units(engine)
    supervisor = await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, supervisor, world)
    url = f"/reports/quarterly/2026-Q3/sign?unit={world.a}"
    empty = await post_form(client, url, {"progress": " ", "problems": "", "plans": ""})
    assert empty.status_code == 400
    too_long = await post_form(client, url, {"progress": "长" * 5001})
    assert too_long.status_code == 400
    signed = await post_form(client, url, {"progress": "完成接听", "problems": "人手不足", "plans": "培训"})
    assert signed.status_code in (200, 303)
    page = (await client.get(f"/reports/quarterly/2026-Q3?unit={world.a}")).text
    assert 'data-version="1"' in page and "完成接听" in page
    await post_form(client, url, {"progress": "完成接听（更正）"})
    page = (await client.get(f"/reports/quarterly/2026-Q3?unit={world.a}")).text
    assert 'data-version="2"' in page and 'data-version="1"' in page
    printed = (await client.get(f"/reports/quarterly/2026-Q3/print?unit={world.a}&version=1")).text
    assert "完成接听" in printed and "更正" not in printed and 'data-print-version="1"' in printed
    # The frozen figures are those of the quarter when it was signed.
    assert _cell(printed, "calls-summary", "calls.total") == ["3", "1", "2"]
    async with create_sessionmaker(engine)() as s:
        audited = (
            await s.execute(text("SELECT count(*) FROM audit_event WHERE action = 'report.signed'"))
        ).scalar()
    assert audited == 2


async def test_the_database_refuses_to_change_a_signed_version(engine):
    staff = await make_user(engine, Role.SUPERVISOR)
    async with create_sessionmaker(engine)() as s:
        s.add(
            ReportVersion(
                unit_id=1,
                unit_name="u",
                period="2026-Q3",
                version=1,
                figures_json="{}",
                signed_by_id=staff.id or 0,
                signed_by_name="s",
            )
        )
        await s.commit()
    for statement in ("UPDATE report_version SET progress = 'x'", "DELETE FROM report_version"):
        async with create_sessionmaker(engine)() as s:
            with pytest.raises((DBAPIError, IntegrityError)):
                await s.execute(text(statement))
                await s.commit()
    async with create_sessionmaker(engine)() as s:
        assert (await s.execute(text("SELECT progress FROM report_version"))).scalar() == ""


async def test_the_report_downloads_as_xlsx_with_its_figures_and_exporter(client, engine):
    world = await units(engine)
    supervisor = await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, supervisor, world)
    await post_form(
        client, f"/reports/quarterly/2026-Q3/draft?unit={world.a}", {"progress": "进展", "plans": "计划"}
    )
    response = await client.get(f"/reports/quarterly/2026-Q3.xlsx?unit={world.a}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    report, figures = book.worksheets
    values = {row[0]: row[1] for row in report.iter_rows(values_only=True) if row and row[0]}
    assert supervisor.display_name in values.values()
    assert "进展" in values.values() and "计划" in values.values()
    rows = {row[1]: row[2:5] for row in figures.iter_rows(values_only=True) if row[1]}
    calls = [v for k, v in rows.items() if k in ("来电量", "Calls received")]
    assert calls == [(3, 1, 2)]


async def test_the_case_table_suppresses_small_counts(client, engine):
    world = await units(engine)
    supervisor = await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    await seed(engine, supervisor, world)
    response = await client.get(f"/reports/cases.csv?period=2026-Q3&unit={world.a}")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [row[-1] for row in rows[1:]] == ["<5", "<5"]
    assert not any("T-" in cell for row in rows for cell in row)  # no case number


async def test_identified_exports_are_for_administrators_with_a_reason(client, engine):
    world = await units(engine)
    staff = await make_user(engine, Role.SUPERVISOR, unit_id=world.a)
    ids = await seed(engine, staff, world)
    admin = await log_in(client, engine, Role.ADMIN, unit_id=world.a)
    url = "/reports/identified/export"
    form = {"period": "2026-Q3", "unit": str(world.a)}
    assert (await post_form(client, url, {**form, "reason": "  "})).status_code == 400
    assert (await post_form(client, url, {**form, "unit": str(world.b), "reason": "核查"})).status_code == 404
    response = await post_form(client, url, {**form, "reason": "省妇联核查转介个案"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][1] == admin.display_name and rows[1][1] == "省妇联核查转介个案"
    async with create_sessionmaker(engine)() as s:
        numbers = (await s.execute(text("SELECT id, number FROM referral_case"))).all()
        detail = (
            await s.execute(text("SELECT detail FROM audit_event WHERE action = 'report.cases_exported'"))
        ).scalar()
    number_of = dict(numbers)
    listed = {row[0] for row in rows[4:]}
    assert number_of[ids["c1"]] in listed and number_of[ids["cb"]] not in listed  # never the sibling's
    assert len(listed) == 2 and "省妇联核查转介个案" in detail
    client.cookies.clear()
    await log_in(client, engine, Role.SUPERVISOR, unit_id=world.a)
    assert (await post_form(client, url, {**form, "reason": "x"})).status_code == 403
