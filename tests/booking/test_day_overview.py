"""The coordinator's day: bookings of the unit scope by day or week, filters, statuses, the printable
day sheet, and the audited reveal of one parent's name."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from litestar.testing import AsyncTestClient
from sqlmodel import select

from booking.models import Appointment, Expert
from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.booking.conftest import add_expert
from tests.conftest import log_in, post_form

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def add_row(
    engine, cipher: FieldCipher, expert: Expert, starts: datetime, *, name: str, mode: str = "phone",
    status: str = "confirmed", attendance: str | None = None,
) -> int:  # fmt: skip
    async with create_sessionmaker(engine)() as session:
        row = Appointment(
            expert_id=expert.id or 0, starts_at=starts, ends_at=starts + timedelta(minutes=50), mode=mode,
            status=status, parent_name_ciphertext=cipher.encrypt(name, context="appointment.parent_name"),
            parent_phone_ciphertext=cipher.encrypt("+8613812345678", context="appointment.parent_phone"),
            parent_phone_index=uuid.uuid4().hex, ical_uid=f"{uuid.uuid4()}@test", attendance=attendance,
            hold_expires_at=utcnow() + timedelta(minutes=5) if status == "held" else None,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return row.id or 0


def local(day_offset: int, hour: int) -> datetime:
    today = utcnow().astimezone(SHANGHAI).date()
    return datetime.combine(today + timedelta(days=day_offset), time(hour), tzinfo=SHANGHAI).astimezone(
        ZoneInfo("UTC")
    )


async def test_the_day_lists_the_units_bookings_with_statuses_filters_and_a_week_view(app, engine, cipher):
    wang = await add_expert(engine, name="王老师")
    li = await add_expert(engine, name="李老师")
    today_phone = await add_row(engine, cipher, wang, local(0, 10), name="刘晓红")
    today_video = await add_row(
        engine, cipher, li, local(0, 11), name="陈大明", mode="video", status="cancelled"
    )
    no_show = await add_row(engine, cipher, li, local(0, 8), name="赵小兰", attendance="no_show")
    held = await add_row(engine, cipher, wang, local(0, 15), name="孙一", status="held")
    in_three_days = await add_row(engine, cipher, wang, local(3, 9), name="周二")

    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.COORDINATOR)
        day = (await browser.get("/roster/day")).text
        for row in (today_phone, today_video, no_show, held):
            assert f'data-appointment="{row}"' in day
        assert f'data-appointment="{in_three_days}"' not in day
        assert "刘晓红" not in day and "刘**" in day  # masked
        assert (
            'class="badge no_show"' in day
            and 'class="badge held"' in day
            and 'class="badge cancelled"' in day
        )

        week = (await browser.get("/roster/day?span=week")).text
        assert f'data-appointment="{in_three_days}"' in week
        only_li = (await browser.get(f"/roster/day?expert={li.id}")).text
        assert (
            f'data-appointment="{today_video}"' in only_li
            and f'data-appointment="{today_phone}"' not in only_li
        )
        only_video = (await browser.get("/roster/day?mode=video")).text
        assert (
            f'data-appointment="{today_video}"' in only_video
            and f'data-appointment="{no_show}"' not in only_video
        )
        only_no_show = (await browser.get("/roster/day?status=no_show")).text
        assert f'data-appointment="{no_show}"' in only_no_show
        assert f'data-appointment="{today_phone}"' not in only_no_show
        # Nonsense filters mean "no filter", never an error.
        assert (
            await browser.get("/roster/day?day=2026-13-45&site=x&mode=<b>&status=nope")
        ).status_code == 200
        # Only a booking not yet begun and confirmed offers a move.
        assert f"/roster/appointments/{in_three_days}/reschedule" in week


async def test_the_day_sheet_prints_masked_names_and_a_reveal_is_audited(app, engine, cipher):
    expert = await add_expert(engine)
    row = await add_row(engine, cipher, expert, local(1, 10), name="刘晓红")
    tomorrow = local(1, 10).astimezone(SHANGHAI).date().isoformat()
    async with AsyncTestClient(app=app) as browser:
        user = await log_in(browser, engine, Role.COORDINATOR)
        sheet = await browser.get(f"/roster/day/sheet?day={tomorrow}")
        assert sheet.status_code == 200 and "刘**" in sheet.text and "刘晓红" not in sheet.text
        assert "@media print" in (await browser.get("/static/site.css")).text
        shown = await post_form(
            browser, f"/roster/day/sheet/reveal?day={tomorrow}", {"appointment_id": str(row)}
        )
        assert shown.status_code == 200 and "刘晓红" in shown.text
        again = await browser.get(f"/roster/day/sheet?day={tomorrow}")
        assert "刘晓红" not in again.text  # a reveal lasts one page
        bogus = await post_form(browser, f"/roster/day/reveal?day={tomorrow}", {"appointment_id": "999999"})
        assert bogus.status_code == 200
    async with create_sessionmaker(engine)() as session:
        reveals = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.name_reveal"))
        ).all()
    assert [(r.actor_label, r.object_id) for r in reveals] == [(user.username, str(row))]


async def test_a_sibling_unit_sees_none_of_the_other_units_day_and_cannot_reveal_or_move(app, engine, cipher):
    async with create_sessionmaker(engine)() as session:
        west = await create_unit(
            session,
            name="西湖区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330106",
            parent_id=DEFAULT_UNIT_ID,
        )
        east = await create_unit(
            session,
            name="上城区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330102",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
    expert = await add_expert(engine, name="西湖 王老师", unit_id=west.id or 0)
    row = await add_row(engine, cipher, expert, local(2, 10), name="刘晓红")
    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.COORDINATOR, unit_id=east.id or 0)
        week = (await browser.get("/roster/day?span=week")).text
        assert f'data-appointment="{row}"' not in week and "西湖 王老师" not in week
        shown = await post_form(browser, "/roster/day/reveal?span=week", {"appointment_id": str(row)})
        assert "刘晓红" not in shown.text
        assert (await browser.get(f"/roster/appointments/{row}/reschedule")).status_code == 404
    async with create_sessionmaker(engine)() as session:
        assert (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "appointment.name_reveal"))
        ).all() == []
    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.OPERATOR)
        assert (await browser.get("/roster/day")).status_code == 403
