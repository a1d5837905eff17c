"""Administering units as an administrator does it in the browser's forms, and on the command line:
add a unit under one's own, rename and reclassify it, deactivate it once nobody works there — never
beside or above one's own unit. Also the staff list's filters and role names in the reader's language."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlmodel import select

from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker
from core.units import DEFAULT_UNIT_ID, OrgUnit, UnitKind, create_unit
from tests.conftest import log_in, make_user, post_form
from tests.test_cli import _cli


async def _unit(engine, name: str, parent_id: int, region: str = "330106") -> int:
    async with create_sessionmaker(engine)() as session:
        unit = await create_unit(
            session, name=name, kind=UnitKind.GUIDANCE_CENTRE, region_code=region, parent_id=parent_id
        )
        await session.commit()
        return unit.id or 0


async def _get_unit(engine, unit_id: int) -> OrgUnit:
    async with create_sessionmaker(engine)() as session:
        unit = await session.get(OrgUnit, unit_id)
        assert unit is not None
        return unit


async def test_an_admin_adds_renames_and_deactivates_a_unit_below_their_own(app, engine):
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)
        page = await admin.get("/admin/units/", headers={"accept-language": ""})
        assert page.status_code == 200 and "添加单位" in page.text

        bad = await post_form(
            admin,
            "/admin/units/",
            {"name": "", "kind": "nonsense", "region_code": "12", "parent_id": str(DEFAULT_UNIT_ID)},
            headers={"accept-language": ""},
        )
        assert bad.status_code == 400
        assert "请填写单位名称" in bad.text and "行政区划代码" in bad.text
        async with create_sessionmaker(engine)() as session:
            assert len((await session.exec(select(OrgUnit))).all()) == 1  # nothing was added

        added = await post_form(
            admin,
            "/admin/units/",
            {
                "name": "西湖区家庭教育指导站",
                "kind": "guidance_centre",
                "region_code": "330106",
                "parent_id": str(DEFAULT_UNIT_ID),
            },
            follow_redirects=False,
        )
        assert added.status_code == 303
        async with create_sessionmaker(engine)() as session:
            unit = (await session.exec(select(OrgUnit).where(OrgUnit.name == "西湖区家庭教育指导站"))).one()
        assert unit.path == f"/{DEFAULT_UNIT_ID}/{unit.id}/" and unit.active

        renamed = await post_form(
            admin,
            f"/admin/units/{unit.id}",
            {"name": "西湖区妇联", "kind": "womens_federation", "region_code": "330106"},
            follow_redirects=False,
        )
        assert renamed.status_code == 303
        changed = await _get_unit(engine, unit.id or 0)
        assert (changed.name, changed.kind) == ("西湖区妇联", "womens_federation")

        # Someone still works there: deactivating would strand them.
        await make_user(engine, Role.OPERATOR, unit_id=unit.id)
        refused = await post_form(
            admin, f"/admin/units/{unit.id}/deactivate", {}, headers={"accept-language": ""}
        )
        assert refused.status_code == 400 and "仍有在职人员" in refused.text
        assert (await _get_unit(engine, unit.id or 0)).active

        own = await post_form(admin, f"/admin/units/{DEFAULT_UNIT_ID}/deactivate", {})
        assert own.status_code == 400 and (await _get_unit(engine, DEFAULT_UNIT_ID)).active

    async with create_sessionmaker(engine)() as session:
        actions = (
            await session.exec(select(AuditEvent.action).where(AuditEvent.object_type == "org_unit"))
        ).all()
    assert sorted(actions) == ["unit.add", "unit.edit"]


async def test_a_unit_with_nobody_left_is_deactivated_and_takes_no_new_staff(app, engine):
    district = await _unit(engine, "上城区", DEFAULT_UNIT_ID, "330102")
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)
        done = await post_form(admin, f"/admin/units/{district}/deactivate", {}, follow_redirects=False)
        assert done.status_code == 303
        assert not (await _get_unit(engine, district)).active
        listing = await admin.get("/admin/units/")
        assert 'data-unit="上城区" data-active="no"' in listing.text
        # A closed unit is not offered for new staff, and a forged form naming it is refused.
        users_page = await admin.get("/admin/users/")
        assert f'<option value="{district}"' not in users_page.text.split('name="unit_id"')[1]
        forged = await post_form(
            admin, "/admin/users/", {"username": "late", "role": "operator", "unit_id": str(district)}
        )
        assert forged.status_code == 400
        back = await post_form(admin, f"/admin/units/{district}/activate", {}, follow_redirects=False)
        assert back.status_code == 303 and (await _get_unit(engine, district)).active


async def test_an_admin_cannot_touch_a_unit_beside_or_above_their_own(app, engine):
    west = await _unit(engine, "西湖区", DEFAULT_UNIT_ID)
    east = await _unit(engine, "上城区", DEFAULT_UNIT_ID, "330102")
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN, unit_id=west)
        listing = await admin.get("/admin/units/")
        assert "西湖区" in listing.text and "上城区" not in listing.text
        for path, form in (
            (f"/admin/units/{east}", {"name": "改名", "kind": "other", "region_code": "330102"}),
            (f"/admin/units/{DEFAULT_UNIT_ID}", {"name": "改名", "kind": "other", "region_code": "330100"}),
            (f"/admin/units/{east}/deactivate", {}),
        ):
            assert (await post_form(admin, path, form)).status_code == 404, path
        above = await post_form(
            admin,
            "/admin/units/",
            {"name": "旁支", "kind": "other", "region_code": "330102", "parent_id": str(east)},
        )
        assert above.status_code == 400
    assert (await _get_unit(engine, east)).name == "上城区" and (await _get_unit(engine, east)).active
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(OrgUnit).where(OrgUnit.name == "旁支"))).first() is None


async def test_the_staff_list_filters_and_names_roles_in_the_readers_language(app, engine):
    west = await _unit(engine, "西湖区", DEFAULT_UNIT_ID)
    await make_user(engine, Role.OPERATOR, username="west-op", unit_id=west)
    await make_user(engine, Role.SUPERVISOR, username="city-sup")
    async with AsyncTestClient(app=app) as admin:
        await log_in(admin, engine, Role.ADMIN)
        everyone = await admin.get("/admin/users/", headers={"accept-language": ""})
        assert "接线员" in everyone.text and "督导" in everyone.text
        assert 'data-username="west-op"' in everyone.text and 'data-username="city-sup"' in everyone.text

        by_role = await admin.get("/admin/users/?role=supervisor")
        assert 'data-username="city-sup"' in by_role.text and 'data-username="west-op"' not in by_role.text
        by_unit = await admin.get(f"/admin/users/?unit={west}")
        assert 'data-username="west-op"' in by_unit.text and 'data-username="city-sup"' not in by_unit.text
        by_name = await admin.get("/admin/users/?q=CITY")
        assert 'data-username="city-sup"' in by_name.text and 'data-username="west-op"' not in by_name.text
        assert (await admin.get("/admin/users/?role=wizard")).status_code == 400
        assert (await admin.get("/admin/users/?status=gone")).status_code == 400


def test_units_are_listed_and_added_on_the_command_line(database_url, tmp_path):
    added = _cli(
        [
            "units",
            "add",
            "余杭区家庭教育指导中心",
            "--kind",
            "guidance_centre",
            "--region",
            "330110",
            "--parent",
            str(DEFAULT_UNIT_ID),
        ],
        database_url,
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert "added unit" in added.stdout
    listed = _cli(["units", "list"], database_url, tmp_path)
    assert "余杭区家庭教育指导中心" in listed.stdout and "330110" in listed.stdout
    bad = _cli(
        ["units", "add", "坏代码", "--kind", "guidance_centre", "--region", "99"], database_url, tmp_path
    )
    assert bad.returncode != 0 and "division code" in bad.stderr
    assert "坏代码" not in _cli(["units", "list"], database_url, tmp_path).stdout
