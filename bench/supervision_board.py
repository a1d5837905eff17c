"""Benchmark: the supervision board and "my tasks" on a large PostgreSQL database.

Seeds a fresh PostgreSQL database with 100,000 cases, 300,000 tasks and 50,000 referrals (plus units,
staff, agencies and mandatory reports) in a few INSERT … SELECT generate_series statements, starts the
real service (uvicorn, as `family-hotline serve` runs it), logs in a supervisor of the top unit and an
operator, and drives with Debian's `wrk` (a Lua script sends the session cookie):
  GET /health               — the floor every ratio is taken against, in the same run;
  GET /hotline/supervision  — the board, over every unit (the heaviest scope there is);
  GET /api/supervision      — the same board as JSON, without the template;
  GET /hotline/tasks        — an operator's open tasks.
It then captures the SQL the board and "my tasks" send and writes their EXPLAIN (ANALYZE, BUFFERS)
plans into the results, and checks that no plan reads the whole case table.

Results go to bench/SUPERVISION_RESULTS.md with the machine they ran on.

Run: .venv/bin/python bench/supervision_board.py [--duration 15] [--connections 8] [--before OLD.md]

With --before, the results also compare the p50 and p99 ratios with those of an earlier results file
(the same endpoints), e.g. the committed one before a change: `git show HEAD:bench/SUPERVISION_RESULTS.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from booking_race import _free_port, _machine, _wait_until_up  # noqa: E402 - the sibling benchmark's helpers

from app.migrate import upgrade_database  # noqa: E402
from core.accounts import Role, StaffUser, create_staff_user  # noqa: E402
from core.db import create_engine, create_sessionmaker  # noqa: E402
from hotline.supervision import BoardFilters, supervision_board  # noqa: E402
from hotline.task_work import my_open_tasks  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "bench password for supervision"  # noqa: S105 - a throwaway database's

CASES, TASKS, REFERRALS = 100_000, 300_000, 50_000
DISTRICTS, OPERATORS, AGENCIES = 8, 80, 60
OPEN_EVERY = 10  # one case in ten is open; the rest are closed, with their tasks done

# Everything seeded is spread around "now": open items fall due between ten days ago and ten days ahead,
# so the board has red, amber and green in realistic proportions.
SEED_SQL = [
    # Districts under the top unit (id 1, from the migrations).
    f"""INSERT INTO org_unit (id, parent_id, name, kind, region_code, path, active, created_at)
        SELECT d + 1, 1, '区' || d, 'youth_league_12355', '3301' || lpad(d::text, 2, '0'),
               '/1/' || (d + 1) || '/', true, now()
        FROM generate_series(1, {DISTRICTS}) AS d""",  # noqa: S608 - numbers of this file
    "SELECT setval(pg_get_serial_sequence('org_unit', 'id'), (SELECT max(id) FROM org_unit))",
    # Operators spread over the districts (they cannot log in: their hash is not a password's).
    f"""INSERT INTO staff_user (username, display_name, role, unit_id, password_hash, is_active, created_at,
                                must_change_password, on_duty)
        SELECT 'op' || o, '接线员' || o, 'operator', 2 + ((o - 1) % {DISTRICTS}), 'x', true, now(),
               false, false
        FROM generate_series(1, {OPERATORS}) AS o""",  # noqa: S608 - numbers of this file
    f"""INSERT INTO agency (unit_id, name, kind, district, feedback_days, active, created_at)
        SELECT 1, '机构' || a, 'police', '', 5, true, now() FROM generate_series(1, {AGENCIES}) AS a""",  # noqa: S608 - numbers of this file
    # Cases: the owner is an operator of the case's district (operator ids start after the bench users).
    f"""INSERT INTO referral_case (number, line, unit_id, status, category, urgency, child_age_band,
                                   created_by_id, created_at, updated_at, owner_id, risk_level, child_sex,
                                   child_school_stage, child_district)
        SELECT '12355-2025-' || lpad(c::text, 6, '0'),
               CASE WHEN c % 3 = 0 THEN 'family_edu' ELSE '12355' END,
               2 + (c % {DISTRICTS}),
               CASE WHEN c % {OPEN_EVERY} = 0
                    THEN (ARRAY['accepted','in_progress','referred','follow_up'])[1 + c % 4]
                    ELSE 'closed' END,
               'bullying', 'routine', 'unknown',
               o.id, now() - (c % 720) * interval '1 day', now(), o.id, 'low', 'unknown', 'unknown', ''
        FROM generate_series(1, {CASES}) AS c
        JOIN staff_user o ON o.username = 'op' || (1 + (c % {OPERATORS}))""",  # noqa: S608 - numbers of this file
    # Three tasks a case: open while the case is open, done otherwise.
    f"""INSERT INTO case_task (case_id, unit_id, kind, title, owner_id, due_at, status, created_at)
        SELECT rc.id, rc.unit_id, (ARRAY['callback','referral_check','manual'])[1 + t % 3], 'Call back',
               rc.owner_id,
               now() + ((t::bigint * 7919) % 480 - 240) * interval '1 hour',
               CASE WHEN rc.status = 'closed' THEN 'done' ELSE 'open' END, now()
        FROM generate_series(0, {TASKS} - 1) AS t
        JOIN referral_case rc ON rc.id = 1 + (t % {CASES})""",  # noqa: S608 - numbers of this file
    f"""INSERT INTO referral (case_id, unit_id, agency_id, status, urgency, reason_ciphertext,
                              request_ciphertext, share_caller_phone, token_hash, sent_by_id, sent_at, due_on,
                              due_at, updated_at)
        SELECT rc.id, rc.unit_id, 1 + (r % {AGENCIES}),
               CASE WHEN rc.status = 'closed' THEN 'closed'
                    ELSE (ARRAY['sent','acknowledged','feedback','returned'])[1 + r % 4] END,
               'routine', 'x', 'x', false, md5(r::text) || md5((r + 1)::text), rc.owner_id, now(),
               (now() + ((r::bigint * 104729) % 480 - 240) * interval '1 hour')::date,
               now() + ((r::bigint * 104729) % 480 - 240) * interval '1 hour', now()
        FROM generate_series(0, {REFERRALS} - 1) AS r
        JOIN referral_case rc ON rc.id = 1 + ((r * 7) % {CASES})""",  # noqa: S608 - numbers of this file
    # A mandatory report on one case in 47: pending on open cases, recorded on the others.
    """INSERT INTO mandatory_report (case_id, unit_id, status, situations, trigger, created_at, due_at)
        SELECT id, unit_id, CASE WHEN status = 'closed' THEN 'recorded' ELSE 'pending' END, '',
               'category:violence', now() - interval '1 day',
               now() + ((id * 31) % 72 - 36) * interval '1 hour'
        FROM referral_case WHERE id % 47 = 0""",
]

WRK_LUA = """
-- Sends the session cookie; prints the latency percentiles (microseconds) and statuses as JSON.
wrk.headers["Cookie"] = "fh_session=%s"
wrk.headers["Accept-Language"] = "zh-CN"
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "non2xx": %%d, "socket_errors": %%d, "duration_us": %%d, ' ..
    '"p50": %%d, "p90": %%d, "p99": %%d}\\n',
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


