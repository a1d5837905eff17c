# ruff: noqa: E501  (the seeding SQL reads better unwrapped)
"""Benchmark: the reports dashboard and the quarterly report on a large PostgreSQL database.

Seeds a fresh PostgreSQL database with a unit tree (a city and 8 districts), 100,000 cases over two
years, 300,000 calls, 50,000 consultations with their SMS, plus referrals, mandatory reports and tasks,
in INSERT … SELECT generate_series statements; starts the real service (`family-hotline serve`), logs in
supervisors of the city and of one district, and drives with `wrk`:
  GET /health                              — the floor every ratio is taken against, in the same run;
  GET /reports?period=<this quarter>       — the dashboard over the whole tree (three periods' figures);
  GET /reports (a district's supervisor)   — the usual scope, one district of eight;
  GET /reports/quarterly/<last quarter>    — the report page (figures, draft, versions).
It then captures the SQL the figures send and writes their EXPLAIN (ANALYZE, BUFFERS) plans.

Results go to bench/REPORTS_RESULTS.md with the machine they ran on.
Run: .venv/bin/python bench/reports_dashboard.py [--duration 10] [--connections 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import event, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from booking_race import _free_port, _machine, _wait_until_up  # noqa: E402 - the sibling benchmark's helpers
from supervision_board import PASSWORD, _log_in, _wrk  # noqa: E402

from app.migrate import upgrade_database  # noqa: E402
from core.accounts import Role, StaffUser, create_staff_user  # noqa: E402
from core.db import create_engine, create_sessionmaker  # noqa: E402
from reports.figures import FigureScope  # noqa: E402
from reports.periods import PeriodKind, current_period  # noqa: E402
from reports.quarterly import comparison  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CASES, CALLS, BOOKINGS = 100_000, 300_000, 50_000
DISTRICTS, OPERATORS, EXPERTS, AGENCIES = 8, 80, 40, 60
DAYS = 730  # two years of history, so "a year before" has data too

SEED_SQL = [
    f"""INSERT INTO org_unit (id, parent_id, name, kind, region_code, path, active, created_at)
        SELECT d + 1, 1, '区' || d, 'youth_league_12355', '3301' || lpad(d::text, 2, '0'),
               '/1/' || (d + 1) || '/', true, now()
        FROM generate_series(1, {DISTRICTS}) AS d""",  # noqa: S608 - numbers of this file
    "SELECT setval(pg_get_serial_sequence('org_unit', 'id'), (SELECT max(id) FROM org_unit))",
    f"""INSERT INTO staff_user (username, display_name, role, unit_id, password_hash, is_active, created_at,
                                must_change_password, on_duty)
        SELECT 'op' || o, '接线员' || o, 'operator', 2 + ((o - 1) % {DISTRICTS}), 'x', true, now(), false, false
        FROM generate_series(1, {OPERATORS}) AS o""",  # noqa: S608
    f"""INSERT INTO agency (unit_id, name, kind, district, feedback_days, active, created_at)
        SELECT 1, '机构' || a, (ARRAY['police','school','civil_affairs','hospital'])[1 + a % 4], '', 5, true, now()
        FROM generate_series(1, {AGENCIES}) AS a""",  # noqa: S608
    f"""INSERT INTO referral_case (number, line, unit_id, status, category, urgency, child_age_band,
                                   created_by_id, created_at, updated_at, owner_id, risk_level, child_sex,
                                   child_school_stage, child_district, closed_at)
        SELECT 'B-' || lpad(c::text, 8, '0'),
               CASE WHEN c % 3 = 0 THEN 'family_edu' ELSE '12355' END,
               2 + (c % {DISTRICTS}),
               CASE WHEN c % 10 = 0 THEN 'in_progress' ELSE 'closed' END,
               (ARRAY['bullying','parenting','mental_health','violence','study_pressure'])[1 + c % 5],
               (ARRAY['routine','urgent','crisis'])[1 + c % 3],
               (ARRAY['0-5','6-11','12-14','15-17','unknown'])[1 + c % 5],
               o.id, now() - ((c * 7919) % ({DAYS} * 24)) * interval '1 hour', now(), o.id,
               (ARRAY['low','medium','high','critical','unassessed'])[1 + c % 5], 'unknown', 'unknown', '',
               CASE WHEN c % 10 = 0 THEN NULL
                    ELSE now() - ((c * 7919) % ({DAYS} * 24)) * interval '1 hour' + (c % 400) * interval '1 hour'
               END
        FROM generate_series(1, {CASES}) AS c
        JOIN staff_user o ON o.username = 'op' || (1 + (c % {OPERATORS}))""",  # noqa: S608
    f"""INSERT INTO hotline_call (case_id, unit_id, line, channel, caller_type, category, urgency,
                                  summary_ciphertext, caller_phone_index, operator_id, received_at)
        SELECT rc.id, rc.unit_id, rc.line, 'phone', (ARRAY['parent','child','teacher'])[1 + k % 3],
               rc.category, rc.urgency, 'x', md5((rc.id % 70000)::text), rc.owner_id,
               rc.created_at + (k % 3) * interval '2 days'
        FROM generate_series(0, {CALLS} - 1) AS k
        JOIN referral_case rc ON rc.id = 1 + (k % {CASES})""",  # noqa: S608
    # Voice calls as the telephony leaves them: one per logged call, the outcomes mixed, waits 0–89 s.
    f"""INSERT INTO voice_call (call_sid, unit_id, line, to_number, crisis, status, outcome, ringing_at,
                                queued_at, answered_at, ended_at, queue_wait_seconds, updated_at)
        SELECT 'CABENCH' || k, c.unit_id, c.line, '+8657112355', false, 'ended',
               (ARRAY['answered','answered','answered','abandoned','voicemail','out_of_hours'])[1 + k % 6],
               c.received_at, c.received_at + interval '15 seconds',
               CASE WHEN k % 6 < 3 THEN c.received_at + (15 + k % 90) * interval '1 second' END,
               c.received_at + interval '5 minutes', k % 90, c.received_at
        FROM generate_series(1, {CALLS}) AS k JOIN hotline_call c ON c.id = k""",  # noqa: S608
    """INSERT INTO child_flag (case_id, flag)
        SELECT id, (ARRAY['out_of_school','unsupervised','lost_family_care','offended'])[1 + id % 4]
        FROM referral_case WHERE id % 6 = 0""",
    f"""INSERT INTO referral (case_id, unit_id, agency_id, status, urgency, reason_ciphertext,
                              request_ciphertext, share_caller_phone, token_hash, sent_by_id, sent_at, due_on,
                              due_at, acknowledged_at, feedback_at, updated_at)
        SELECT rc.id, rc.unit_id, 1 + (rc.id % {AGENCIES}), 'closed', 'routine', 'x', 'x', false,
               md5(rc.id::text) || md5((rc.id + 1)::text), rc.owner_id, rc.created_at + interval '1 hour',
               (rc.created_at + interval '7 days')::date, rc.created_at + interval '7 days',
               rc.created_at + (rc.id % 40) * interval '1 hour', rc.created_at + (rc.id % 12) * interval '1 day', now()
        FROM referral_case rc WHERE rc.id % 5 = 0""",  # noqa: S608
    """INSERT INTO mandatory_report (case_id, unit_id, status, situations, trigger, created_at, due_at, reported_at)
        SELECT id, unit_id, 'recorded', '', 'category:violence', created_at, created_at + interval '1 day',
               created_at + (id % 30) * interval '1 hour'
        FROM referral_case WHERE category = 'violence'""",
    """INSERT INTO case_task (case_id, unit_id, kind, title, owner_id, due_at, status, created_at, done_at, result)
        SELECT id, unit_id, CASE WHEN id % 2 = 0 THEN 'satisfaction' ELSE 'callback' END, 't', owner_id,
               created_at + interval '1 day', CASE WHEN status = 'closed' THEN 'done' ELSE 'open' END,
               created_at, CASE WHEN status = 'closed' THEN created_at + (id % 48) * interval '1 hour' END,
               CASE WHEN status = 'closed' AND id % 2 = 0 THEN 'satisfied' END
        FROM referral_case""",
    f"""INSERT INTO site (name, address, unit_id) SELECT '咨询点' || s, '', 1 + s FROM generate_series(1, {DISTRICTS}) s""",  # noqa: S608
    f"""INSERT INTO expert (name, unit_id, title, bio, specialties, modes, site_id, slot_minutes, buffer_minutes,
                            feed_token_hash, active, created_at)
        SELECT '专家' || e, 2 + (e % {DISTRICTS}), '', '', 'parenting', 'in_person,phone,video',
               1 + (e % {DISTRICTS}), 50, 10, md5('feed' || e), true, now()
        FROM generate_series(0, {EXPERTS} - 1) e""",  # noqa: S608
    f"""INSERT INTO appointment (expert_id, starts_at, ends_at, mode, status, parent_name_ciphertext,
                                 parent_phone_ciphertext, parent_phone_index, topic, locale, ical_uid, sequence,
                                 otp_attempts, created_at, updated_at, attendance)
        SELECT 1 + (a % {EXPERTS}),
               date_trunc('day', now()) - ((a / {EXPERTS}) % {DAYS}) * interval '1 day'
                   + (1 + (a / ({EXPERTS} * {DAYS})) % 8) * interval '1 hour',
               date_trunc('day', now()) - ((a / {EXPERTS}) % {DAYS}) * interval '1 day'
                   + (1 + (a / ({EXPERTS} * {DAYS})) % 8) * interval '1 hour' + interval '50 minutes',
               (ARRAY['in_person','phone','video'])[1 + a % 3],
               CASE WHEN a % 9 = 0 THEN 'cancelled' ELSE 'confirmed' END, 'x', 'x', md5(a::text), 'parenting',
               'zh_Hans', 'bench-' || a, 0, 0, now(), now(),
               CASE WHEN a % 9 = 0 THEN NULL ELSE (ARRAY['attended','attended','attended','late','no_show'])[1 + a % 5] END
        FROM generate_series(0, {BOOKINGS} - 1) a""",  # noqa: S608
    """INSERT INTO outbox_message (kind, to_ciphertext, to_index, body_ciphertext, status, attempts, not_before,
                                   related_type, related_id, created_at, updated_at)
        SELECT 'booking_confirmed', 'x', 'i', 'x',
               (ARRAY['delivered','delivered','delivered','failed','suppressed'])[1 + id % 5], 1,
               starts_at - interval '1 day', 'appointment', id, starts_at - interval '1 day', now()
        FROM appointment""",
]


async def _seed(database_url: str) -> dict[str, int]:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    maker = create_sessionmaker(engine)
    async with maker() as session:
        city = await create_staff_user(
            session, username="bench-city", display_name="市督导", role=Role.SUPERVISOR, password=PASSWORD,
            unit_id=1,
        )  # fmt: skip
        await session.commit()
    async with engine.begin() as conn:
        for statement in SEED_SQL:
            await conn.execute(text(statement))
    async with engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    async with maker() as session:
        session.add(
            StaffUser(
                username="bench-district",
                display_name="区督导",
                role=Role.SUPERVISOR,
                unit_id=2,
                password_hash=city.password_hash,
            )
        )
        await session.commit()
    async with engine.connect() as conn:
        counts = {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # noqa: S608
            for table in (
                "referral_case",
                "hotline_call",
                "appointment",
                "outbox_message",
                "referral",
                "case_task",
                "voice_call",
            )
        }
    await engine.dispose()
    return counts


async def _plans(database_url: str, code_today: Any) -> list[tuple[str, str]]:
    """(SQL, EXPLAIN ANALYZE) of every statement the city's dashboard sends for this quarter."""
    engine = create_engine(database_url)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        captured.append((statement, parameters))

    async with create_sessionmaker(engine)() as session:
        await comparison(
            session,
            FigureScope(unit_id=1),
            current_period(PeriodKind.QUARTER, code_today),
            timezone="Asia/Shanghai",
            now=datetime.now(UTC),
        )
    event.remove(engine.sync_engine, "before_cursor_execute", _capture)
    statements = captured  # the three periods are counted together, one statement per figure
    plans = []
    async with engine.connect() as conn:
        for statement, parameters in statements:
            result = await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
            plans.append((statement, "\n".join(row[0] for row in result.all())))
    await engine.dispose()
    return plans


