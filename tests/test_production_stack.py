"""The service as docker-compose.yml runs it, as local processes instead of containers (`tests.stack`).

`family-hotline db upgrade` (the one-shot `migrate` service), then `family-hotline serve` and
`family-hotline worker` as separate processes, configured only by FH_* variables: the test database
(SQLite, or PostgreSQL with FH_TEST_DATABASE_URL), our private Redis database and the real Twilio client
pointed at our fake Twilio, which runs in this test process. A parent books through the served JSON API;
the SMS must travel web process → outbox row → arq on Redis → worker process → Twilio's HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings
from notifications.jobs import job_id_for
from notifications.models import OutboxMessage
from tests.booking.conftest import add_expert
from tests.fakes.twilio_server import FakeTwilio, RecordedMessage
from tests.ports import free_port
from tests.stack import (
    START_SECONDS,
    Stack,
    messages_to,
    migrated_stack,
    outbox_rows,
    together,
)

pytestmark = pytest.mark.redis

SMS_SECONDS = 30.0  # commit → arq → worker → fake Twilio, including the worker's own start
QUIET_SECONDS = 2.0  # how long "nothing happens" is watched; a live worker polls arq every 0.5 s

# Typed as a parent types them; Twilio receives them in E.164.
PARENT_PHONE, PARENT_E164 = "138 1234 5678", "+8613812345678"
OTHER_PHONE, OTHER_E164 = "139-9876-5432", "+8613998765432"
SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@pytest.fixture
async def stack(queue_settings: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    """Compose's `migrate` has run; `serve` and `worker` are started by the test."""
    async with migrated_stack(queue_settings, tmp_path) as stack:
        yield stack


@pytest.fixture
async def redis(queue_settings: Settings) -> AsyncIterator[Redis]:
    assert queue_settings.redis_url
    client = Redis.from_url(queue_settings.redis_url)
    yield client
    await client.aclose()


async def _book(client: httpx.AsyncClient, stack: Stack, expert_id: int, phone: str) -> dict[str, Any]:
    """What a parent's app does: pick a free slot and POST it (no cookie, no CSRF token: none is needed)."""
    slots = (await client.get(f"/api/experts/{expert_id}/slots")).json()["slots"]
    assert len(slots) > 1, f"the expert has no free slots\n{stack.logs()}"
    response = await client.post(
        "/api/bookings",
        json={
            "expert_id": expert_id,
            # Not the first: a moment later it may fall inside the minimum notice and be refused.
            "starts_at": slots[1],
            "mode": "phone",
            "name": "李女士",
            "phone": phone,
            "topic": "parenting",
            "notes": "孩子不愿上学",
        },
    )
    assert response.status_code == 201, f"{response.status_code} {response.text}\n{stack.logs()}"
    held = response.json()
    assert held["status"] == "held"
    return held


async def test_parent_books_and_confirms_and_both_sms_go_through_the_worker_to_twilio(
    stack: Stack, engine: AsyncEngine, fake_twilio: FakeTwilio
) -> None:
    web, _ = await together(stack.serve(), stack.worker())
    expert = await add_expert(engine)
    assert expert.id is not None

    async with web.client() as client:
        held = await _book(client, stack, expert.id, PARENT_PHONE)

        async def otp_received() -> list[RecordedMessage]:
            return messages_to(fake_twilio, PARENT_E164)

        [otp] = await stack.wait_for(otp_received, "the one-time code at Twilio", SMS_SECONDS)
        assert otp.from_ == stack.settings.twilio_from_number
        assert otp.account_sid == fake_twilio.account_sid
        assert otp.body.startswith(stack.settings.sms_signature)
        code = SIX_DIGITS.search(otp.body)
        assert code, otp.body

        response = await client.post(
            f"/api/bookings/{held['verify_token']}/confirm",
            json={"code": code.group(1)},
        )
        assert response.status_code == 200, f"{response.text}\n{stack.logs()}"
        confirmed = response.json()
        assert (confirmed["appointment_id"], confirmed["status"]) == (held["appointment_id"], "confirmed")

        async def two_messages() -> list[RecordedMessage] | None:
            arrived = messages_to(fake_twilio, PARENT_E164)
            return arrived if len(arrived) >= 2 else None

        [_, confirmation] = await stack.wait_for(two_messages, "the confirmation at Twilio", SMS_SECONDS)
        # The link in the SMS is the served site's public URL (FH_PUBLIC_BASE_URL), and it works.
        manage_url = f"{web.base_url}/book/manage/{confirmed['manage_token']}"
        assert manage_url in confirmation.body
        assert (await client.get(manage_url)).status_code == 200

        async def both_sent() -> list[OutboxMessage] | None:
            rows = await outbox_rows(engine)
            return rows if [row.status for row in rows] == ["sent", "sent"] else None

        rows = await stack.wait_for(both_sent, "both outbox rows to be `sent`", SMS_SECONDS)
        assert [(row.kind, row.provider_sid, row.attempts) for row in rows] == [
            ("otp", otp.sid, 1),
            ("booking_confirmed", confirmation.sid, 1),
        ]
        assert len(fake_twilio.messages) == 2

        # Twilio reports delivery to the served process, signed over the public callback URL we gave it.
        assert confirmation.status_callback == (
            f"{web.base_url}/webhooks/twilio/sms-status?outbox={rows[1].id}"
        )
        callback = await fake_twilio.post_status_callback(client, confirmation, "delivered")
        assert callback.status_code < 300, f"{callback.status_code} {callback.text}\n{stack.logs()}"
        assert [row.status for row in await outbox_rows(engine)] == ["sent", "delivered"]