async def _seed(database_url: str) -> dict[str, Any]:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        supervisor = await create_staff_user(
            session, username="bench-supervisor", display_name="督导", role=Role.SUPERVISOR,
            password=PASSWORD, unit_id=1,
        )  # fmt: skip
        await session.commit()
    async with engine.begin() as conn:
        for statement in SEED_SQL:
            await conn.execute(text(statement))
    # Statistics for the planner, and the visibility map for index-only scans, as autovacuum would leave.
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    async with maker() as session:
        # The operator with the most open tasks logs in: the busiest "my tasks" there is.
        busiest = (
            await session.exec(
                text(
                    "SELECT owner_id FROM case_task WHERE status = 'open' GROUP BY owner_id "
                    "ORDER BY count(*) DESC LIMIT 1"
                )  # type: ignore[call-overload]
            )
        ).scalar_one()
        operator = await session.get(StaffUser, busiest)
        assert operator is not None
        operator.username = "bench-operator"
        operator.password_hash = supervisor.password_hash  # the same password
        # A district's supervisor too: the usual scope, one district of DISTRICTS.
        session.add(
            StaffUser(
                username="bench-district-supervisor",
                display_name="区督导",
                role=Role.SUPERVISOR,
                unit_id=2,
                password_hash=supervisor.password_hash,
            )
        )
        await session.commit()
    async with engine.connect() as conn:
        counts = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            for table in (
                "referral_case",
                "case_task",
                "referral",
                "mandatory_report",
                "staff_user",
                "agency",
            )
        }
        counts["open tasks"] = (
            await conn.execute(text("SELECT count(*) FROM case_task WHERE status = 'open'"))
        ).scalar_one()
        counts["open tasks of the operator"] = (
            await conn.execute(
                text("SELECT count(*) FROM case_task WHERE status = 'open' AND owner_id = :o"), {"o": busiest}
            )
        ).scalar_one()
    await engine.dispose()
    return counts


