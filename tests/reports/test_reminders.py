"""The reminder of a report falling due unsigned: only in the five days before the due date, only to the
supervisors of units that have not signed, once per person however often the job runs, with an SMS
through the outbox for the one on duty."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlmodel import col, select

from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from hotline.casework_models import StaffAlert
from notifications.models import OutboxMessage
from reports.models import ReportVersion
from reports.reminders import periods_to_remind, remind_unsigned_reports
from tests.conftest import make_user
from tests.hotline.reports_helpers import supervisor
from tests.reports.world import units


def test_the_window_is_the_five_days_before_the_due_date():
    assert [p.code for p in periods_to_remind(date(2026, 12, 20))] == ["2026-Q4"]
    assert periods_to_remind(date(2026, 12, 19)) == []
    assert [p.code for p in periods_to_remind(date(2026, 12, 25))] == ["2026-Q4"]
    assert [p.code for p in periods_to_remind(date(2026, 12, 27))] == ["2026-H2", "2026"]
    assert [p.code for p in periods_to_remind(date(2026, 6, 26))] == ["2026-H1"]
    assert periods_to_remind(date(2026, 11, 26)) == []


async def test_unsigned_units_supervisors_are_reminded_once(engine, settings):
    cipher = FieldCipher(settings.data_key)
    world = await units(engine)
    on_duty = await supervisor(engine, cipher, unit_id=world.a, mobile="+8613900002222", on_duty=True)
    signed_unit = await supervisor(engine, cipher, unit_id=world.b)
    await make_user(engine, Role.OPERATOR, unit_id=world.a)  # operators are not reminded
    async with create_sessionmaker(engine)() as s:
        s.add(
            ReportVersion(
                unit_id=world.b,
                unit_name="B",
                period="2026-Q4",
                version=1,
                figures_json="{}",
                signed_by_id=signed_unit.id or 0,
                signed_by_name="s",
            )
        )
        await s.commit()
    sessionmaker = create_sessionmaker(engine)
    assert await remind_unsigned_reports(sessionmaker, settings, cipher, today=date(2026, 12, 19)) == 0
    assert await remind_unsigned_reports(sessionmaker, settings, cipher, today=date(2026, 12, 20)) == 1
    assert await remind_unsigned_reports(sessionmaker, settings, cipher, today=date(2026, 12, 21)) == 0
    async with sessionmaker() as s:
        alerts = list((await s.exec(select(StaffAlert).order_by(col(StaffAlert.id)))).all())
        sms = list((await s.exec(select(OutboxMessage))).all())
    assert [(a.recipient_id, a.dedupe_key) for a in alerts] == [(on_duty.id, f"report:{world.a}:2026-Q4")]
    assert len(sms) == 1 and sms[0].kind == "staff_alert"


async def test_without_a_worker_the_web_process_runs_the_reminder(engine, settings, app):
    # Embedded mode (no Redis, no worker): the app carries the reminder's clock; each run is the same
    # idempotent reminder as the worker's cron, so a supervisor is reminded once however often it runs.
    from core.periodic import PeriodicJob

    assert isinstance(app.state.report_reminder, PeriodicJob)
    cipher = FieldCipher(settings.data_key)
    world = await units(engine)
    reminded = await supervisor(engine, cipher, unit_id=world.a)
    sessionmaker = create_sessionmaker(engine)
    runs: list[int] = []

    async def in_the_window() -> int:
        runs.append(await remind_unsigned_reports(sessionmaker, settings, cipher, today=date(2026, 12, 20)))
        return runs[-1]

    job = PeriodicJob("report-reminder", in_the_window, interval=0.02)
    job.start()
    try:
        for _ in range(200):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await job.stop()
    assert len(runs) >= 3 and runs[0] == 1 and set(runs[1:]) == {0}
    async with sessionmaker() as s:
        alerts = list((await s.exec(select(StaffAlert))).all())
    assert [a.recipient_id for a in alerts] == [reminded.id]


async def test_a_failing_run_is_logged_and_the_clock_goes_on(caplog):
    from core.periodic import PeriodicJob

    calls: list[int] = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return 7

    job = PeriodicJob("flaky", flaky, interval=0.01)
    assert await job.run_now() == 0 and "flaky failed" in caplog.text
    assert await job.run_now() == 7
