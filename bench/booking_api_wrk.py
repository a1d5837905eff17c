"""Benchmark: the parents' JSON API under `wrk`, against our own `GET /health`, on PostgreSQL.

Starts the real service (one uvicorn process, `family-hotline serve`, embedded mode) on a fresh database
with the demo roster and drives it with Debian's `wrk` at CONNECTIONS connections, DURATION seconds per
phase, in one run:
  GET /health (the baseline), GET /api/experts, GET /api/experts/{id}/slots, and POST /api/bookings
  (holds) on distinct free slots — a Lua script hands each request the next unused (expert, start).
Afterwards the database is asked for double bookings and overlapping active appointments (must be 0).
Results: bench/BOOKING_API_RESULTS.md, with the machine and its load average.

Run: .venv/bin/python bench/booking_api_wrk.py [--duration 10] [--connections 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.demo import seed_demo  # noqa: E402
from bench.booking_race import _free_port, _wait_until_up  # noqa: E402
from core.db import create_engine  # noqa: E402
from core.settings import Settings  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

REPORT_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "non2xx": %d, "socket_errors": %d, "duration_us": %d, ' ..
    '"p50": %d, "p99": %d}\\n',
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""

POST_LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  local body = bodies[((i - 1) %% #bodies) + 1]
  return wrk.format("POST", "/api/bookings", {["Content-Type"] = "application/json"}, body)
end
"""


def _wrk(url: str, lua: str, duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    script = workdir / f"phase-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(lua + REPORT_LUA)
    run = subprocess.run(
        [
            "wrk",
            "-t",
            "1",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    stats: dict[str, Any] = json.loads([x for x in run.stdout.splitlines() if x.startswith("{")][-1])
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def run(duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fh_bench_api_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url, secret_key="bench-" + "s" * 40, data_key="bench-" + "d" * 40,
        data_dir=workdir, public_base_url=base,
    )  # fmt: skip
    server = None
    try:
        await seed_demo(settings)
        env = {
            **os.environ,
            "FH_DATABASE_URL": database_url,
            "FH_SECRET_KEY": settings.secret_key,
            "FH_DATA_KEY": settings.data_key,
            "FH_DATA_DIR": str(workdir),
            "FH_PUBLIC_BASE_URL": base,
        }
        env.pop("FH_REDIS_URL", None)
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "family-hotline"), "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await _wait_until_up(base)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            experts = (await client.get("/api/experts")).json()
            bodies = []
            for n, expert in enumerate(experts):
                mode = expert["modes"][0]
                for k, start in enumerate(
                    (await client.get(f"/api/experts/{expert['id']}/slots")).json()["slots"]
                ):
                    body = {"expert_id": expert["id"], "starts_at": start, "mode": mode}
                    body |= {"name": f"家长{n}{k}", "phone": f"139{n:03d}{k:05d}", "topic": "parenting"}
                    bodies.append(_lua_string(json.dumps(body, ensure_ascii=False)))
        load = os.getloadavg()
        phases = {
            "GET /health": _wrk(base + "/health", "", duration, connections, workdir),
            "GET /api/experts": _wrk(base + "/api/experts", "", duration, connections, workdir),
            f"GET /api/experts/{experts[0]['id']}/slots": _wrk(
                base + f"/api/experts/{experts[0]['id']}/slots", "", duration, connections, workdir
            ),
            "POST /api/bookings (holds, distinct slots)": _wrk(
                base + "/api/bookings", POST_LUA % ", ".join(bodies), duration, connections, workdir
            ),
        }
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            active = (
                await conn.execute(
                    text("SELECT count(*) FROM appointment WHERE status IN ('held','confirmed')")
                )
            ).scalar_one()
            overlaps = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM appointment a JOIN appointment b ON a.expert_id = b.expert_id "
                        "AND a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
                        "WHERE a.status IN ('held','confirmed') AND b.status IN ('held','confirmed')"
                    )
                )
            ).scalar_one()
        await engine.dispose()
        return {"phases": phases, "active": active, "overlaps": overlaps, "bodies": len(bodies), "load": load}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def write(result: dict[str, Any], duration: int, connections: int) -> None:
    phases = result["phases"]
    base = phases["GET /health"]["rps"]
    lines = [
        "# Parents' JSON API under wrk, against /health",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `bench/booking_api_wrk.py --duration {duration} "
        f"--connections {connections}`",
        "",
        f"Machine: {os.cpu_count()} cores; {platform.platform()}; Python {platform.python_version()}; "
        f"load average {result['load'][0]:.1f} when the phases began (the machine is shared: ratios are "
        "the signal).",
        "",
        "PostgreSQL, one uvicorn process (`family-hotline serve`, embedded mode, the demo roster), "
        f"`wrk -t 1` with {connections} connections, {duration} s per phase, all in one run.",
        "",
        "| phase | requests | non-2xx | req/s | ÷ /health | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, s in phases.items():
        lines.append(
            f"| {label} | {s['requests']} | {s['non2xx']} | {s['rps']:.0f} | {s['rps'] / base:.0%} | "
            f"{s['p50'] / 1000:.1f} | {s['p99'] / 1000:.1f} |"
        )
    holds = phases["POST /api/bookings (holds, distinct slots)"]
    lines += [
        "",
        f"- Holds: {holds['requests'] - holds['non2xx']} answered 201 out of {result['bodies']} distinct "
        "free slots offered to the script (once they run out, repeats answer 409: the slot is held).",
        f"- Database afterwards: {result['active']} active appointments; **{result['overlaps']} overlapping "
        "pairs**.",
    ]
    (ROOT / "bench" / "BOOKING_API_RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.duration, args.connections, Path(tmp)))
    write(result, args.duration, args.connections)


if __name__ == "__main__":
    main()
