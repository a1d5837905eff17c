"""The supervisor's voice panel per line, against figures worked out by hand: waiting now and the longest
wait, operators available / busy / paused, today's answered / abandoned / voicemail and the service level
(answered within 20 s of queueing), within the supervisor's units; the page and /api/supervision."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from core.accounts import Role
from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.units import UnitKind, create_unit
from hotline.voice_board import voice_panel
from hotline.voice_models import CallOutcome, CallStatus, DutyState, OperatorDuty
from tests.conftest import log_in, make_user
from tests.hotline.voice_rows import a_voice_call

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 15:00 in Shanghai: "today" began 15 hours ago there (07:00 UTC), whatever day UTC thinks it is.
NOW = datetime(2026, 11, 26, 7, 0, tzinfo=ZoneInfo("UTC"))
H = timedelta(hours=1)
S = timedelta(seconds=1)


async def _sibling(engine) -> int:
    async with create_sessionmaker(engine)() as session:
        unit = await create_unit(
            session, name="东区", kind=UnitKind.OTHER, region_code="330102", parent_id=None
        )
        await session.commit()
        return unit.id or 0


async def _on_duty(engine, user_id: int, state: DutyState) -> None:
    async with create_sessionmaker(engine)() as session:
        session.add(OperatorDuty(staff_user_id=user_id, state=state, idle_since=NOW))
        await session.commit()


async def _ended(engine, cipher, *, at: datetime, outcome: str, wait: int | None, line="12355", **more):
    return await a_voice_call(
        engine,
        cipher,
        line=line,
        ringing_at=at,
        queued_at=at + 5 * S if wait is not None else None,
        queue_wait_seconds=wait,
        status=CallStatus.ENDED,
        outcome=outcome,
        **more,
    )


async def _world(engine, settings):
    cipher = FieldCipher(settings.data_key)
    east = await _sibling(engine)
    today = NOW - 2 * H
    # 12355 today: answered after 10 s and 20 s (in time), after 45 s (late); one abandoned in the queue;
    # one voicemail after queueing; one out of hours with a voicemail (never queued: not in the level).
    for wait in (10, 20, 45):
        await _ended(engine, cipher, at=today, outcome=CallOutcome.ANSWERED, wait=wait)
    await _ended(engine, cipher, at=today, outcome=CallOutcome.ABANDONED, wait=70)
    await _ended(engine, cipher, at=today, outcome=CallOutcome.VOICEMAIL, wait=120, voicemail_sid="RE1")
    await _ended(engine, cipher, at=today, outcome=CallOutcome.OUT_OF_HOURS, wait=None, voicemail_sid="RE2")
    # Yesterday in Shanghai (16 h ago is 23:00 the day before there): not counted.
    await _ended(engine, cipher, at=NOW - 16 * H, outcome=CallOutcome.ANSWERED, wait=5)
    # family_edu today: one answered in 8 s.
    await _ended(engine, cipher, at=today, outcome=CallOutcome.ANSWERED, wait=8, line="family_edu")
    # Waiting now on 12355: for 30 s and 95 s; a crisis call waits on family_edu for 40 s.
    for waited in (30, 95):
        await a_voice_call(
            engine,
            cipher,
            ringing_at=NOW - (waited + 10) * S,
            queued_at=NOW - waited * S,
            status=CallStatus.QUEUED,
        )
    await a_voice_call(
        engine,
        cipher,
        line="family_edu",
        ringing_at=NOW - 50 * S,
        queued_at=NOW - 40 * S,
        status=CallStatus.QUEUED,
        crisis=True,
    )
    # The sibling unit's calls and operators: never in our figures.
    await _ended(engine, cipher, at=today, outcome=CallOutcome.ANSWERED, wait=3, unit_id=east)
    await a_voice_call(
        engine,
        cipher,
        unit_id=east,
        ringing_at=NOW - 900 * S,
        queued_at=NOW - 900 * S,
        status=CallStatus.QUEUED,
    )
    east_op = await make_user(engine, Role.OPERATOR, "east-op", unit_id=east)
    await _on_duty(engine, east_op.id, DutyState.AVAILABLE)
    # Operators: two of every line (one available, one busy), a paused 12355-only one, one off duty.
    for name, state in (
        ("op-free", DutyState.AVAILABLE),
        ("op-busy", DutyState.BUSY),
        ("op-off", DutyState.OFF),
    ):
        user = await make_user(engine, Role.OPERATOR, name)
        await _on_duty(engine, user.id, state)
    paused = await make_user(engine, Role.OPERATOR, "op-paused")
    async with create_sessionmaker(engine)() as session:
        await session.exec(text(f"UPDATE staff_user SET line = '12355' WHERE id = {paused.id}"))  # noqa: S608
        await session.commit()
    await _on_duty(engine, paused.id, DutyState.PAUSED)


EXPECTED = {
    "12355": {
        "waiting": 2,
        "longest_wait_seconds": 95,
        "available": 1,
        "busy": 1,
        "paused": 1,
        "answered_today": 3,
        "abandoned_today": 1,
        "voicemail_today": 2,
        "queued_ended_today": 5,
        "answered_in_time_today": 2,
    },
    "family_edu": {
        "waiting": 1,
        "longest_wait_seconds": 40,
        "available": 1,
        "busy": 1,
        "paused": 0,
        "answered_today": 1,
        "abandoned_today": 0,
        "voicemail_today": 0,
        "queued_ended_today": 1,
        "answered_in_time_today": 1,
    },
}


async def test_the_voice_figures_per_line_match_the_hand_count(engine, settings):
    await _world(engine, settings)
    supervisor = await make_user(engine, Role.SUPERVISOR, "sup")
    async with create_sessionmaker(engine)() as session:
        rows = await voice_panel(session, supervisor, now=NOW, timezone="Asia/Shanghai")
    got = {row.line: {key: getattr(row, key) for key in EXPECTED["12355"]} for row in rows}
    assert got == EXPECTED
    levels = {row.line: row.service_level for row in rows}
    assert levels == {"12355": 2 / 5, "family_edu": 1.0}
    assert {row.line: row.on_duty for row in rows} == {"12355": 3, "family_edu": 2}


async def test_a_line_limited_supervisor_sees_their_line_only(engine, settings):
    await _world(engine, settings)
    supervisor = await make_user(engine, Role.SUPERVISOR, "fe-sup")
    supervisor.line = "family_edu"
    async with create_sessionmaker(engine)() as session:
        rows = await voice_panel(session, supervisor, now=NOW, timezone="Asia/Shanghai")
    assert [row.line for row in rows] == ["family_edu"]
    assert rows[0].answered_today == 1 and rows[0].waiting == 1


async def test_an_empty_day_has_no_service_level(engine, settings):
    supervisor = await make_user(engine, Role.SUPERVISOR, "sup")
    async with create_sessionmaker(engine)() as session:
        rows = await voice_panel(session, supervisor, now=utcnow(), timezone="Asia/Shanghai")
    assert [
        (row.waiting, row.answered_today, row.service_level, row.longest_wait_seconds) for row in rows
    ] == [
        (0, 0, None, None),
        (0, 0, None, None),
    ]


async def test_the_supervision_page_and_api_show_the_voice_panel(client, engine, settings):
    cipher = FieldCipher(settings.data_key)
    await log_in(client, engine, Role.SUPERVISOR)
    now = utcnow()
    await _ended(engine, cipher, at=now - 5 * S, outcome=CallOutcome.ANSWERED, wait=10)
    await _ended(engine, cipher, at=now - 5 * S, outcome=CallOutcome.ANSWERED, wait=30)
    await a_voice_call(engine, cipher, queued_at=now - 7 * S, status=CallStatus.QUEUED)
    page = await client.get("/hotline/supervision")
    assert page.status_code == 200
    row = page.text[page.text.index('data-voice-line="12355"') :]
    assert '<td data-figure="answered">2</td>' in row and '<td data-figure="waiting">1</td>' in row
    assert "50 % (1/2)" in row
    api = await client.get("/api/supervision")
    voice = {entry["line"]: entry for entry in api.json()["voice"]}
    assert voice["12355"]["answered_today"] == 2 and voice["12355"]["service_level"] == 0.5
    assert voice["family_edu"]["answered_today"] == 0
