"""Coordinators edit, deactivate and reactivate experts; a deactivated expert takes no new booking from
anyone, and the consultations already booked with them are listed for rebooking, never dropped."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from litestar.testing import AsyncTestClient
from sqlmodel import select

from booking.appointments import book_for_parent
from booking.models import Appointment, AppointmentStatus, AvailabilityRule, Expert
from booking.parent_details import ParentDetails
from booking.slot_times import as_utc
from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker
from core.errors import NotFound
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.booking.conftest import add_expert, last_otp
from tests.conftest import log_in, make_user, post_form

EDITED = [
    ("name", "王 老师（新）"),
    ("title", "高级家庭教育指导师"),
    ("bio", "二十年家庭教育经验。\n擅长青春期沟通。"),
    ("specialties", "bullying"),
    ("modes", "phone"),
    ("modes", "video"),
    ("site_id", ""),
    ("slot_minutes", "30"),
    ("buffer_minutes", "5"),
    ("rule_weekday", "2"),
    ("rule_start", "13:00"),
    ("rule_end", "18:00"),
]


async def _expert(engine, expert_id: int) -> Expert:
    async with create_sessionmaker(engine)() as session:
        found = await session.get(Expert, expert_id)
        assert found is not None
        return found


async def _actions(engine) -> list[tuple[str, str]]:
    async with create_sessionmaker(engine)() as session:
        return [
            (a.action, a.detail)
            for a in (await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all()
        ]  # type: ignore[arg-type]


async def _book(client, engine, cipher, expert_id: int, index: int = 0, phone: str = "13812345678") -> int:
    start = (await client.get(f"/api/experts/{expert_id}/slots")).json()["slots"][index]
    held = await client.post(
        "/api/bookings",
        json={"expert_id": expert_id, "starts_at": start, "mode": "phone", "name": "孙女士", "phone": phone},
    )
    assert held.status_code == 201, held.text
    code = await last_otp(engine, cipher)
    confirmed = await client.post(f"/api/bookings/{held.json()['verify_token']}/confirm", json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    return int(confirmed.json()["appointment_id"])


async def test_coordinator_edits_every_field_and_the_weekly_hours_with_an_audit_row(client, engine):
    expert = await add_expert(engine)
    await log_in(client, engine, Role.COORDINATOR)
    form = await client.get(f"/roster/experts/{expert.id}/edit")
    assert form.status_code == 200
    assert 'value="王老师"' in form.text and 'value="家庭教育指导师"' in form.text  # opens filled in
    assert f'action="/roster/experts/{expert.id}/edit"' in form.text

    saved = await post_form(client, f"/roster/experts/{expert.id}/edit", EDITED, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    fresh = await _expert(engine, expert.id)
    assert (fresh.name, fresh.title, fresh.bio) == (
        "王 老师（新）",
        "高级家庭教育指导师",
        "二十年家庭教育经验。\n擅长青春期沟通。",
    )
    assert fresh.specialty_codes == ["bullying"] and fresh.mode_codes == ["phone", "video"]
    assert (fresh.site_id, fresh.slot_minutes, fresh.buffer_minutes) == (None, 30, 5)
    assert fresh.updated_at is not None and fresh.feed_token_hash == expert.feed_token_hash
    async with create_sessionmaker(engine)() as session:
        rules = (
            await session.exec(select(AvailabilityRule).where(AvailabilityRule.expert_id == expert.id))
        ).all()
    assert [(r.weekday, r.start_local.isoformat(), r.end_local.isoformat()) for r in rules] == [
        (2, "13:00:00", "18:00:00")
    ]
    [detail] = [d for a, d in await _actions(engine) if a == "roster.expert.update"]
    assert set(json.loads(detail)["changed"]) == {
        "name",
        "title",
        "bio",
        "specialties",
        "modes",
        "site",
        "slot",
        "buffer",
    }
    # Parents see the new slot length at once.
    assert (await client.get(f"/api/experts/{expert.id}/slots")).json()["slot_minutes"] == 30


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "请填写专家姓名"),
        ({"slot_minutes": "5"}, "15 至 240 分钟"),
        ({"bio": "长" * 2001}, "2000"),
        ({"rule_start": "19:00"}, "开始时间早于结束时间"),
        ({"site_id": "999999"}, "请从列表中选择场所"),
    ],
)
async def test_a_bad_edit_is_400_with_the_reason_and_changes_nothing(client, engine, change, message):
    expert = await add_expert(engine)
    await log_in(client, engine, Role.COORDINATOR)
    fields = [(k, change.get(k, v)) for k, v in EDITED]
    page = await post_form(
        client, f"/roster/experts/{expert.id}/edit", fields, headers={"accept-language": "zh"}
    )
    assert page.status_code == 400
    assert message in page.text
    fresh = await _expert(engine, expert.id)
    assert (fresh.name, fresh.slot_minutes, fresh.updated_at) == ("王老师", 50, None)
    async with create_sessionmaker(engine)() as session:
        rules = (
            await session.exec(select(AvailabilityRule).where(AvailabilityRule.expert_id == expert.id))
        ).all()
    assert len(rules) == 7


async def test_a_sibling_units_coordinator_finds_nothing_and_changes_nothing(app, engine, cipher):
    async with create_sessionmaker(engine)() as session:
        west = await create_unit(session, name="西湖区", kind=UnitKind.GUIDANCE_CENTRE, region_code="330106",
                                 parent_id=DEFAULT_UNIT_ID)  # fmt: skip
        east = await create_unit(session, name="上城区", kind=UnitKind.GUIDANCE_CENTRE, region_code="330102",
                                 parent_id=DEFAULT_UNIT_ID)  # fmt: skip
        await session.commit()
    expert = await add_expert(engine, name="西湖 王老师", unit_id=west.id or 0)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as parent:
        appointment_id = await _book(parent, engine, cipher, expert.id)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as east_client:
        await log_in(east_client, engine, Role.COORDINATOR, unit_id=east.id or 0)
        assert (await east_client.get(f"/roster/experts/{expert.id}/edit")).status_code == 404
        for action in ("edit", "deactivate", "reactivate"):
            answer = await post_form(east_client, f"/roster/experts/{expert.id}/{action}", EDITED)
            assert answer.status_code == 404, action
        assert (await east_client.get(f"/roster/appointments/{appointment_id}")).status_code == 404
        assert (
            await post_form(east_client, f"/roster/sites/{expert.site_id}/feed-token", {})
        ).status_code == 404
        sites = await east_client.get("/roster/sites")
        assert sites.status_code == 200 and "市家庭教育指导服务中心" not in sites.text
    fresh = await _expert(engine, expert.id)
    assert (fresh.name, fresh.active, fresh.updated_at) == ("西湖 王老师", True, None)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as west_client:
        await log_in(west_client, engine, Role.COORDINATOR, unit_id=west.id or 0)
        assert (await west_client.get(f"/roster/experts/{expert.id}/edit")).status_code == 200
        assert (await west_client.get(f"/roster/appointments/{appointment_id}")).status_code == 200


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR, Role.EXPERT])
async def test_only_coordinators_and_admins_change_the_roster(client, engine, role):
    expert = await add_expert(engine)
    await log_in(client, engine, role)
    assert (await client.get(f"/roster/experts/{expert.id}/edit")).status_code == 403
    assert (await client.get("/roster/sites")).status_code == 403
    for action in ("edit", "deactivate"):
        assert (await post_form(client, f"/roster/experts/{expert.id}/{action}", EDITED)).status_code == 403
    assert (await _expert(engine, expert.id)).active


async def test_a_form_without_the_csrf_token_is_refused(client, engine):
    expert = await add_expert(engine)
    await log_in(client, engine, Role.COORDINATOR)
    refused = await client.post(f"/roster/experts/{expert.id}/deactivate", data={})
    assert refused.status_code == 403
    assert (await _expert(engine, expert.id)).active


async def test_a_deactivated_expert_takes_no_booking_from_parents_or_operators(
    client, engine, cipher, settings
):
    expert = await add_expert(engine)
    start = (await client.get(f"/api/experts/{expert.id}/slots")).json()["slots"][0]
    coordinator = await make_user(engine, Role.COORDINATOR)
    await log_in(client, engine, Role.COORDINATOR)
    off = await post_form(client, f"/roster/experts/{expert.id}/deactivate", {}, follow_redirects=False)
    assert off.status_code == 303
    await client.get("/logout")

    # The parent's pages no longer show the expert; the API refuses a hold with a clear reason.
    assert "王老师" not in (await client.get("/book")).text
    assert (await client.get(f"/book/experts/{expert.id}")).status_code == 404
    assert all(e["id"] != expert.id for e in (await client.get("/api/experts")).json())
    held = await client.post(
        "/api/bookings",
        json={
            "expert_id": expert.id,
            "starts_at": start,
            "mode": "phone",
            "name": "李",
            "phone": "13812345678",
        },
        headers={"accept-language": "en"},
    )
    assert held.status_code == 404
    assert held.json()["detail"] == "This expert is not taking new bookings. Please choose another expert."

    # An operator booking on the phone goes through the same service and is refused the same way.
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(NotFound) as refused:
            await book_for_parent(
                session,
                cipher,
                settings,
                expert_id=expert.id or 0,
                starts_at=as_utc(datetime.fromisoformat(start)),
                mode="phone",
                details=ParentDetails("李女士", "13812345678", "parenting", ""),
                locale="zh_Hans",
                booked_by_id=coordinator.id or 0,
            )
        assert "not taking new bookings" in refused.value.message
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(Appointment))).all() == []


async def test_future_bookings_of_a_deactivated_expert_are_listed_for_rebooking_and_kept(
    client, engine, cipher
):
    expert = await add_expert(engine)
    other = await add_expert(engine, name="钱老师")
    kept = await _book(client, engine, cipher, expert.id, 0, phone="13812345678")
    second = await _book(client, engine, cipher, expert.id, 1, phone="13987654321")
    unrelated = await _book(client, engine, cipher, other.id, 0, phone="13700001111")
    await log_in(client, engine, Role.COORDINATOR)
    assert "待改约" not in (await client.get("/roster/experts", headers={"accept-language": "zh"})).text

    await post_form(client, f"/roster/experts/{expert.id}/deactivate", {})
    detail = await client.get(f"/roster/experts/{expert.id}", headers={"accept-language": "zh"})
    assert detail.status_code == 200
    assert "138****5678" in detail.text and "139****4321" in detail.text
    assert "13812345678" not in detail.text and "孙女士" not in detail.text
    assert (
        f'href="/roster/appointments/{kept}"' in detail.text
        and f'href="/roster/appointments/{second}"' in detail.text
    )
    listing = await client.get("/roster/experts", headers={"accept-language": "zh"})
    assert f'href="/roster/appointments/{kept}"' in listing.text
    assert f'href="/roster/appointments/{unrelated}"' not in listing.text  # an active expert's booking
    page = await client.get(f"/roster/appointments/{kept}")
    assert page.status_code == 200 and "138****5678" in page.text and "孙*" in page.text
    assert "13812345678" not in page.text

    async with create_sessionmaker(engine)() as session:
        statuses = (
            await session.exec(select(Appointment.status).where(Appointment.expert_id == expert.id))
        ).all()
    assert statuses == [AppointmentStatus.CONFIRMED, AppointmentStatus.CONFIRMED]  # nothing cancelled
    actions = await _actions(engine)
    [deactivated] = [json.loads(d) for a, d in actions if a == "roster.expert.deactivate"]
    assert deactivated == {"future_appointments": 2}
    assert ("roster.appointment.read", "{}") in actions

    # Reactivated: bookable again, and nothing is left to rebook.
    on = await post_form(client, f"/roster/experts/{expert.id}/reactivate", {}, follow_redirects=False)
    assert on.status_code == 303
    assert (await client.get(f"/api/experts/{expert.id}/slots")).status_code == 200
    assert f"/roster/appointments/{kept}" not in (await client.get("/roster/experts")).text
    assert any(a == "roster.expert.reactivate" for a, _ in await _actions(engine))
