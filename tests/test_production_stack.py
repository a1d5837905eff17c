"""The service as docker-compose.yml runs it, as local processes instead of containers.

`family-hotline db upgrade` (the one-shot `migrate` service), then `family-hotline serve` and
`family-hotline worker` as separate processes, configured only by FH_* variables: the test database
(SQLite, or PostgreSQL with FH_TEST_DATABASE_URL), our private Redis database and the real Twilio client
pointed at our fake Twilio, which runs in this test process. A parent books through the served JSON API;
the SMS must travel web process → outbox row → arq on Redis → worker process → Twilio's HTTP API.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from core.db import create_sessionmaker
from core.settings import Settings
from notifications.jobs import job_id_for
from notifications.models import OutboxMessage
from tests.booking.conftest import add_expert
from tests.fakes.twilio_server import FakeTwilio, RecordedMessage

pytestmark = pytest.mark.redis

T = TypeVar("T")

# The console script installed beside the interpreter running the tests (.venv/bin/family-hotline), as
# the container's `command:` runs it.
FAMILY_HOTLINE = Path(sys.executable).with_name("family-hotline")
START_SECONDS = 30.0  # a process start (imports, migrations on SQLite) on a slow, shared machine
SMS_SECONDS = 30.0  # commit → arq → worker → fake Twilio, including the worker's own start
QUIET_SECONDS = 2.0  # how long "nothing happens" is watched; a live worker polls arq every 0.5 s

# Typed as a parent types them; Twilio receives them in E.164.
PARENT_PHONE, PARENT_E164 = "138 1234 5678", "+8613812345678"
OTHER_PHONE, OTHER_E164 = "139-9876-5432", "+8613998765432"
SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_for(settings: Settings) -> dict[str, str]:
    """What docker-compose.yml's `x-app-env` sets, from our Settings; nothing FH_* leaks in from outside."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FH_")}
    env.update(
        {
            "FH_DATABASE_URL": settings.database_url,
            "FH_SECRET_KEY": settings.secret_key,
            "FH_DATA_KEY": settings.data_key,
            "FH_DATA_DIR": str(settings.data_dir),
            "FH_PUBLIC_BASE_URL": settings.public_base_url,
            "FH_SMS_BACKEND": settings.sms_backend,
            "FH_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
            "FH_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
            "FH_TWILIO_FROM_NUMBER": settings.twilio_from_number,
            "FH_TWILIO_API_BASE": settings.twilio_api_base or "",
            "FH_TIMEZONE": settings.site_timezone,
            "PYTHONUNBUFFERED": "1",  # a SIGKILLed process leaves its last lines in the log
        }
    )
    if settings.redis_url:
        env["FH_REDIS_URL"] = settings.redis_url
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} (exit code {self.popen.poll()}) {self.log_path}:\n{self.log()[-chars:]}"


@dataclass
class Served:
    process: Process
    base_url: str

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=20) as client:
            yield client