async def _plans(database_url: str, amber_hours: int) -> list[tuple[str, str, str]]:
    """(what, SQL, EXPLAIN ANALYZE) of every statement the board and "my tasks" send, as the service
    sends them: captured on the engine while the same service functions run."""
    engine = create_engine(database_url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if (
            statement.lstrip().upper().startswith(("SELECT", "WITH"))
            and "staff_user.username" not in statement
        ):
            captured.append((statement, parameters))

    maker = create_sessionmaker(engine)
    labelled: list[tuple[str, str, Any]] = []
    async with maker() as session:
        supervisor = (
            await session.exec(text("SELECT id FROM staff_user WHERE username = 'bench-supervisor'"))  # type: ignore[call-overload]
        ).scalar_one()
        operator = (
            await session.exec(text("SELECT id FROM staff_user WHERE username = 'bench-operator'"))  # type: ignore[call-overload]
        ).scalar_one()
        viewer = await session.get(StaffUser, supervisor)
        worker = await session.get(StaffUser, operator)
        assert viewer is not None and worker is not None
        now, amber = datetime.now(UTC), timedelta(hours=amber_hours)
        for name, call in (
            (
                "board",
                lambda: supervision_board(
                    session, viewer=viewer, filters=BoardFilters(), now=now, amber=amber
                ),
            ),
            ("my tasks", lambda: my_open_tasks(session, viewer=worker, now=now, amber=amber)),
        ):
            captured.clear()
            await call()
            labelled += [(name, statement, parameters) for statement, parameters in captured]
    event.remove(engine.sync_engine, "before_cursor_execute", _capture)
    plans = []
    async with engine.connect() as conn:
        for name, statement, parameters in labelled:
            result = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            plans.append((name, statement, "\n".join(row[0] for row in result.all())))
    await engine.dispose()
    return plans


def _wrk(url: str, cookie: str, duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    script = workdir / f"cookie-{uuid.uuid4().hex[:6]}.lua"
    script.write_text(WRK_LUA % cookie)
    run = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
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
    line = [line for line in run.stdout.splitlines() if line.startswith("{")][-1]
    stats: dict[str, Any] = json.loads(line)
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    return stats


async def _log_in(base: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        await client.get("/login")
        answer = await client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "_csrf_token": client.cookies["fh_csrf"]},
        )
        assert answer.status_code in (200, 303), answer.text[:500]
        return client.cookies["fh_session"]


async def run(duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fh_bench_sup_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = None
    try:
        began = datetime.now(UTC)
        load = os.getloadavg()  # the machine is shared: how busy it was when the run began
        counts = await _seed(database_url)
        seed_seconds = (datetime.now(UTC) - began).total_seconds()
        env = {
            **os.environ,
            "FH_DATABASE_URL": database_url,
            "FH_SECRET_KEY": "bench-" + "s" * 40,
            "FH_DATA_KEY": "bench-" + "d" * 40,
            "FH_DATA_DIR": str(workdir),
            "FH_PUBLIC_BASE_URL": base,
            "FH_REQUIRE_2FA": "0",
            # The red-alert watch would alert about every red item of the seed mid-run: not what is measured.
            "FH_LIGHTS_CHECK_SECONDS": "86400",
        }
        env.pop("FH_REDIS_URL", None)
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "family-hotline"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await _wait_until_up(base)
        supervisor = await _log_in(base, "bench-supervisor")
        operator = await _log_in(base, "bench-operator")
        district = await _log_in(base, "bench-district-supervisor")
        async with httpx.AsyncClient(base_url=base) as client:  # warm up, and check what is served
            board = await client.get("/api/supervision", cookies={"fh_session": supervisor})
            tasks = await client.get("/hotline/tasks", cookies={"fh_session": operator})
            assert board.status_code == 200 and tasks.status_code == 200, (board.text[:300], tasks.text[:300])
            lights = len(re.findall(r'data-light="', tasks.text))
        phases = {}
        for label, path, cookie in (
            ("GET /health", "/health", supervisor),
            ("GET /hotline/supervision (board page)", "/hotline/supervision", supervisor),
            ("GET /api/supervision (board JSON)", "/api/supervision", supervisor),
            ("GET /hotline/supervision (a district's board)", "/hotline/supervision", district),
            ("GET /hotline/tasks (my tasks)", "/hotline/tasks", operator),
        ):
            phases[label] = _wrk(base + path, cookie, duration, connections, workdir)
        plans = await _plans(database_url, amber_hours=24)
        return {
            "counts": counts,
            "seed_seconds": seed_seconds,
            "phases": phases,
            "plans": plans,
            "board": board.json(),
            "task_lights": lights,
            "duration": duration,
            "connections": connections,
            "load": load,
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def _whole_table_reads(plan: str) -> list[str]:
    """Sequential scans of the big tables: what "must not scan all cases" forbids."""
    big = ("referral_case", "case_task", "referral")
    return [
        line.strip()
        for line in plan.splitlines()
        if "Seq Scan on" in line and any(f" {t} " in line + " " for t in big)
    ]


_LATENCY_ROW = re.compile(r"^\| (GET [^|]+?) \| [\d,]+ \| \d+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \| ([\d.]+) \|")


def _ratios(results_md: str) -> dict[str, tuple[float, float]]:
    """(p50, p99) ratios to /health per endpoint, read back from a results file's latency table."""
    return {
        match[1]: (float(match[2]), float(match[3]))
        for line in results_md.splitlines()
        if (match := _LATENCY_ROW.match(line))
    }


def _comparison(before_md: str, phases: dict[str, Any]) -> list[str]:
    before = _ratios(before_md)
    health = phases["GET /health"]
    run_line = next((line for line in before_md.splitlines() if line.startswith("Run: ")), "Run: ?")
    lines = [
        "## Before and after",
        "",
        f"Ratios to /health of the earlier results ({run_line.removeprefix('Run: ')}) and of this run.",
        "",
        "| endpoint | p50 ÷ /health before | after | p99 ÷ /health before | after |",
        "|---|---|---|---|---|",
    ]
    for label, stats in phases.items():
        if label == "GET /health" or label not in before:
            continue
        p50, p99 = before[label]
        lines.append(
            f"| {label} | {p50:.1f} | {stats['p50'] / health['p50']:.1f} | {p99:.1f} | "
            f"{stats['p99'] / health['p99']:.1f} |"
        )
    return [*lines, ""]


def _report(result: dict[str, Any], before_md: str | None = None) -> str:
    phases = result["phases"]
    health = phases["GET /health"]
    board = result["board"]
    lines = [
        "# Benchmark: the supervision board and my tasks",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `bench/supervision_board.py`",
        "",
        f"Machine: {_machine()}; load average (1, 5, 15 min) when the run began: "
        + ", ".join(f"{value:.2f}" for value in result["load"]),
        "",
        "PostgreSQL, one uvicorn process (`family-hotline serve`, embedded mode), driven by `wrk` with "
        f"{result['connections']} connections for {result['duration']} s per endpoint. Latency ratios are "
        "against GET /health in the same run on the same server: on a shared 2-core machine absolute "
        "milliseconds are noise, ratios are the signal.",
        "",
        "## Data",
        "",
        "| table | rows |",
        "|---|---|",
        *(f"| {table} | {count:,} |" for table, count in result["counts"].items()),
        "",
        f"Seeded in {result['seed_seconds']:.0f} s. One case in {OPEN_EVERY} is open; open tasks and "
        "referrals fall due between ten days ago and ten days ahead. The supervisor belongs to the top unit, "
        f"so the board covers all {DISTRICTS} districts (a district's supervisor sees one of them): "
        f"{board['totals']['red']:,} red, "
        f"{board['totals']['amber']:,} amber, {board['totals']['green']:,} green open items; "
        f"{board['reports_pending']:,} mandatory reports pending ({board['reports_overdue']:,} overdue). "
        f"The operator's page shows {result['task_lights']} tasks (its limit) of "
        f"{result['counts']['open tasks of the operator']:,} open.",
        "",
        "## Latency",
        "",
        "| endpoint | requests | non-2xx | p50 ms | p99 ms | p50 ÷ /health | p99 ÷ /health | req/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, stats in phases.items():
        lines.append(
            f"| {label} | {stats['requests']:,} | {stats['non2xx'] + stats['socket_errors']} | "
            f"{stats['p50'] / 1000:.1f} | {stats['p99'] / 1000:.1f} | {stats['p50'] / health['p50']:.1f} | "
            f"{stats['p99'] / health['p99']:.1f} | {stats['rps']:.0f} |"
        )
    if before_md is not None:
        lines += ["", *_comparison(before_md, phases)]
    seq = [(name, line) for name, _, plan in result["plans"] for line in _whole_table_reads(plan)]
    lines += [
        "",
        "## Query plans",
        "",
        'Every SELECT the board and "my tasks" send (captured from the service functions), with '
        "EXPLAIN (ANALYZE, BUFFERS) on the seeded database.",
        "",
        "**Whole-table reads of referral_case, case_task or referral: "
        + ("none.**" if not seq else f"{len(seq)}.** " + "; ".join(f"{n}: `{line}`" for n, line in seq)),
        "",
    ]
    for number, (name, statement, plan) in enumerate(result["plans"], 1):
        lines += [f"### {number}. {name}", "", "```sql", statement.strip(), "```", "", "```", plan, "```", ""]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--output", default=str(ROOT / "bench" / "SUPERVISION_RESULTS.md"))
    parser.add_argument("--before", help="an earlier results file to compare the ratios with")
    args = parser.parse_args()
    before_md = Path(args.before).read_text() if args.before else None
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fh-bench-supervision-"))
    try:
        result = await run(args.duration, args.connections, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = _report(result, before_md)
    Path(args.output).write_text(report + "\n")
    print(report)
    bad = any(_whole_table_reads(plan) for _, _, plan in result["plans"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
