"""A redis-server of the test's own, on a free port, that the test may kill (SIGKILL) and start again empty:
the machine's shared Redis is never stopped by a test."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.ports import free_port

__all__ = ["RedisProcess"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    """Nothing on disk (`--save "" --appendonly no`): a restart starts empty, like a Redis that lost its
    data, so whatever was queued in it is gone."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self._log_path = log_dir / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> RedisProcess:
        with self._log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            for _ in range(200):
                if self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited:\n{self._log_path.read_text()[-2000:]}")
                try:
                    if await client.ping():
                        return self
                except (RedisError, OSError):
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL, as an OOM kill or a lost host would: nothing is flushed, connections just break."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
