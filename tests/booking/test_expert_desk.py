"""The expert's own page: who reads intake and session notes (and that each read is audited), recording
what happened, and rotating the calendar feed address."""

from __future__ import annotations

import uuid
from datetime import timedelta

from litestar.testing import AsyncTestClient
from sqlmodel import select

from booking.models import Appointment, Expert
from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.units import DEFAULT_UNIT_ID, UnitKind, create_unit
from tests.booking.conftest import add_expert
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form
from tests.feeds import feed_token_of

INTAKE = "孩子最近总是半夜玩手机"
SESSION = "家长同意每周固定一次亲子谈话"


async def add_consultation(engine, cipher: FieldCipher, expert: Expert, *, hours_from_now: float) -> int:
    """A confirmed consultation with intake notes, `hours_from_now` from now (negative: in the past)."""
    starts = (utcnow() + timedelta(hours=hours_from_now)).replace(microsecond=0)
    async with create_sessionmaker(engine)() as session:
        appointment = Appointment(
            expert_id=expert.id or 0, starts_at=starts, ends_at=starts + timedelta(minutes=50), mode="phone",
            status="confirmed",
            parent_name_ciphertext=cipher.encrypt("刘女士", context="appointment.parent_name"),
            parent_phone_ciphertext=cipher.encrypt("+8613800001111", context="appointment.parent_phone"),
            parent_phone_index=uuid.uuid4().hex,
            notes_ciphertext=cipher.encrypt(INTAKE, context="appointment.notes"),
            ical_uid=f"{uuid.uuid4()}@test", confirmed_at=utcnow(), sequence=1,
        )  # fmt: skip
        session.add(appointment)
        await session.commit()
        return appointment.id or 0


async def audit_actions(engine, appointment_id: int) -> list[tuple[str, str]]:
    async with create_sessionmaker(engine)() as session:
        rows = await session.exec(
            select(AuditEvent).where(
                AuditEvent.object_type == "appointment", AuditEvent.object_id == str(appointment_id)
            )
        )
        return [(r.action, r.actor_label) for r in rows.all()]


async def test_an_expert_lands_on_their_page_records_what_happened_and_writes_encrypted_notes(
    app, engine, cipher
):
    async with AsyncTestClient(app=app) as browser:
        user = await log_in(browser, engine, Role.EXPERT)
        expert = await add_expert(engine, user_id=user.id)
        past = await add_consultation(engine, cipher, expert, hours_from_now=-3)
        coming = await add_consultation(engine, cipher, expert, hours_from_now=30)
        page = await browser.get("/expert")
        assert page.status_code == 200 and f"/expert/appointments/{past}" in page.text
        assert INTAKE not in page.text  # the list shows no intake: each read is opened and audited

        opened = await browser.get(f"/expert/appointments/{past}")
        assert INTAKE in opened.text
        saved = await post_form(browser, f"/expert/appointments/{past}/attendance", {"attendance": "no_show"})
        assert saved.status_code == 200 and "no_show" in saved.text
        notes = await post_form(browser, f"/expert/appointments/{past}/session-notes", {"notes": SESSION})
        assert notes.status_code == 200 and SESSION in notes.text
        # A consultation still to come cannot be recorded yet; a made-up outcome is refused.
        early = await post_form(
            browser, f"/expert/appointments/{coming}/attendance", {"attendance": "attended"}
        )
        assert early.status_code == 409
        bad = await post_form(browser, f"/expert/appointments/{past}/attendance", {"attendance": "maybe"})
        assert bad.status_code == 400

    async with create_sessionmaker(engine)() as session:
        row = await session.get(Appointment, past)
        later = await session.get(Appointment, coming)
    assert row is not None and later is not None
    assert (row.attendance, later.attendance) == ("no_show", None)
    assert row.session_notes_ciphertext and SESSION not in row.session_notes_ciphertext
    assert cipher.decrypt(row.session_notes_ciphertext, context="appointment.session_notes") == SESSION
    actions = [a for a, _ in await audit_actions(engine, past)]
    assert {"appointment.intake_read", "appointment.attendance", "appointment.session_notes"} <= set(actions)


async def test_an_expert_logging_in_lands_on_their_own_page(app, engine):
    user = await make_user(engine, Role.EXPERT)
    async with AsyncTestClient(app=app) as browser:
        landed = await post_form(
            browser, "/login", {"username": user.username, "password": TEST_PASSWORD}, follow_redirects=False
        )
    assert landed.status_code == 303 and landed.headers["location"] == "/expert"


