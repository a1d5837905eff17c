"""Organisation units: a tree of units, and data scope — staff see their own unit and the units below it,
never beside or above; what lies outside answers "not found"."""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from booking.models import Expert
from core.accounts import Role
from core.db import create_sessionmaker
from core.errors import FormInvalid
from core.units import DEFAULT_UNIT_ID, OrgUnit, UnitKind, create_unit, units_within, visible_to
from hotline.models import ReferralCase
from tests.booking.conftest import add_expert
from tests.booking.test_roster import GOOD_EXPERT
from tests.conftest import log_in, post_form
from tests.feeds import feed_token_of
from tests.hotline.calls import PHONE, a_call


async def _tree(engine: AsyncEngine) -> dict[str, int]:
    """The top unit (city) with two districts under it, and a school under the first district."""
    async with create_sessionmaker(engine)() as session:
        city = DEFAULT_UNIT_ID
        west = await create_unit(
            session, name="西湖区", kind=UnitKind.GUIDANCE_CENTRE, region_code="330106", parent_id=city
        )
        east = await create_unit(
            session, name="上城区", kind=UnitKind.WOMENS_FEDERATION, region_code="330102", parent_id=city
        )
        school = await create_unit(
            session, name="某小学家长学校", kind=UnitKind.SCHOOL, region_code="330106", parent_id=west.id
        )
        await session.commit()
        return {"city": city, "west": west.id or 0, "east": east.id or 0, "school": school.id or 0}


async def test_a_unit_knows_its_place_in_the_tree(engine):
    units = await _tree(engine)
    async with create_sessionmaker(engine)() as session:
        school = await session.get(OrgUnit, units["school"])
        assert school is not None
        assert school.path == f"/{units['city']}/{units['west']}/{units['school']}/"
        below_west = [unit.id for unit in await units_within(session, f"/1/{units['west']}/")]
        assert below_west == [units["west"], units["school"]]
        for viewer, sees in [
            ("city", {"city", "west", "east", "school"}),
            ("west", {"west", "school"}),
            ("east", {"east"}),
            ("school", {"school"}),
        ]:
            visible = set(
                (await session.exec(select(OrgUnit.id).where(visible_to(OrgUnit.id, units[viewer])))).all()
            )
            assert visible == {units[name] for name in sees}, viewer


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"region_code": "33010"}, "region_code"),
        ({"region_code": "990100"}, "region_code"),  # 99 names no province
        ({"name": "  "}, "name"),
        ({"parent_id": 424242}, "parent_id"),
    ],
)
async def test_a_unit_with_a_bad_field_is_refused_and_nothing_is_saved(engine, fields, error_field):
    wanted = {"name": "西湖区", "kind": UnitKind.OTHER, "region_code": "330106", "parent_id": DEFAULT_UNIT_ID}
    async with create_sessionmaker(engine)() as session:
        with pytest.raises(FormInvalid) as refused:
            await create_unit(session, **{**wanted, **fields})
        assert error_field in refused.value.errors
        await session.rollback()
        assert len((await session.exec(select(OrgUnit))).all()) == 1


