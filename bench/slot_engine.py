"""Benchmark: the slot engine and the roster-wide question, against django-appointment, same roster.

One synthetic roster (EXPERTS experts, Monday–Friday 09:00–17:00 in hour slots, every tenth expert away
for five days, 20 % of the slots booked, DAYS days ahead) goes into our PostgreSQL schema and into
django-appointment's models on SQLite (PyPI `django-appointment`, installed by this script into its own
virtual environment under bench/out/, never into the project's). Measured in the same run:
  ours, PostgreSQL:
    soonest   — booking.soonest.soonest_by_specialty: the first 3 free times of every expert with the
                specialty, in a fixed number of batched queries (the operator's question);
    full      — booking.soonest.free_slots_of: every free slot of every expert over DAYS days, batched;
    per-expert — the old way: booking.slots.slots_for_expert for each expert in turn;
    hold check — booking.slots.refusal_for (one start, its day) against slots_for_expert (the horizon),
                 which is what a hold used to compute;
  theirs, SQLite: appointment.services.get_available_slots_for_staff for every expert and day;
  pure cores: our booking.availability.free_slots against their calculate_slots +
    exclude_unavailable_slots, per expert over DAYS days, on the same in-memory bookings.
Both sides must find the same number of free slots (checked). Results: bench/SLOT_ENGINE_RESULTS.md.

Run: .venv/bin/python bench/slot_engine.py [--experts 500] [--days 60] [--their-experts 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import time as clock
import uuid
import venv
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.migrate import upgrade_database  # noqa: E402
from booking import availability  # noqa: E402
from booking.availability import BusyPeriod, SlotPolicy, free_slots  # noqa: E402
from booking.availability_models import AvailabilityException  # noqa: E402
from booking.day_plan import DateException, DayPlan  # noqa: E402
from booking.models import Appointment, AvailabilityRule, Expert  # noqa: E402
from booking.slots import refusal_for, slots_for_expert  # noqa: E402
from booking.soonest import free_slots_of, soonest_by_specialty  # noqa: E402
from core.db import create_engine, create_sessionmaker  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.units import DEFAULT_UNIT_ID  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONE = ZoneInfo("Asia/Shanghai")
OUT = ROOT / "bench" / "out"
THEIR_VENV = OUT / "venv-django-appointment"


def make_roster(experts: int, days: int, first_day: date) -> dict[str, Any]:
    rng = random.Random(9)
    roster = []
    for i in range(1, experts + 1):
        away = first_day + timedelta(days=i % 40)
        days_off = [(away.isoformat(), (away + timedelta(days=4)).isoformat())] if i % 10 == 0 else []
        bookings = []
        for d in range(days):
            day = first_day + timedelta(days=d)
            if day.weekday() >= 5 or (days_off and away <= day <= away + timedelta(days=4)):
                continue
            for hour in range(9, 17):
                if rng.random() < 0.2:
                    bookings.append((day.isoformat(), f"{hour:02d}:00", f"{hour + 1:02d}:00"))
        roster.append(
            {
                "id": i,
                "weekly": [(w, "09:00", "17:00") for w in range(5)],
                "days_off": days_off,
                "bookings": bookings,
            }
        )
    return {"first_day": first_day.isoformat(), "days": days, "experts": roster}


def _utc(day: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=ZONE).astimezone(UTC)


async def load_ours(database_url: str, roster: dict[str, Any]) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        for e in roster["experts"]:
            await conn.execute(
                insert(Expert).values(
                    id=e["id"], name=f"专家{e['id']:03d}", unit_id=DEFAULT_UNIT_ID, specialties="parenting",
                    modes="phone", slot_minutes=60, buffer_minutes=0, feed_token_hash=secrets.token_hex(32),
                    active=True, title="", bio="", created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        await conn.execute(
            insert(AvailabilityRule),
            [
                {"expert_id": e["id"], "weekday": w, "start_local": time.fromisoformat(s),
                 "end_local": time.fromisoformat(t)}
                for e in roster["experts"]
                for w, s, t in e["weekly"]
            ],
        )  # fmt: skip
        offs = [
            {"expert_id": e["id"], "kind": "off", "first_day": date.fromisoformat(a),
             "last_day": date.fromisoformat(b), "created_at": datetime.now(UTC)}
            for e in roster["experts"]
            for a, b in e["days_off"]
        ]  # fmt: skip
        if offs:
            await conn.execute(insert(AvailabilityException), offs)
        rows = [
            {
                "expert_id": e["id"], "starts_at": _utc(d, s), "ends_at": _utc(d, t), "mode": "phone",
                "status": "confirmed", "parent_name_ciphertext": "x", "parent_phone_ciphertext": "x",
                "parent_phone_index": "x", "topic": "parenting", "locale": "zh_Hans",
                "ical_uid": f"{uuid.uuid4()}@bench", "sequence": 1, "otp_attempts": 0,
                "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC),
            }
            for e in roster["experts"]
            for d, s, t in e["bookings"]
        ]  # fmt: skip
        for i in range(0, len(rows), 5000):
            await conn.execute(insert(Appointment), rows[i : i + 5000])
        max_id = max(e["id"] for e in roster["experts"])
        await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('expert', 'id'), {max_id})"))
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def _median_ms(fn: Any, runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = clock.perf_counter()
        result = await fn()
        times.append((clock.perf_counter() - started) * 1000)
    return statistics.median(times), result


async def time_ours(
    database_url: str, roster: dict[str, Any], settings: Settings, now: datetime
) -> dict[str, Any]:
    engine = create_engine(database_url)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        experts = list((await session.exec(Expert.__table__.select())).all())  # type: ignore[attr-defined]
    experts = [Expert.model_validate(dict(row._mapping)) for row in experts]

    async def soonest() -> Any:
        async with sessions() as session:
            return await soonest_by_specialty(session, settings, "parenting", now=now)

    async def full() -> Any:
        async with sessions() as session:
            return await free_slots_of(session, settings, experts, now=now)

    async def per_expert() -> Any:
        async with sessions() as session:
            return {e.id: await slots_for_expert(session, settings, e, now=now) for e in experts}

    one = experts[1]
    async with sessions() as session:
        target = (await slots_for_expert(session, settings, one, now=now))[-1]

    async def hold_check() -> Any:
        async with sessions() as session:
            return await refusal_for(session, settings, one, target, now=now)

    async def horizon_check() -> Any:
        async with sessions() as session:
            return target in await slots_for_expert(session, settings, one, now=now)

    await soonest()  # warm the pool and the caches once
    figures: dict[str, Any] = {}
    figures["soonest_ms"], found = await _median_ms(soonest, 9)
    figures["full_ms"], everyone = await _median_ms(full, 5)
    figures["per_expert_ms"], loop = await _median_ms(per_expert, 1)
    figures["hold_check_ms"], _ = await _median_ms(hold_check, 31)
    figures["horizon_check_ms"], _ = await _median_ms(horizon_check, 31)
    figures["free_total"] = sum(len(v) for v in everyone.values())
    figures["same_as_per_expert"] = {k: v for k, v in everyone.items()} == loop
    figures["experts_with_times"] = sum(1 for a in found if a.slots)
    await engine.dispose()
    return figures


def time_our_core(roster: dict[str, Any], now: datetime, *, cold: bool = False) -> tuple[float, int]:
    """Median ms per expert; `cold` empties the engine's memoised grids before each expert."""
    policy = SlotPolicy(60, 0, timedelta(0), timedelta(days=roster["days"]), "Asia/Shanghai")
    per_expert, total = [], 0
    for e in roster["experts"]:
        plan = DayPlan.of(
            [(w, time.fromisoformat(s), time.fromisoformat(t)) for w, s, t in e["weekly"]],
            [DateException(False, date.fromisoformat(a), date.fromisoformat(b)) for a, b in e["days_off"]],
        )
        busy = [BusyPeriod(_utc(d, s), _utc(d, t)) for d, s, t in e["bookings"]]
        if cold:
            availability._horizon_grid.cache_clear()
            availability._day_grid.cache_clear()
        started = clock.perf_counter()
        total += len(free_slots(plan, busy, policy, now=now))
        per_expert.append((clock.perf_counter() - started) * 1000)
    return statistics.median(per_expert), total