@dataclass
class Stack:
    """The processes of one test. Every one started is stopped in teardown, whatever the test did."""

    settings: Settings
    tmp_path: Path
    processes: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        """The tail of every process's output, for assertion messages."""
        return "\n".join(process.tail() for process in self.processes) or "(no processes started)"

    def spawn(self, name: str, *args: str, settings: Settings | None = None) -> Process:
        log_path = self.tmp_path / f"{name}.log"
        with log_path.open("wb") as log:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                [str(FAMILY_HOTLINE), *args],
                env=_env_for(settings or self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def upgrade_database(self) -> None:
        """The compose `migrate` service: `family-hotline db upgrade`, which must exit 0."""
        result = subprocess.run(
            [str(FAMILY_HOTLINE), "db", "upgrade"],
            env=_env_for(self.settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"db upgrade failed:\n{result.stdout}\n{result.stderr}"
        assert "database is up to date" in result.stdout

    async def serve(self, name: str = "serve", *, settings: Settings | None = None) -> Served:
        """`family-hotline serve` on the port of its FH_PUBLIC_BASE_URL; returns once /health answers 200."""
        settings = settings or self.settings
        base_url = settings.public_base_url
        port = str(httpx.URL(base_url).port)
        process = self.spawn(name, "serve", "--host", "127.0.0.1", "--port", port, settings=settings)

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient(timeout=2) as client:
                    return (await client.get(f"{base_url}/health")).status_code == 200
            except httpx.TransportError:
                return False

        await self.wait_for(healthy, f"{name} to answer /health", START_SECONDS)
        return Served(process, base_url)

    async def worker(self, name: str = "worker") -> Process:
        """`family-hotline worker`; returns once it has started (its start-up sweep logged)."""
        process = self.spawn(name, "worker")

        async def started() -> bool:
            return "worker started;" in process.log()

        await self.wait_for(started, f"{name} to start", START_SECONDS)
        return process

    def assert_running(self) -> None:
        for process in self.processes:
            if process.popen.returncode is None and process.popen.poll() is not None:
                pytest.fail(f"{process.name} exited unexpectedly\n{self.logs()}")

    async def wait_for(self, check: Callable[[], Awaitable[T]], what: str, seconds: float) -> T:
        """Poll `check` until it returns something truthy; fail with every process's log at the deadline
        or as soon as a process dies. Polling awaits, so the fake Twilio in this event loop keeps serving."""
        deadline = time.monotonic() + seconds
        while True:
            result = await check()
            if result:
                return result
            self.assert_running()
            if time.monotonic() > deadline:
                pytest.fail(f"waited {seconds:.0f} s for {what}\n{self.logs()}")
            await asyncio.sleep(0.1)

    async def kill(self, process: Process) -> None:
        """SIGKILL: no shutdown hooks run, as when a container is OOM-killed or its host dies."""
        process.popen.send_signal(signal.SIGKILL)
        await self._reap(process, 10)
        assert process.popen.returncode == -signal.SIGKILL

    async def stop(self, process: Process, grace_seconds: float = 15) -> None:
        """SIGTERM (what `docker compose stop` sends), then SIGKILL if it lingers."""
        if process.popen.poll() is None:
            process.popen.terminate()
            if not await self._reap(process, grace_seconds):
                process.popen.kill()
                await self._reap(process, 10)

    async def _reap(self, process: Process, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while process.popen.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close(self) -> None:
        await asyncio.gather(*(self.stop(process) for process in self.processes))


@pytest.fixture
async def stack(queue_settings: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    """Compose's `migrate` has run; `serve` and `worker` are started by the test."""
    if not FAMILY_HOTLINE.exists():
        pytest.fail(f"{FAMILY_HOTLINE} is missing: install the package (pip install -e '.[test]')")
    # One environment for every process, as compose's `x-app-env`: the worker needs the public URL too
    # (it puts the status-callback URL on every SMS it sends).
    public_base_url = f"http://127.0.0.1:{_free_port()}"
    stack = Stack(queue_settings.with_overrides(public_base_url=public_base_url), tmp_path)
    try:
        stack.upgrade_database()
        yield stack
    finally:
        await stack.close()


@pytest.fixture
async def redis(queue_settings: Settings) -> AsyncIterator[Redis]:
    assert queue_settings.redis_url
    client = Redis.from_url(queue_settings.redis_url)
    yield client
    await client.aclose()


async def _together(*starts: Awaitable[Any]) -> list[Any]:
    """Start processes side by side (each start is seconds of imports); re-raise the first failure."""
    results = await asyncio.gather(*starts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _outbox(engine: AsyncEngine) -> list[OutboxMessage]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


def _received(fake: FakeTwilio, to: str) -> list[RecordedMessage]:
    return [message for message in fake.messages if message.to == to]


async def _book(client: httpx.AsyncClient, stack: Stack, expert_id: int, phone: str) -> dict[str, Any]:
    """What the booking page's script does: take the CSRF cookie, pick the first free slot, POST it."""
    await client.get("/health")
    await client.get("/login")  # sets the fh_csrf cookie
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
        headers={"x-csrftoken": client.cookies["fh_csrf"]},
    )
    assert response.status_code == 201, f"{response.status_code} {response.text}\n{stack.logs()}"
    held = response.json()
    assert held["status"] == "held"
    return held


async def test_parent_books_and_confirms_and_both_sms_go_through_the_worker_to_twilio(
    stack: Stack, engine: AsyncEngine, fake_twilio: FakeTwilio
) -> None:
    web, _ = await _together(stack.serve(), stack.worker())
    expert = await add_expert(engine)
    assert expert.id is not None

    async with web.client() as client:
        held = await _book(client, stack, expert.id, PARENT_PHONE)

        async def otp_received() -> list[RecordedMessage]:
            return _received(fake_twilio, PARENT_E164)

        [otp] = await stack.wait_for(otp_received, "the one-time code at Twilio", SMS_SECONDS)
        assert otp.from_ == stack.settings.twilio_from_number
        assert otp.account_sid == fake_twilio.account_sid
        assert otp.body.startswith(stack.settings.sms_signature)
        code = SIX_DIGITS.search(otp.body)
        assert code, otp.body

        response = await client.post(
            f"/api/bookings/{held['verify_token']}/confirm",
            json={"code": code.group(1)},
            headers={"x-csrftoken": client.cookies["fh_csrf"]},
        )
        assert response.status_code == 200, f"{response.text}\n{stack.logs()}"
        confirmed = response.json()
        assert (confirmed["appointment_id"], confirmed["status"]) == (held["appointment_id"], "confirmed")

        async def two_messages() -> list[RecordedMessage] | None:
            received = _received(fake_twilio, PARENT_E164)
            return received if len(received) >= 2 else None

        [_, confirmation] = await stack.wait_for(two_messages, "the confirmation at Twilio", SMS_SECONDS)
        # The link in the SMS is the served site's public URL (FH_PUBLIC_BASE_URL), and it works.
        manage_url = f"{web.base_url}/book/manage/{confirmed['manage_token']}"
        assert manage_url in confirmation.body
        assert (await client.get(manage_url)).status_code == 200

        async def both_sent() -> list[OutboxMessage] | None:
            rows = await _outbox(engine)
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
        assert [row.status for row in await _outbox(engine)] == ["sent", "delivered"]


async def test_sms_booked_while_the_worker_is_dead_is_sent_once_by_the_next_worker(
    stack: Stack, engine: AsyncEngine, fake_twilio: FakeTwilio, redis: Redis
) -> None:
    web, first_worker = await _together(stack.serve(), stack.worker())
    await stack.kill(first_worker)
    expert = await add_expert(engine)
    assert expert.id is not None

    async with web.client() as client:
        await _book(client, stack, expert.id, OTHER_PHONE)

    [row] = await _outbox(engine)
    job_id = job_id_for(row.id or 0)
    # The web process committed the row and handed it to arq; with no worker, it waits there.
    queued = await redis.zscore(default_queue_name, job_id)
    assert queued is not None, f"the web process did not queue {job_id} in arq\n{stack.logs()}"
    await asyncio.sleep(QUIET_SECONDS)
    [row] = await _outbox(engine)
    assert (row.kind, row.status, row.attempts) == ("otp", "pending", 0), stack.logs()
    assert fake_twilio.requests == 0, "something other than a worker sent the SMS"

    await stack.worker("worker-2")

    async def delivered() -> OutboxMessage | None:
        [current] = await _outbox(engine)
        return current if current.status == "sent" else None

    await stack.wait_for(delivered, "the new worker to send the waiting SMS", SMS_SECONDS)

    async def queue_drained() -> bool:
        return not (
            await redis.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
            or await redis.zscore(default_queue_name, job_id) is not None
        )

    await stack.wait_for(queue_drained, "arq to finish the job", SMS_SECONDS)
    await asyncio.sleep(QUIET_SECONDS)  # a second send would show up here
    [sent] = _received(fake_twilio, OTHER_E164)
    assert fake_twilio.requests == 1
    [row] = await _outbox(engine)
    assert (row.status, row.attempts, row.provider_sid) == ("sent", 1, sent.sid)
    assert SIX_DIGITS.search(sent.body)


async def test_ready_checks_database_and_redis_of_the_served_process(stack: Stack) -> None:
    # A second served process whose Redis is gone (nothing listens on that port): it still starts and
    # stays up, and still takes traffic: its SMS wait in the database for a worker's sweep. /ready says
    # so (degraded), rather than telling the load balancer to stop sending parents here.
    no_redis = stack.settings.with_overrides(
        redis_url=f"redis://127.0.0.1:{_free_port()}/0", public_base_url=f"http://127.0.0.1:{_free_port()}"
    )
    web, cut_off = await _together(stack.serve(), stack.serve("serve-no-redis", settings=no_redis))

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
