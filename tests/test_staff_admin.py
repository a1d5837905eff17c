"""Staff administration as an administrator does it: add, edit, deactivate, reset, end sessions — for
their own unit and the units below it only."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from core.accounts import Role, StaffUser
from core.audit import AuditEvent
from core.db import create_sessionmaker
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form

TEMPORARY = re.compile(r"data-temporary-password>[^<]*?([A-Za-z0-9_-]{16})</p>")


async def _district(engine) -> int:
    async with create_sessionmaker(engine)() as session:
        unit = await create_unit(
            session,
            name="西湖区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330106",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
        return unit.id or 0


async def _login(client, username: str, password: str):
    return await post_form(
        client, "/login", {"username": username, "password": password}, follow_redirects=False
    )


async def test_an_admin_adds_a_colleague_who_must_choose_a_password_at_first_login(app, engine):
    district = await _district(engine)
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)
        assert (await admin.get("/")).status_code == 200
        page = await post_form(
            admin,
            "/admin/users/",
            {"username": "Xihu-Zhou", "display_name": "周老师", "role": "operator", "unit_id": str(district)},
        )
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        temporary = TEMPORARY.search(page.text).group(1)
        assert 'data-username="xihu-zhou"' in page.text
        taken = await post_form(
            admin, "/admin/users/", {"username": "xihu-zhou", "role": "operator", "unit_id": str(district)}
        )
        assert taken.status_code == 400 and "用户名已被使用" in taken.text

    async with AsyncTestClient(app=app) as colleague:
        assert (await _login(colleague, "xihu-zhou", temporary)).status_code == 303
        sent = await colleague.get("/hotline/cases", follow_redirects=False)
        assert sent.headers["location"] == "/account/security"
        changed = await post_form(
            colleague,
            "/account/security/password",
            {"current_password": temporary, "new_password": "violet lantern harbour"},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        assert (await colleague.get("/hotline/cases")).status_code == 200
    async with create_sessionmaker(engine)() as session:
        user = (await session.exec(select(StaffUser).where(StaffUser.username == "xihu-zhou"))).one()
        assert (user.unit_id, user.role, user.must_change_password) == (district, "operator", False)
        actions = set((await session.exec(select(AuditEvent.action))).all())
    assert {"staff.add", "account.password_changed"} <= actions


@pytest.fixture
def second_app(settings):
    """The same service in a second process, as it were: two test clients open at once each need an app
    (and engine) of their own, since each runs its app on its own event loop."""
    from app.server import create_app

    return create_app(settings)


async def test_deactivating_ends_the_users_sessions_at_once(app, second_app, engine):
    async with AsyncTestClient(app=app) as operator_client:
        operator = await log_in(operator_client, engine, Role.OPERATOR)
        assert (await operator_client.get("/hotline/cases")).status_code == 200
        async with AsyncTestClient(app=second_app) as admin:
            await log_in(admin, engine, Role.ADMIN)
            page = (await admin.get(f"/admin/users/{operator.id}")).text
            assert 'data-active="yes"' in page
            done = await post_form(admin, f"/admin/users/{operator.id}/deactivate", {}, follow_redirects=True)
            assert 'data-active="no"' in done.text
        after = await operator_client.get("/hotline/cases", follow_redirects=False)
        assert after.status_code == 303 and after.headers["location"].startswith("/login")
        assert (await _login(operator_client, operator.username, TEST_PASSWORD)).status_code == 400


async def test_a_reset_password_ends_sessions_and_must_be_changed(app, second_app, engine):
    async with AsyncTestClient(app=app) as operator_client:
        operator = await log_in(operator_client, engine, Role.OPERATOR)
        async with AsyncTestClient(app=second_app) as admin:
            await log_in(admin, engine, Role.ADMIN)
            page = await post_form(admin, f"/admin/users/{operator.id}/reset-password", {})
            temporary = TEMPORARY.search(page.text).group(1)
        assert (await operator_client.get("/hotline/cases", follow_redirects=False)).status_code == 303
        assert (await _login(operator_client, operator.username, TEST_PASSWORD)).status_code == 400
        assert (await _login(operator_client, operator.username, temporary)).status_code == 303
        sent = await operator_client.get("/hotline/cases", follow_redirects=False)
        assert sent.headers["location"] == "/account/security"


async def test_a_district_admin_sees_and_places_no_one_outside_the_district(app, engine):
    district = await _district(engine)
    city_operator = await make_user(engine, Role.OPERATOR)  # in the city (top) unit
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN, unit_id=district)
        listing = (await admin.get("/admin/users/")).text
        assert city_operator.username not in listing
        assert (await admin.get(f"/admin/users/{city_operator.id}")).status_code == 404
        for action in ("deactivate", "reset-password", "reset-two-factor"):
            assert (
                await post_form(admin, f"/admin/users/{city_operator.id}/{action}", {})
            ).status_code == 404
        placed_above = await post_form(
            admin, "/admin/users/", {"username": "sneaky", "role": "admin", "unit_id": str(DEFAULT_UNIT_ID)}
        )
        assert placed_above.status_code == 400
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(StaffUser).where(StaffUser.username == "sneaky"))).first() is None
        assert (await session.get(StaffUser, city_operator.id)).is_active


async def test_only_administrators_reach_staff_administration_and_land_there(app, engine):
    async with AsyncTestClient(app=app) as supervisor:
        await log_in(supervisor, engine, Role.SUPERVISOR)
        assert (await supervisor.get("/admin/users/")).status_code == 403
    admin_user = await make_user(engine, Role.ADMIN)
    async with AsyncTestClient(app=app) as admin:
        landed = await _login(admin, admin_user.username, TEST_PASSWORD)
        assert landed.headers["location"] == "/admin/users"
        assert (await post_form(admin, f"/admin/users/{admin_user.id}/deactivate", {})).status_code == 400


async def test_the_audit_log_is_searched_by_user_case_and_date_within_the_admins_scope(app, engine):
    from tests.hotline.calls import a_call

    district = await _district(engine)
    async with AsyncTestClient(app=app) as operator_client:
        operator = await log_in(operator_client, engine, Role.OPERATOR, unit_id=district)
        logged = await post_form(operator_client, "/hotline/calls/new", a_call(), follow_redirects=False)
        number = logged.headers["location"].split("/cases/")[1].split("?")[0]
        assert (await operator_client.get(f"/hotline/cases/{number}")).status_code == 200

    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)  # the city, above the district
        page = (await admin.get("/admin/audit/", params={"case_number": number})).text
        assert page.count("<code>case.read</code>") == 1 and "<code>case.create</code>" in page
        by_user = (await admin.get("/admin/audit/", params={"username": operator.username})).text
        assert "<code>login</code>" in by_user and "<code>case.read</code>" in by_user
        tomorrow = await admin.get("/admin/audit/", params={"case_number": number, "date_from": "2999-01-01"})
        assert "<code>case.read</code>" not in tomorrow.text and tomorrow.status_code == 200

    async with create_sessionmaker(engine)() as session:
        other = await create_unit(
            session, name="上城区", kind=UnitKind.OTHER, region_code="330102", parent_id=DEFAULT_UNIT_ID
        )
        await session.commit()
    async with AsyncTestClient(app=app) as sibling_admin:
        await log_in(sibling_admin, engine, Role.ADMIN, unit_id=other.id)
        page = (await sibling_admin.get("/admin/audit/", params={"case_number": number})).text
        assert "<code>case.read</code>" not in page and operator.username not in page


async def test_a_supervisor_reads_a_cases_audit_history_on_its_page_and_an_operator_does_not(app, engine):
    from tests.hotline.calls import a_call

    async with AsyncTestClient(app=app) as operator_client:
        operator = await log_in(operator_client, engine, Role.OPERATOR)
        logged = await post_form(operator_client, "/hotline/calls/new", a_call(), follow_redirects=False)
        number = logged.headers["location"].split("/cases/")[1].split("?")[0]
        assert "data-case-history" not in (await operator_client.get(f"/hotline/cases/{number}")).text
    async with AsyncTestClient(app=app) as supervisor:
        await log_in(supervisor, engine, Role.SUPERVISOR)
        page = (await supervisor.get(f"/hotline/cases/{number}")).text
        assert "data-case-history" in page and operator.username in page
        assert page.count("<code>case.read</code>") == 2  # the operator's reading and this one