def their_side(roster_path: Path, their_experts: int) -> dict[str, Any]:
    python = THEIR_VENV / "bin" / "python"
    if not python.exists():
        venv.create(THEIR_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "django-appointment"], check=True)
    done = subprocess.run(
        [
            str(python),
            str(ROOT / "bench" / "django_appointment_side.py"),
            str(roster_path),
            str(their_experts),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=500)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--their-experts", type=int, default=500)
    args = parser.parse_args()
    today = datetime.now(ZONE).date()
    first_day = today + timedelta(days=7 - today.weekday() + 7)  # a Monday, one to two weeks ahead
    roster = make_roster(args.experts, args.days, first_day)
    OUT.mkdir(parents=True, exist_ok=True)
    roster_path = OUT / "slot_engine_roster.json"
    roster_path.write_text(json.dumps(roster))
    now = datetime.combine(first_day, time(0), tzinfo=ZONE).astimezone(UTC)

    from core.db import create_engine as make_engine

    admin = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    db_name = f"fh_bench_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    settings = Settings(
        database_url=database_url, secret_key="bench-" + "s" * 40, data_key="bench-" + "d" * 40,
        booking_min_notice_hours=0, booking_horizon_days=args.days,
    )  # fmt: skip
    try:
        await load_ours(database_url, roster)
        ours = await time_ours(database_url, roster, settings, now)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        await admin.dispose()
    core_ms, core_free = time_our_core(roster, now)
    ours["core_cold_ms"], _ = time_our_core(roster, now, cold=True)
    theirs = their_side(roster_path, args.their_experts)
    write_results(args, roster, ours, core_ms, core_free, theirs)


