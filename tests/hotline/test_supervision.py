"""The supervision board: counts by light per operator, line and agency; red items first; pending
mandatory reports on top whatever the filters; supervisors only, within their own units."""

from __future__ import annotations

import re
from datetime import timedelta

from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.units import UnitKind, create_unit
from hotline.case_terms import MandatoryReportStatus, ReferralStatus
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form
from tests.hotline.casework_rows import LIGHT, a_case, a_referral, a_report, a_task, an_agency

HOUR = timedelta(hours=1)


async def _sibling_unit(engine) -> int:
    async with create_sessionmaker(engine)() as session:
        unit = await create_unit(
            session, name="西区", kind=UnitKind.OTHER, region_code="330106", parent_id=None
        )
        await session.commit()
        return unit.id or 0


async def _world(engine, settings):
    """Two operators' cases: tasks in every colour, a late referral, a late pending report, a recorded one."""
    cipher = FieldCipher(settings.data_key)
    li = await make_user(engine, Role.OPERATOR, "li")
    wang = await make_user(engine, Role.OPERATOR, "wang")
    police = await an_agency(engine, 1, "城东派出所")
    school = await an_agency(engine, 1, "第一中学")
    case_li, number_li = await a_case(engine, cipher, li, line="12355")
    case_wang, number_wang = await a_case(engine, cipher, wang, line="family_edu")
    case_done, _ = await a_case(engine, cipher, wang, line="family_edu")
    ids = {
        "li_red": await a_task(engine, case_li, due_in=-3 * HOUR, owner_id=li.id),
        "li_amber": await a_task(engine, case_li, due_in=5 * HOUR, owner_id=li.id),
        "wang_green": await a_task(engine, case_wang, due_in=80 * HOUR, owner_id=wang.id),
        "police_red": await a_referral(engine, case_wang, police, wang, due_in=-30 * HOUR),
        "school_green": await a_referral(
            engine, case_li, school, li, due_in=100 * HOUR, status=ReferralStatus.ACKNOWLEDGED
        ),
        "school_closed": await a_referral(
            engine, case_li, school, li, due_in=-HOUR, status=ReferralStatus.CLOSED
        ),
        "report_red": await a_report(engine, case_wang, due_in=-2 * HOUR),
        "report_recorded": await a_report(
            engine, case_done, due_in=-50 * HOUR, status=MandatoryReportStatus.RECORDED
        ),
    }
    return {
        "li": li,
        "wang": wang,
        "police": police,
        "school": school,
        "numbers": (number_li, number_wang),
        **ids,
    }


def _counts(rows, key):
    return {row[key]: (row["counts"]["red"], row["counts"]["amber"], row["counts"]["green"]) for row in rows}