async def run(duration: int, connections: int, workdir: Path) -> dict[str, Any]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fh_bench_rep_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = None
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    quarter = current_period(PeriodKind.QUARTER, today)
    try:
        began = datetime.now(UTC)
        load = os.getloadavg()
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
        city = await _log_in(base, "bench-city")
        district = await _log_in(base, "bench-district")
        dashboard = f"/reports?period={quarter.code}"
        report = f"/reports/quarterly/{quarter.previous().code}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for path in (dashboard, report):
                answer = await client.get(path, cookies={"fh_session": city})
                assert answer.status_code == 200, answer.text[:300]
        phases = {}
        for label, path, cookie in (
            ("GET /health", "/health", city),
            (f"GET {dashboard} (city: 9 units)", dashboard, city),
            (f"GET {dashboard} (one district)", dashboard, district),
            (f"GET {report} (city)", report, city),
        ):
            phases[label] = _wrk(base + path, cookie, duration, connections, workdir)
        plans = await _plans(database_url, today)
        return {
            "counts": counts,
            "seed_seconds": seed_seconds,
            "phases": phases,
            "plans": plans,
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


def _report(result: dict[str, Any]) -> str:
    health = result["phases"]["GET /health"]
    lines = [
        "# Reports dashboard and quarterly report on PostgreSQL",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {_machine()}; load average at start "
        f"{result['load'][0]:.2f} (the machine is shared with other work, so ratios matter, not absolutes).",
        "",
        "PostgreSQL, one uvicorn process (`family-hotline serve`, embedded mode), driven by `wrk` with "
        f"{result['connections']} connections for {result['duration']} s per endpoint.",
        "",
        "Seeded rows: "
        + ", ".join(f"{table} {count:,}" for table, count in result["counts"].items())
        + f" (seeded in {result['seed_seconds']:.0f} s).",
        "",
        "| endpoint | requests | non-2xx | p50 ms | p99 ms | p50 ÷ /health | p99 ÷ /health |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, stats in result["phases"].items():
        lines.append(
            f"| {label} | {stats['requests']:,} | {stats['non2xx']} | {stats['p50'] / 1000:.1f} | "
            f"{stats['p99'] / 1000:.1f} | {stats['p50'] / max(health['p50'], 1):.1f} | "
            f"{stats['p99'] / max(health['p99'], 1):.1f} |"
        )
    lines += [
        "",
        "## Query plans (the city's dashboard, this quarter, its previous quarter and a year before, counted together)",
        "",
    ]
    for statement, plan in result["plans"]:
        lines += ["```sql", " ".join(statement.split()), "```", "```", plan, "```", ""]
    return "\n".join(lines) + "\n"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        result = await run(args.duration, args.connections, Path(workdir))
    out = ROOT / "bench" / "REPORTS_RESULTS.md"
    out.write_text(_report(result))
    print(out.read_text()[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