async def test_sms_booked_while_the_worker_is_dead_is_sent_once_by_the_next_worker(
    stack: Stack, engine: AsyncEngine, fake_twilio: FakeTwilio, redis: Redis
) -> None:
    web, first_worker = await together(stack.serve(), stack.worker())
    await stack.kill(first_worker)
    expert = await add_expert(engine)
    assert expert.id is not None

    async with web.client() as client:
        await _book(client, stack, expert.id, OTHER_PHONE)

    [row] = await outbox_rows(engine)
    job_id = job_id_for(row.id or 0)
    # The web process committed the row and handed it to arq; with no worker, it waits there.
    queued = await redis.zscore(default_queue_name, job_id)
    assert queued is not None, f"the web process did not queue {job_id} in arq\n{stack.logs()}"
    await asyncio.sleep(QUIET_SECONDS)
    [row] = await outbox_rows(engine)
    assert (row.kind, row.status, row.attempts) == ("otp", "pending", 0), stack.logs()
    assert fake_twilio.requests == 0, "something other than a worker sent the SMS"

    await stack.worker("worker-2")

    async def delivered() -> OutboxMessage | None:
        [current] = await outbox_rows(engine)
        return current if current.status == "sent" else None

    await stack.wait_for(delivered, "the new worker to send the waiting SMS", SMS_SECONDS)

    async def queue_drained() -> bool:
        return not (
            await redis.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
            or await redis.zscore(default_queue_name, job_id) is not None
        )

    await stack.wait_for(queue_drained, "arq to finish the job", SMS_SECONDS)
    await asyncio.sleep(QUIET_SECONDS)  # a second send would show up here
    [sent] = messages_to(fake_twilio, OTHER_E164)
    assert fake_twilio.requests == 1
    [row] = await outbox_rows(engine)
    assert (row.status, row.attempts, row.provider_sid) == ("sent", 1, sent.sid)
    assert SIX_DIGITS.search(sent.body)


async def test_ready_checks_database_and_redis_of_the_served_process(stack: Stack) -> None:
    # A second served process whose Redis is gone (nothing listens on that port): it still starts and
    # stays up, and still takes traffic: its SMS wait in the database for a worker's sweep. /ready says
    # so (degraded), rather than telling the load balancer to stop sending parents here.
    no_redis = stack.settings.with_overrides(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", public_base_url=f"http://127.0.0.1:{free_port()}"
    )
    web, cut_off = await together(stack.serve(), stack.serve("serve-no-redis", settings=no_redis))

    async with web.client() as client:
        ready = await client.get("/ready")
    assert ready.status_code == 200, f"{ready.text}\n{stack.logs()}"
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

    async with cut_off.client() as client:
        ready = await client.get("/ready")
        health = await client.get("/health")
    assert ready.status_code == 200, f"{ready.text}\n{stack.logs()}"
    assert ready.json()["status"] == "degraded"
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("degraded: "), checks
    assert health.status_code == 200


WORKER_STARTED = re.compile(r"Started server process \[(\d+)\]")


async def test_serve_with_two_workers_answers_while_one_process_is_stuck(stack: Stack) -> None:
    """`serve --workers 2` (docker-compose.yml's command) runs two uvicorn worker processes on one
    socket. One of them is frozen with SIGSTOP, as a request that holds its process would hold it: the
    other still answers /health on every new connection. With one process, those requests would hang."""
    web = await stack.serve(workers=2)

    async def two_workers_up() -> list[int] | None:
        pids = [int(pid) for pid in WORKER_STARTED.findall(web.process.log())]
        complete = web.process.log().count("Application startup complete.")
        return pids if len(pids) == 2 and complete == 2 else None

    pids = await stack.wait_for(two_workers_up, "two worker processes to start", START_SECONDS)
    assert len(set(pids)) == 2 and web.process.popen.pid not in pids, web.process.tail()
    assert f"Started parent process [{web.process.popen.pid}]" in web.process.log()

    stuck = pids[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        for _ in range(6):
            # A new client each time: a new connection, which either process could have accepted.
            async with httpx.AsyncClient(base_url=web.base_url, timeout=3) as client:
                health = await client.get("/health")
            assert health.status_code == 200, stack.logs()
    finally:
        with contextlib.suppress(ProcessLookupError):  # uvicorn may have replaced the silent worker
            os.kill(stuck, signal.SIGCONT)
