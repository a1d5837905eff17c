"""Lights over simulated time, and the job that alerts once when something turns red: run twice, run
in two places at once, run by a real arq worker's cron, run by the embedded watch."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from arq.worker import Worker
from sqlalchemy import text
from sqlmodel import select

from app.wiring import LIGHTS_JOB, REPORT_REMINDER_JOB, VOICE_SWEEP_JOB, worker_settings
from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from hotline.alerts import MOBILE_CONTEXT
from hotline.casework_models import MandatoryReport, Referral, Task
from hotline.red_alerts import RedAlertWatch, alert_newly_red
from tests.conftest import log_in, make_user, post_form
from tests.hotline.casework_rows import LIGHT, a_case, a_referral, a_report, a_task, an_agency

HOUR = timedelta(hours=1)


async def pass_time(engine, hours: float) -> None:
    """Simulated time: every due time comes `hours` closer, as if that long had passed."""
    async with create_sessionmaker(engine)() as session:
        for model in (Task, Referral, MandatoryReport):
            for row in (await session.exec(select(model))).all():
                row.due_at -= timedelta(hours=hours)
        await session.commit()


async def _alerts(engine) -> list[tuple[int, str, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT recipient_id, dedupe_key, message, params FROM staff_alert "
                "ORDER BY recipient_id, dedupe_key"
            )
        )
        return [tuple(row) for row in rows.all()]


async def _supervisor_on_duty(engine, cipher: FieldCipher):
    supervisor = await make_user(engine, Role.SUPERVISOR, "duty-supervisor")
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE staff_user SET on_duty = :t, mobile_ciphertext = :m WHERE id = :i"),
            {"t": True, "m": cipher.encrypt("+8613900001111", context=MOBILE_CONTEXT), "i": supervisor.id},
        )
    return supervisor


def _task_light(page: str, task_id: int) -> str:
    row = page[page.index(f'data-task="{task_id}"') :]
    return LIGHT.findall(row)[0]


async def test_a_task_goes_green_amber_red_and_its_owner_and_supervisor_hear_of_it_once(
    client, engine, settings
):
    cipher = FieldCipher(settings.data_key)
    operator = await log_in(client, engine, Role.OPERATOR)
    supervisor = await _supervisor_on_duty(engine, cipher)
    case_id, number = await a_case(engine, cipher, operator)
    task_id = await a_task(engine, case_id, due_in=48 * HOUR, owner_id=operator.id)
    maker = create_sessionmaker(engine)

    assert _task_light((await client.get("/hotline/tasks")).text, task_id) == "green"
    await pass_time(engine, 30)
    assert _task_light((await client.get("/hotline/tasks")).text, task_id) == "amber"
    assert await alert_newly_red(maker, settings, cipher) == 0  # amber is no alert
    await pass_time(engine, 20)
    assert _task_light((await client.get("/hotline/tasks")).text, task_id) == "red"

    assert await alert_newly_red(maker, settings, cipher) == 2
    assert await alert_newly_red(maker, settings, cipher) == 0  # the second run finds it claimed
    alerts = await _alerts(engine)
    assert [(recipient, key) for recipient, key, _, _ in alerts] == [
        (operator.id, f"red:task:{task_id}"),
        (supervisor.id, f"red:task:{task_id}"),
    ]
    # The text names the case number and what is late, nothing else.
    assert {json.loads(params)["case"] for _, _, _, params in alerts} == {number}
    assert all(set(json.loads(params)) == {"case"} for _, _, _, params in alerts)
    async with engine.connect() as conn:
        sms = (
            await conn.execute(text("SELECT COUNT(*) FROM outbox_message WHERE kind = 'staff_alert'"))
        ).scalar_one()
    assert sms == 1  # the on-duty supervisor with a mobile; the operator has none on file

    # The owner sees it on the home page, in Chinese, until it is marked read.
    home = (await client.get("/hotline/tasks")).text
    assert f"个案 {number}：有一项跟进任务已超期。" in home
    await post_form(client, "/hotline/alerts/read-all", {})
    assert number + "：" not in (await client.get("/hotline/tasks")).text


async def test_referrals_and_reports_alert_their_cases_owner_and_done_items_alert_nobody(
    client, engine, settings
):
    cipher = FieldCipher(settings.data_key)
    operator = await make_user(engine, Role.OPERATOR)
    supervisor = await make_user(engine, Role.SUPERVISOR)
    case_id, _ = await a_case(engine, cipher, operator)
    referral = await a_referral(engine, cipher, case_id, await an_agency(engine, 1), operator, due_in=-HOUR)
    report = await a_report(engine, case_id, due_in=-HOUR)
    done = await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE case_task SET status = 'done' WHERE id = :i"), {"i": done})

    assert await alert_newly_red(create_sessionmaker(engine), settings, cipher) == 4

    assert {(recipient, key) for recipient, key, _, _ in await _alerts(engine)} == {
        (operator.id, f"red:referral:{referral}"),
        (supervisor.id, f"red:referral:{referral}"),
        (operator.id, f"red:mandatory_report:{report}"),
        (supervisor.id, f"red:mandatory_report:{report}"),
    }


async def test_two_runs_at_once_alert_each_recipient_once_per_item(engine, settings):
    cipher = FieldCipher(settings.data_key)
    operator = await make_user(engine, Role.OPERATOR)
    await make_user(engine, Role.SUPERVISOR)
    case_id, _ = await a_case(engine, cipher, operator)
    for hours in (1, 2, 3):
        await a_task(engine, case_id, due_in=-hours * HOUR, owner_id=operator.id)

    written = await asyncio.gather(
        alert_newly_red(create_sessionmaker(engine), settings, cipher),
        alert_newly_red(create_sessionmaker(engine), settings, cipher),
    )

    assert sum(written) == 6
    alerts = await _alerts(engine)
    assert len(alerts) == len({(recipient, key) for recipient, key, _, _ in alerts}) == 6


async def test_the_embedded_watch_runs_the_check_on_its_clock(engine, settings, app):
    assert app.state.red_alerts is not None  # no Redis: the web process runs the check itself
    cipher = FieldCipher(settings.data_key)
    operator = await make_user(engine, Role.OPERATOR)
    case_id, _ = await a_case(engine, cipher, operator)
    await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)

    watch = RedAlertWatch(create_sessionmaker(engine), settings, cipher, interval=0.05)
    watch.start()
    try:
        for _ in range(100):
            if await _alerts(engine):
                break
            await asyncio.sleep(0.05)
    finally:
        await watch.stop()
    assert len(await _alerts(engine)) == 1


@pytest.mark.redis
async def test_a_real_arq_worker_runs_the_lights_check_as_a_cron_job(engine, queue_settings):
    cipher = FieldCipher(queue_settings.data_key)
    operator = await make_user(engine, Role.OPERATOR)
    case_id, number = await a_case(engine, cipher, operator)
    task_id = await a_task(engine, case_id, due_in=-HOUR, owner_id=operator.id)

    arq_settings = worker_settings(queue_settings)
    names = [job.name for job in arq_settings["cron_jobs"]]
    assert names == [LIGHTS_JOB, VOICE_SWEEP_JOB, REPORT_REMINDER_JOB]
    worker = Worker(**arq_settings, burst=True, handle_signals=False, poll_delay=0.02)
    try:
        await worker.main()
    finally:
        await worker.close()

    assert worker.jobs_complete >= 1
    assert [(recipient, key) for recipient, key, _, _ in await _alerts(engine)] == [
        (operator.id, f"red:task:{task_id}")
    ]
    async with engine.connect() as conn:
        claimed = (
            await conn.execute(text("SELECT red_alerted_at FROM case_task WHERE id = :i"), {"i": task_id})
        ).scalar_one()
    assert claimed is not None
    assert re.fullmatch(r"12355-\d{4}-\d{6}", number)