async def test_another_expert_coordinators_and_a_sibling_unit_never_read_the_notes(app, engine, cipher):
    async with create_sessionmaker(engine)() as session:
        sibling = await create_unit(
            session,
            name="上城区",
            kind=UnitKind.GUIDANCE_CENTRE,
            region_code="330102",
            parent_id=DEFAULT_UNIT_ID,
        )
        await session.commit()
    async with AsyncTestClient(app=app) as own:
        user = await log_in(own, engine, Role.EXPERT)
        expert = await add_expert(engine, user_id=user.id)
        past = await add_consultation(engine, cipher, expert, hours_from_now=-2)
        await post_form(own, f"/expert/appointments/{past}/session-notes", {"notes": SESSION})

    async with AsyncTestClient(app=app) as other:
        other_user = await log_in(other, engine, Role.EXPERT)
        await add_expert(engine, name="李老师", user_id=other_user.id)
        assert (await other.get(f"/expert/appointments/{past}")).status_code == 404
        refused = await post_form(other, f"/expert/appointments/{past}/session-notes", {"notes": "覆盖"})
        assert refused.status_code == 404
        refused = await post_form(
            other, f"/expert/appointments/{past}/attendance", {"attendance": "attended"}
        )
        assert refused.status_code == 404
        assert SESSION not in (await other.get("/expert")).text

    async with AsyncTestClient(app=app) as coordinator:
        await log_in(coordinator, engine, Role.COORDINATOR)
        assert (await coordinator.get(f"/expert/appointments/{past}")).status_code == 403
        day = await coordinator.get(
            "/roster/day?span=week&day=" + (utcnow() - timedelta(days=1)).date().isoformat()
        )
        assert day.status_code == 200 and f'data-appointment="{past}"' in day.text
        assert SESSION not in day.text and INTAKE not in day.text
        assert "Session notes" not in day.text and "/expert/appointments/" not in day.text

    async with AsyncTestClient(app=app) as supervisor:
        boss = await log_in(supervisor, engine, Role.SUPERVISOR)
        page = await supervisor.get(f"/expert/appointments/{past}")
        assert page.status_code == 200 and SESSION in page.text
        assert INTAKE not in page.text  # the parent's intake is for the expert alone
        refused = await post_form(supervisor, f"/expert/appointments/{past}/session-notes", {"notes": "改"})
        assert refused.status_code == 403

    async with AsyncTestClient(app=app) as far:
        await log_in(far, engine, Role.SUPERVISOR, unit_id=sibling.id or 0)
        assert (await far.get(f"/expert/appointments/{past}")).status_code == 404

    async with create_sessionmaker(engine)() as session:
        row = await session.get(Appointment, past)
    assert row is not None and row.attendance is None
    assert cipher.decrypt(row.session_notes_ciphertext or "", context="appointment.session_notes") == SESSION
    assert ("appointment.session_notes_read", boss.username) in await audit_actions(engine, past)


async def test_an_expert_rotates_their_feed_and_the_old_address_is_gone(app, engine):
    async with AsyncTestClient(app=app) as browser:
        user = await log_in(browser, engine, Role.EXPERT)
        expert = await add_expert(engine, user_id=user.id)
        old = f"/calendar/experts/{feed_token_of(expert)}.ics"
        assert (await browser.get(old)).status_code == 200
        page = await post_form(browser, "/expert/feed-token", {})
        assert page.status_code == 200 and feed_token_of(expert) not in page.text
        async with create_sessionmaker(engine)() as session:
            fresh = await session.get(Expert, expert.id)
        assert fresh is not None and fresh.feed_token_hash != expert.feed_token_hash
        assert feed_token_of(fresh) in page.text
        assert (await browser.get(old)).status_code == 404
        assert (await browser.get(f"/calendar/experts/{feed_token_of(fresh)}.ics")).status_code == 200


async def test_an_expert_account_not_on_the_roster_is_told_so(app, engine):
    async with AsyncTestClient(app=app) as browser:
        await log_in(browser, engine, Role.EXPERT)
        page = await browser.get("/expert")
        assert page.status_code == 200 and "/expert/appointments/" not in page.text
        assert (await post_form(browser, "/expert/feed-token", {})).status_code == 404
