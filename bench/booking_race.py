"""Benchmark: the booking endpoint under concurrency, on SQLite and PostgreSQL.

Starts the real service (uvicorn, as `family-hotline serve` runs it) on a fresh database with the demo
roster, then measures in the same run:
  baseline   — GET /health at the same concurrency (the floor every ratio below is taken against);
  contended  — CONCURRENCY parents posting the SAME slot at once, for several slots: exactly one may win;
  spread     — CONCURRENCY parents posting DIFFERENT slots at once: throughput when nobody collides.
Afterwards it asks the database for double bookings (same expert, same start, both active) and for
overlapping active appointments. Results go to bench/RESULTS.md with the machine they ran on.

Run: .venv/bin/python bench/booking_race.py [--concurrency 40] [--slots 8] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo import seed_demo  # noqa: E402
from core.db import create_engine  # noqa: E402
from core.settings import Settings  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def record(self, status: int, ms: float) -> None:
        self.latencies_ms.append(ms)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.wall_seconds if self.wall_seconds else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_until_up(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("service did not start")


async def _timed(client: httpx.AsyncClient, phase: Phase, method: str, url: str, **kw: Any) -> httpx.Response:
    started = time.perf_counter()
    response = await client.request(method, url, **kw)
    phase.record(response.status_code, (time.perf_counter() - started) * 1000)
    return response


def _slot_starts(payload: Any) -> list[str]:
    items = payload.get("slots", payload) if isinstance(payload, dict) else payload
    return [item["starts_at"] if isinstance(item, dict) else str(item) for item in items]


async def run_backend(backend: str, concurrency: int, slots: int, workdir: Path) -> dict[str, Any]:
    admin_engine = None
    db_name = f"fh_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    else:
        admin_engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with admin_engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        secret_key="bench-" + "s" * 40,
        data_key="bench-" + "d" * 40,
        data_dir=workdir,
        public_base_url=base,
    )
    await seed_demo(settings)
    env = {
        **os.environ,
        "FH_DATABASE_URL": database_url,
        "FH_SECRET_KEY": settings.secret_key,
        "FH_DATA_KEY": settings.data_key,
        "FH_DATA_DIR": str(workdir),
        "FH_PUBLIC_BASE_URL": base,
        # Every simulated parent comes from 127.0.0.1: the per-address code limit would refuse most.
        "FH_OTP_SMS_PER_ADDRESS_HOUR": "1000000",
    }
    env.pop("FH_REDIS_URL", None)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "family-hotline"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_until_up(base)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
            experts = (await client.get("/api/experts")).json()
            expert_ids = [
                e["id"] for e in (experts.get("experts", experts) if isinstance(experts, dict) else experts)
            ]
            expert_id = expert_ids[0]
            starts = _slot_starts((await client.get(f"/api/experts/{expert_id}/slots")).json())
            # Distinct (expert, start) pairs for the spread phase: every expert's free slots but the
            # contended ones, so the spread phase runs as many rounds as the others.
            free_pairs = [(expert_id, start) for start in starts[slots:]]
            for other in expert_ids[1:]:
                other_starts = _slot_starts((await client.get(f"/api/experts/{other}/slots")).json())
                free_pairs += [(other, start) for start in other_starts]
            if len(starts) < slots or len(free_pairs) < slots * concurrency:
                raise RuntimeError(f"only {len(free_pairs)} free slots; lower --slots/--concurrency")

            baseline = Phase("baseline GET /health")
            began = time.perf_counter()
            for _ in range(slots):
                await asyncio.gather(
                    *[_timed(client, baseline, "GET", "/health") for _ in range(concurrency)]
                )
            baseline.wall_seconds = time.perf_counter() - began

            def body(start: str, n: int, expert: int = expert_id) -> dict[str, Any]:
                return {
                    "expert_id": expert,
                    "starts_at": start,
                    "mode": "video",  # every demo expert offers video
                    "name": f"家长{n}",
                    "phone": f"139{n:08d}",
                    "topic": "parenting",
                    "notes": "",
                }

            contended = Phase("contended: same slot")
            began = time.perf_counter()
            for s in range(slots):
                await asyncio.gather(
                    *[
                        _timed(
                            client,
                            contended,
                            "POST",
                            "/api/bookings",
                            json=body(starts[s], s * 1000 + i),
                        )
                        for i in range(concurrency)
                    ]
                )
            contended.wall_seconds = time.perf_counter() - began

            spread = Phase("spread: distinct slots")
            began = time.perf_counter()
            for r in range(slots):
                batch = free_pairs[r * concurrency : (r + 1) * concurrency]
                await asyncio.gather(
                    *[
                        _timed(
                            client,
                            spread,
                            "POST",
                            "/api/bookings",
                            json=body(start, 900000 + r * 1000 + i, expert),
                        )
                        for i, (expert, start) in enumerate(batch)
                    ]
                )
            spread.wall_seconds = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=20)

    engine = create_engine(database_url)
    async with engine.connect() as conn:
        doubles = (
            await conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT expert_id, starts_at FROM appointment "
                    "WHERE status IN ('held','confirmed') "
                    "GROUP BY expert_id, starts_at HAVING COUNT(*) > 1) d"
                )
            )
        ).scalar_one()
        overlaps = (
            await conn.execute(
                text(
                    "SELECT COUNT(*) FROM appointment a JOIN appointment b "
                    "ON a.expert_id = b.expert_id AND a.id < b.id "
                    "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
                    "WHERE a.status IN ('held','confirmed') AND b.status IN ('held','confirmed')"
                )
            )
        ).scalar_one()
        active = (
            await conn.execute(text("SELECT COUNT(*) FROM appointment WHERE status IN ('held','confirmed')"))
        ).scalar_one()
    await engine.dispose()
    if admin_engine is not None:
        async with admin_engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        await admin_engine.dispose()
    return {
        "backend": backend,
        "phases": [baseline, contended, spread],
        "doubles": doubles,
        "overlaps": overlaps,
        "active": active,
        "slots": slots,
        "concurrency": concurrency,
    }


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.platform()}; Python {platform.python_version()}"
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}{mem}; {system}"


def _report(results: list[dict[str, Any]]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `bench/booking_race.py`",
        "",
        f"Machine: {_machine()}",
        "",
        "Latency ratios are against the baseline GET /health measured in the same run, at the same "
        "concurrency, on the same server process: absolute milliseconds on a shared 2-core machine "
        "are noise, "
        "ratios are the signal.",
        "",
        "The server runs on its embedded default (one uvicorn process, SMS jobs run in-process through "
        "the console sender), so every successful booking also pays for its one-time-code SMS job in "
        "the same process. Each phase runs the same number of rounds of CONCURRENCY requests.",
        "",
    ]
    for r in results:
        baseline = r["phases"][0]
        lines += [
            f"## {r['backend']} — {r['concurrency']} concurrent clients, {r['slots']} contended slots",
            "",
            "| phase | requests | statuses | p50 ms | p99 ms | p50 ÷ baseline | p99 ÷ baseline | req/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for ph in r["phases"]:
            statuses = ", ".join(f"{k}×{v}" for k, v in sorted(ph.statuses.items()))
            lines.append(
                f"| {ph.name} | {len(ph.latencies_ms)} | {statuses} | {ph.p50:.1f} | {ph.pct(0.99):.1f} | "
                f"{ph.p50 / baseline.p50:.1f} | {ph.pct(0.99) / baseline.pct(0.99):.1f} | "
                f"{ph.throughput:.0f} |"
            )
        contended = r["phases"][1]
        wins = contended.statuses.get(201, 0)
        lines += [
            "",
            f"- Contended: {wins} successes for {r['slots']} slots (expected exactly {r['slots']}), "
            f"{contended.statuses.get(409, 0)} conflicts (HTTP 409), "
            f"{sum(v for k, v in contended.statuses.items() if k not in (201, 409))} other responses.",
            f"- Spread: {r['phases'][2].statuses.get(201, 0)} of {len(r['phases'][2].latencies_ms)} "
            "requests booked (every one asks for a different free slot).",
            f"- Database afterwards: {r['active']} active appointments; **{r['doubles']} double bookings**, "
            f"**{r['overlaps']} overlapping pairs**.",
            "",
        ]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"fh-bench-{backend}-"))
        try:
            results.append(await run_backend(backend.strip(), args.concurrency, args.slots, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    report = _report(results)
    Path(args.output).write_text(report + "\n")
    print(report)
    bad = [
        r
        for r in results
        if r["doubles"] or r["overlaps"] or r["phases"][1].statuses.get(201, 0) != r["slots"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