def write_results(
    args: argparse.Namespace, roster: dict[str, Any], ours: dict[str, Any], core_ms: float, core_free: int,
    theirs: dict[str, Any],
) -> None:  # fmt: skip
    bookings = sum(len(e["bookings"]) for e in roster["experts"])
    scale = args.experts / theirs["experts"]
    their_roster_ms = theirs["db_seconds"] * 1000 * scale
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    lines = [
        "# Slot engine and the roster-wide question",
        "",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · `bench/slot_engine.py --experts {args.experts} "
        f"--days {args.days} --their-experts {args.their_experts}`",
        "",
        f"Machine: {os.cpu_count()} cores, {cpu}; {platform.platform()}; Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.1f} at the end; django-appointment "
        f"{theirs['versions']['django-appointment']} on Django {theirs['versions']['django']}",
        "",
        f"Roster: {args.experts} experts, Monday–Friday 09:00–17:00 in 60-minute slots, every tenth expert "
        f"away five days (an exception), {bookings} bookings (20 % of the slots), {args.days} days from "
        f"{roster['first_day']}. Ours on PostgreSQL, theirs on SQLite (as the issue asks), both in this run.",
        "",
        "| what | ours | theirs | theirs ÷ ours |",
        "|---|---|---|---|",
        f"| roster-wide: first 3 free times of every expert (batched) | {ours['soonest_ms']:.1f} ms | "
        f"{their_roster_ms:.0f} ms (all free times: their only way) | "
        f"{their_roster_ms / ours['soonest_ms']:.0f}× |",
        f"| roster-wide: every free time of every expert, {args.days} days | {ours['full_ms']:.1f} ms | "
        f"{their_roster_ms:.0f} ms | {their_roster_ms / ours['full_ms']:.1f}× |",
        f"| pure slot core, one expert, {args.days} days (median over experts) | {core_ms:.3f} ms | "
        f"{theirs['core_ms_per_expert']:.3f} ms | {theirs['core_ms_per_expert'] / core_ms:.1f}× |",
        f"| pure slot core, memoised grids emptied before each expert | {ours['core_cold_ms']:.3f} ms | "
        f"{theirs['core_ms_per_expert']:.3f} ms | "
        f"{theirs['core_ms_per_expert'] / ours['core_cold_ms']:.1f}× |",
        "",
        "| ours only | median |",
        "|---|---|",
        f"| the old way: `slots_for_expert` for each expert in turn | {ours['per_expert_ms']:.0f} ms "
        f"({ours['per_expert_ms'] / ours['full_ms']:.1f}× the batched full answer) |",
        f"| a hold's check: `refusal_for` (the asked-for start's day) | {ours['hold_check_ms']:.2f} ms |",
        f"| what a hold computed before: `slots_for_expert` (whole horizon) | "
        f"{ours['horizon_check_ms']:.2f} ms "
        f"({ours['horizon_check_ms'] / ours['hold_check_ms']:.1f}×) |",
        "",
        f"- Free slots found: ours {ours['free_total']} (batched) and {core_free} (pure core); theirs "
        f"{theirs['db_free']} (database path, {theirs['experts']} experts) and {theirs['core_free']} "
        "(pure core).",
        f"- Batched answer equal to the per-expert answer for every expert: {ours['same_as_per_expert']}.",
        f"- Experts with a free time in the soonest answer: {ours['experts_with_times']} of {args.experts}.",
    ]
    if scale != 1:
        lines.append(
            f"- Theirs ran {theirs['experts']} of the {args.experts} experts ({theirs['db_seconds']:.1f} s); "
            f"the roster-wide figure scales that by {scale:g} (their cost is linear: one call per expert and "
            "day)."
        )
    (ROOT / "bench" / "SLOT_ENGINE_RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
