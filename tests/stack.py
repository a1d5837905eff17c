"""Running the service as docker-compose.yml runs it, as local processes instead of containers.

`family-hotline db upgrade` (the one-shot `migrate` service), then `family-hotline serve` and
`family-hotline worker` as separate processes, configured only by FH_* variables made from a Settings,
as compose's `x-app-env` configures the containers. A test can SIGKILL any of them (an OOM kill, a lost
host), SIGTERM them (`docker compose stop`, a deploy) and start them again (compose's restart policy).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from core.db import create_sessionmaker
from core.settings import ENV_PREFIX, Settings
from notifications.models import OutboxMessage
from tests.fakes.twilio_server import FakeTwilio, RecordedMessage
from tests.ports import free_port

__all__ = [
    "FAMILY_HOTLINE",
    "START_SECONDS",
    "Process",
    "Served",
    "Stack",
    "env_for",
    "messages_to",
    "migrated_stack",
    "outbox_rows",
    "together",
]

T = TypeVar("T")

# The console script installed beside the interpreter running the tests (.venv/bin/family-hotline), as
# the container's `command:` runs it.
FAMILY_HOTLINE = Path(sys.executable).with_name("family-hotline")
START_SECONDS = 30.0  # a process start (imports, migrations on SQLite) on a slow, shared machine


def env_for(settings: Settings) -> dict[str, str]:
    """What docker-compose.yml's `x-app-env` sets: every setting as its FH_* variable, from our Settings;
    nothing FH_* leaks in from outside."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    for spec in fields(Settings):
        value = getattr(settings, spec.name)
        if value is None:
            continue  # unset: the process takes the default
        variable = ENV_PREFIX + spec.metadata["env"]
        env[variable] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    env["PYTHONUNBUFFERED"] = "1"  # a SIGKILLed process leaves its last lines in the log
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    signalled: bool = False  # the test killed or stopped it: its exit is expected

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
                env=env_for(settings or self.settings),
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
            env=env_for(self.settings),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"db upgrade failed:\n{result.stdout}\n{result.stderr}"
        assert "database is up to date" in result.stdout

    async def serve(
        self, name: str = "serve", *, settings: Settings | None = None, workers: int = 1
    ) -> Served:
        """`family-hotline serve` on the port of its FH_PUBLIC_BASE_URL; returns once /health answers 200."""
        settings = settings or self.settings
        base_url = settings.public_base_url
        port = str(httpx.URL(base_url).port)
        process = self.spawn(
            name,
            *("serve", "--host", "127.0.0.1", "--port", port, "--workers", str(workers)),
            settings=settings,
        )

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
            if not process.signalled and process.popen.poll() is not None:
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
        process.signalled = True
        process.popen.send_signal(signal.SIGKILL)
        await self._reap(process, 10)
        assert process.popen.returncode == -signal.SIGKILL

    async def stop(self, process: Process, grace_seconds: float = 15) -> None:
        """SIGTERM (what `docker compose stop` sends), then SIGKILL if it lingers."""
        process.signalled = True
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


async def together(*starts: Awaitable[Any]) -> list[Any]:
    """Start processes side by side (each start is seconds of imports); re-raise the first failure."""
    results = await asyncio.gather(*starts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def outbox_rows(engine: AsyncEngine) -> list[OutboxMessage]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


def messages_to(fake: FakeTwilio, to: str) -> list[RecordedMessage]:
    return [message for message in fake.messages if message.to == to]


@asynccontextmanager
async def migrated_stack(settings: Settings, tmp_path: Path) -> AsyncIterator[Stack]:
    """Compose's `migrate` has run; the test starts `serve` and `worker`. Every process is stopped at the
    end, whatever the test did."""
    if not FAMILY_HOTLINE.exists():
        pytest.fail(f"{FAMILY_HOTLINE} is missing: install the package (pip install -e '.[test]')")
    # One environment for every process, as compose's `x-app-env`: the worker needs the public URL too
    # (it puts the status-callback URL on every SMS it sends).
    stack = Stack(settings.with_overrides(public_base_url=f"http://127.0.0.1:{free_port()}"), tmp_path)
    try:
        stack.upgrade_database()
        yield stack
    finally:
        await stack.close()