async def _log_call(client: AsyncTestClient[Litestar], **fields: str) -> str:
    response = await post_form(client, "/hotline/calls/new", a_call(**fields), follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/cases/")[1].split("?")[0]


async def test_a_sibling_unit_sees_nothing_of_a_case_and_the_unit_above_sees_it(app, engine):
    units = await _tree(engine)
    async with AsyncTestClient(app=app) as west:
        await log_in(west, engine, Role.OPERATOR, unit_id=units["west"])
        number = await _log_call(west)
        assert (await west.get(f"/hotline/cases/{number}")).status_code == 200

    async with AsyncTestClient(app=app) as east:
        await log_in(east, engine, Role.SUPERVISOR, unit_id=units["east"])
        assert number not in (await east.get("/hotline/cases")).text
        assert (await east.get(f"/hotline/cases/{number}")).status_code == 404
        assert (await east.get(f"/api/cases/{number}")).status_code == 404
        listed = await east.get("/api/cases")
        assert listed.status_code == 200 and number not in listed.text
        # Logging a call into the sibling's case is refused as if the number did not exist.
        refused = await post_form(east, "/hotline/calls/new", a_call(case_number=number))
        assert refused.status_code == 400 and number not in refused.text.split("value=")[0]
        # The same caller phoning the sibling unit opens a new case there and is not told of the other.
        other = await _log_call(east)
        page = (await east.get(f"/hotline/cases/{other}")).text
        assert other != number and number not in page

    async with AsyncTestClient(app=app) as city:
        await log_in(city, engine, Role.SUPERVISOR, unit_id=units["city"])
        assert number in (await city.get("/hotline/cases")).text
        assert (await city.get(f"/hotline/cases/{number}")).status_code == 200
        assert PHONE[-4:] in (await city.get(f"/api/cases/{number}")).text

    async with AsyncTestClient(app=app) as school:
        await log_in(school, engine, Role.OPERATOR, unit_id=units["school"])  # below west: not above it
        assert (await school.get(f"/hotline/cases/{number}")).status_code == 404


async def test_experts_belong_to_a_unit_and_staff_see_only_their_scope(app, engine):
    units = await _tree(engine)
    west_expert = await add_expert(engine, name="西湖 王老师", unit_id=units["west"])
    east_expert = await add_expert(engine, name="上城 赵老师", unit_id=units["east"])

    async with AsyncTestClient(app=app) as east:
        await log_in(east, engine, Role.COORDINATOR, unit_id=units["east"])
        roster = (await east.get("/roster/experts")).text
        assert "上城 赵老师" in roster and "西湖 王老师" not in roster
        assert (await east.get(f"/roster/experts/{west_expert.id}")).status_code == 404
        assert (await east.get(f"/roster/experts/{east_expert.id}")).status_code == 200
        # A coordinator's new expert belongs to the coordinator's unit.
        created = await post_form(
            east,
            "/roster/experts/new",
            [(key, value) for key, value in GOOD_EXPERT if key != "name"] + [("name", "上城 新专家")],
            follow_redirects=False,
        )
        assert created.status_code == 303, created.text
    async with create_sessionmaker(engine)() as session:
        new = (await session.exec(select(Expert).where(Expert.name == "上城 新专家"))).one()
        assert new.unit_id == units["east"]

    async with AsyncTestClient(app=app) as city:
        await log_in(city, engine, Role.COORDINATOR, unit_id=units["city"])
        roster = (await city.get("/roster/experts")).text
        assert "上城 赵老师" in roster and "西湖 王老师" in roster

    # Parents' booking pages are unit-agnostic: every active expert is offered, and a parent may narrow
    # the list to a district (its school's experts would come along) or the whole city.
    async with AsyncTestClient(app=app) as parent:
        listing = (await parent.get("/book")).text
        assert "上城 赵老师" in listing and "西湖 王老师" in listing
        assert (
            f'<option value="{units["west"]}"' in listing
            and f'<option value="{units["school"]}"' not in listing
        )
        west_only = (await parent.get("/book", params={"area": units["west"]})).text
        assert "西湖 王老师" in west_only and "上城 赵老师" not in west_only
        city = (await parent.get("/book", params={"area": units["city"]})).text
        assert "上城 赵老师" in city and "西湖 王老师" in city
        unknown = await parent.get("/book", params={"area": 999_999})
        assert unknown.status_code == 200 and "上城 赵老师" in unknown.text  # an unknown area filters nothing


# ---- every staff route, walked by a sibling unit ---------------------------------------------------------


async def test_every_staff_route_walked_by_a_sibling_unit_shows_and_changes_nothing_of_the_other(app, engine):
    """Unit "west" holds a case, an expert (with a site) and a staff member. Staff of every role in its
    sibling "east" call every guarded route with west's identifiers: no answer carries west's data, and
    nothing of west's changes."""
    from tests.test_route_guards import _is_public, _routes

    units = await _tree(engine)
    async with AsyncTestClient(app=app) as west:
        west_operator = await log_in(west, engine, Role.OPERATOR, unit_id=units["west"])
        # A violence call: west's case also has a pending mandatory report and an alert.
        number = await _log_call(west, category="violence")
    expert = await add_expert(engine, name="西湖 王老师", unit_id=units["west"])
    work = await _west_case_work(engine, number, units["west"], west_operator.id)
    work["voice_call"] = await _west_voice_call(engine, app.state.cipher, units["west"], west_operator.id)
    west_call = await _west_voicemail(engine, app.state.cipher, units["west"])  # a voicemail to call back
    work["appointment"] = await _west_appointment(engine, app, number, expert.id or 0)  # issue 9's routes
    before = await _west_state(engine, number, expert.id, west_operator.id)
    secrets_of_west = [
        number,
        "西湖 王老师",
        west_operator.username,
        feed_token_of(expert),
        PHONE[-4:],
        WEST_AGENCY,
        WEST_TASK,
        WEST_PARENT,
    ]

    identifiers = {
        "number": number,
        "expert_id": str(expert.id),
        "user_id": str(west_operator.id),
        "session_id": "1",  # west's operator's first login session
        "unit_id": str(units["west"]),
        "agency_id": str(work["agency"]),
        "referral_id": str(work["referral"]),
        "task_id": str(work["task"]),
        "alert_id": str(work["alert"]),
        "act": "note",
        "voice_call_id": str(work["voice_call"]),
        "call_id": str(west_call),
        "site_id": str(expert.site_id),
        "appointment_id": str(work["appointment"]),
    }
    routes = [(p, m) for p, m, guards in _routes(app) if guards and not _is_public(p)]
    assert len(routes) >= 25
    walked = 0
    for role in Role:
        async with AsyncTestClient(app=app) as east:
            await log_in(east, engine, role, unit_id=units["east"])
            token = east.cookies.get("fh_csrf") or ""
            for path, method in routes:
                concrete = re.sub(r"\{(\w+):\w+\}", lambda m: identifiers.get(m.group(1), "1"), path)
                form = {"_csrf_token": token, "case_number": number, "call_id": "1", "starts_at": ""}
                response = await (
                    east.post(concrete, data=form, follow_redirects=False)
                    if method == "POST"
                    else east.get(concrete, follow_redirects=False)
                )
                walked += 1
                where = (role, method, concrete, response.status_code)
                if concrete != path:  # it names one of west's things: it must not be found
                    assert response.status_code in {400, 403, 404}, where
                # What the request itself carried (its URL, a re-shown form) may be echoed; nothing else.
                sent = {concrete, *form.values()} if method == "POST" else {concrete}
                leaked = [s for s in secrets_of_west if s in response.text and not any(s in x for x in sent)]
                assert leaked == [], (*where, leaked)
    assert walked >= 5 * 25
    assert await _west_state(engine, number, expert.id, west_operator.id) == before
    assert await _west_voice_call_untouched(engine, west_call)


async def _west_voice_call(engine, cipher, unit_id: int, operator_id: int) -> int:
    """West's operator is on a phone call from the caller of west's case."""
    from tests.hotline.voice_rows import a_voice_call

    return await a_voice_call(engine, cipher, unit_id=unit_id, status="connected", operator_id=operator_id)


WEST_AGENCY = "西湖区公安分局北山派出所"
WEST_PARENT = "西湖家长刘晓红"


async def _west_appointment(engine, app, number: str, expert_id: int) -> int:
    """A consultation of west's expert, booked from west's case, with a name only west may read."""
    import uuid
    from datetime import timedelta

    from booking.models import Appointment
    from core.db import utcnow
    from core.privacy import FieldCipher

    cipher = FieldCipher(app.state.settings.data_key)
    async with create_sessionmaker(engine)() as session:
        case = (await session.exec(select(ReferralCase).where(ReferralCase.number == number))).one()
        starts = utcnow().replace(microsecond=0) + timedelta(days=2)
        row = Appointment(
            expert_id=expert_id, starts_at=starts, ends_at=starts + timedelta(minutes=50), mode="phone",
            status="confirmed",
            parent_name_ciphertext=cipher.encrypt(WEST_PARENT, context="appointment.parent_name"),
            parent_phone_ciphertext=cipher.encrypt("+8613800009999", context="appointment.parent_phone"),
            parent_phone_index="west", ical_uid=f"{uuid.uuid4()}@test", case_id=case.id, sequence=1,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return row.id or 0


WEST_TASK = "回访西湖个案家长"


async def _west_case_work(engine, number: str, unit_id: int, operator_id: int) -> dict[str, int]:
    """West's case also gets an agency, a referral to it, a task and (from the violence call) an alert."""
    from datetime import date, timedelta

    from core.db import utcnow
    from hotline.casework_models import Agency, Referral, StaffAlert, Task

    async with create_sessionmaker(engine)() as session:
        case = (await session.exec(select(ReferralCase).where(ReferralCase.number == number))).one()
        agency = Agency(unit_id=unit_id, name=WEST_AGENCY, kind="police")
        session.add(agency)
        await session.flush()
        referral = Referral(
            case_id=case.id,
            unit_id=unit_id,
            agency_id=agency.id,
            urgency="urgent",
            reason_ciphertext="x",
            request_ciphertext="x",
            token_hash="0" * 64,
            sent_by_id=operator_id,
            due_on=date.today() + timedelta(days=3),
            due_at=utcnow() + timedelta(days=3),
        )
        task = Task(
            case_id=case.id,
            unit_id=unit_id,
            kind="manual",
            title=WEST_TASK,
            owner_id=operator_id,
            due_at=utcnow() + timedelta(days=1),
        )
        session.add_all([referral, task])
        await session.flush()
        alert = (await session.exec(select(StaffAlert))).first()
        ids = {"agency": agency.id or 0, "referral": referral.id or 0, "task": task.id or 0}
        await session.commit()
    # No west supervisor exists, so no alert was written: make one for west's operator.
    if alert is None:
        async with create_sessionmaker(engine)() as session:
            alert = StaffAlert(
                recipient_id=operator_id,
                case_id=case.id,
                kind="test",
                message="Case {number} needs a mandatory report to the police",
                params='{"number": "' + number + '"}',
                dedupe_key="test",
            )
            session.add(alert)
            await session.commit()
    return {**ids, "alert": alert.id or 0}


async def _west_state(engine, number: str, expert_id: int, user_id: int) -> tuple[object, ...]:
    from sqlalchemy import text

    async with engine.connect() as conn:
        parts = [
            "SELECT COUNT(*) FROM hotline_call",
            "SELECT urgency FROM referral_case WHERE number = :n",
            "SELECT feed_token_hash FROM expert WHERE id = :e",
            "SELECT name || address FROM site WHERE id = (SELECT site_id FROM expert WHERE id = :e)",
            "SELECT COUNT(*) FROM booking_rules",
            "SELECT is_active FROM staff_user WHERE id = :u",
            "SELECT COUNT(*) FROM appointment",
            "SELECT COUNT(*) FROM login_session WHERE user_id = :u",
            "SELECT COUNT(*) FROM audit_event WHERE object_id = :n",
            "SELECT status || owner_id || risk_level FROM referral_case WHERE number = :n",
            "SELECT COUNT(*) FROM case_event",
            "SELECT status FROM mandatory_report",
            "SELECT MIN(name) || COUNT(*) FROM agency WHERE active",
            "SELECT MIN(status) || MAX(status) || COUNT(*) FROM referral",
            "SELECT MIN(status) || MAX(status) || COUNT(*) FROM case_task",
            "SELECT COUNT(*) FROM staff_alert WHERE read_at IS NULL",
            "SELECT COUNT(*) FROM help_plan",
            "SELECT COUNT(*) FROM outbox_message",
            "SELECT COUNT(*) FROM voice_call WHERE hotline_call_id IS NOT NULL",
            "SELECT name || CAST(active AS TEXT) FROM expert WHERE id = :e",
            "SELECT COUNT(*) FROM expert WHERE updated_at IS NOT NULL",
            "SELECT COUNT(*) FROM site_feed",
            "SELECT MIN(starts_at) FROM appointment",
            "SELECT MIN(COALESCE(attendance, '-')) || MAX(sequence) FROM appointment",
            "SELECT COUNT(*) FROM appointment_move",
        ]
        query = "SELECT " + ", ".join(f"({part})" for part in parts)
        row = await conn.execute(text(query), {"n": number, "e": expert_id, "u": user_id})
        return tuple(row.one())


async def _west_voicemail(engine, cipher, unit_id: int) -> int:
    """A voicemail from PHONE to west's number, due for a call back (hotline.voice_callbacks)."""
    from core.db import utcnow
    from hotline.voice_models import VoiceCall
    from hotline.voice_records import open_call

    async with create_sessionmaker(engine)() as session:
        call, _ = await open_call(
            session, cipher, call_sid="CA" + "f" * 32, unit_id=unit_id, line="12355",
            to_number="+8657112355000", caller=PHONE,
        )  # fmt: skip
        row = await session.get(VoiceCall, call.id)
        assert row is not None
        row.voicemail_sid, row.voicemail_seconds, row.callback_due_at = "RE" + "f" * 32, 20, utcnow()
        session.add(row)
        await session.commit()
        assert call.id is not None
        return call.id


async def _west_voice_call_untouched(engine, call_id: int) -> bool:
    from hotline.voice_models import VoiceCall

    async with create_sessionmaker(engine)() as session:
        row = await session.get(VoiceCall, call_id)
        return row is not None and row.callback_done_at is None and row.callback_by_id is None