async def test_operators_are_refused_the_board(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    assert (await client.get("/hotline/supervision")).status_code == 403
    assert (await client.get("/api/supervision")).status_code == 403


async def test_a_supervisor_lands_on_the_board(client, engine):
    supervisor = await make_user(engine, Role.SUPERVISOR)
    landed = await post_form(
        client, "/login", {"username": supervisor.username, "password": TEST_PASSWORD}, follow_redirects=False
    )
    assert landed.headers["location"] == "/hotline/supervision"
    assert (await client.get("/hotline/supervision")).status_code == 200


async def test_the_board_counts_by_light_per_operator_line_and_agency(client, engine, settings):
    world = await _world(engine, settings)
    await log_in(client, engine, Role.SUPERVISOR)

    board = (await client.get("/api/supervision")).json()

    # Open items: 2 tasks of li, 1 of wang, 2 open referrals, 1 pending report; closed and recorded not.
    assert (board["totals"]["red"], board["totals"]["amber"], board["totals"]["green"]) == (3, 1, 2)
    operators = _counts(board["by_operator"], "key")
    assert operators[str(world["li"].id)] == (1, 1, 1)  # own two tasks; the school referral of li's case
    assert operators[str(world["wang"].id)] == (2, 0, 1)  # the police referral and the report of wang's case
    assert _counts(board["by_agency"], "label") == {"城东派出所": (1, 0, 0), "第一中学": (0, 0, 1)}
    # Cases by their worst open item: li's case is red (a late task), wang's red (a late report).
    assert _counts(board["by_line"], "key") == {"12355": (1, 0, 0), "family_edu": (1, 0, 0)}
    # Red first, most overdue first, then amber; green items are not listed.
    assert [(item["kind"], item["light"]) for item in board["items"]] == [
        ("referral", "red"),
        ("task", "red"),
        ("mandatory_report", "red"),
        ("task", "amber"),
    ]
    assert board["items"][0]["what"] == "城东派出所"
    assert board["items"][0]["overdue_minutes"] >= 30 * 60 - 1
    assert (board["reports_pending"], board["reports_overdue"]) == (1, 1)


async def test_the_page_puts_pending_reports_first_and_marks_every_light(client, engine, settings):
    world = await _world(engine, settings)
    await log_in(client, engine, Role.SUPERVISOR)

    page = (await client.get("/hotline/supervision")).text

    reports = page.index('data-reports-pending="1"')
    assert reports < page.index("late-items") < page.index('data-counts="operator"')
    report_block = page[reports : page.index("</section>", reports)]
    assert LIGHT.findall(report_block) == ["red"]
    assert world["numbers"][1] in report_block
    late = page[page.index("late-items") : page.index("</table>", page.index("late-items"))]
    assert LIGHT.findall(late) == ["red", "red", "red", "amber"]
    assert re.search(r'data-total="red">3<', page) and re.search(r'data-total="green">2<', page)
    assert "已超期 1 天 6 小时" in late  # the police referral, 30 hours late


async def test_filters_narrow_the_items_but_never_the_pending_reports(client, engine, settings):
    world = await _world(engine, settings)
    await log_in(client, engine, Role.SUPERVISOR)

    referrals = (await client.get("/api/supervision?kind=referral")).json()
    assert {item["kind"] for item in referrals["items"]} == {"referral"}
    assert (referrals["totals"]["red"], referrals["totals"]["green"]) == (1, 1)
    assert referrals["reports_pending"] == 1

    of_li = (await client.get(f"/api/supervision?operator={world['li'].id}")).json()
    assert (of_li["totals"]["red"], of_li["totals"]["amber"], of_li["totals"]["green"]) == (1, 1, 1)

    family = (await client.get("/api/supervision?line=family_edu")).json()
    assert (family["totals"]["red"], family["totals"]["green"]) == (2, 1)
    assert [row["key"] for row in family["by_line"]] == ["family_edu"]

    school = (await client.get(f"/api/supervision?agency={world['school']}")).json()
    assert (school["totals"]["red"], school["totals"]["green"]) == (0, 1) and school["items"] == []

    assert (await client.get("/api/supervision?kind=everything")).status_code == 400
    assert (await client.get("/hotline/supervision?line=nope")).status_code == 400
    filtered = await client.get(f"/hotline/supervision?kind=task&agency={world['police']}")
    assert filtered.status_code == 200 and 'data-total="red">0<' in filtered.text


async def test_a_supervisor_of_a_sibling_unit_sees_nothing_of_another_units_items(client, engine, settings):
    await _world(engine, settings)
    sibling = await _sibling_unit(engine)
    await log_in(client, engine, Role.SUPERVISOR, unit_id=sibling)

    board = (await client.get("/api/supervision")).json()

    assert board["totals"] == {"red": 0, "amber": 0, "green": 0}
    assert board["by_operator"] == board["by_line"] == board["by_agency"] == board["items"] == []
    assert (board["reports_pending"], board["reports"]) == (0, [])
    page = (await client.get("/hotline/supervision")).text
    assert "城东派出所" not in page and "12355-" not in page


async def test_a_case_page_shows_the_case_light_of_its_most_urgent_open_item(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    case_id, number = await a_case(engine, cipher, operator)
    await a_task(engine, case_id, due_in=80 * HOUR, owner_id=operator.id)
    assert 'data-case-light="green"' in (await client.get(f"/hotline/cases/{number}")).text

    await a_referral(engine, case_id, await an_agency(engine, 1), operator, due_in=-HOUR, cipher=cipher)
    assert 'data-case-light="red"' in (await client.get(f"/hotline/cases/{number}")).text

    _, quiet = await a_case(engine, cipher, operator)
    assert "data-case-light" not in (await client.get(f"/hotline/cases/{quiet}")).text
