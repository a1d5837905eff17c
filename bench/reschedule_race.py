"""Benchmark: the reschedule race, through booking's own transactions, on SQLite and PostgreSQL.

One expert has 200 confirmed consultations; 200 concurrent moves aim at 20 free times (ten at each).
Exactly 20 may win, and afterwards the database is asked in SQL for overlapping active appointments
(there must be none) and for how many rows sit on the 20 times. In the same run and on the same data
shape, the baseline is 200 concurrent new bookings (`book_for_parent`) aimed at 20 free times: the race
the database already decided before rescheduling existed. Results, as ratios to that baseline, go to
bench/RESCHEDULE_RESULTS.md with the machine they ran on.

Run: .venv/bin/python bench/reschedule_race.py [--backends sqlite,postgresql] [--in-flight 24]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

from sqlalchemy import text
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.migrate import upgrade_database  # noqa: E402
from booking.appointments import book_for_parent  # noqa: E402
from booking.errors import SlotTaken  # noqa: E402
from booking.models import Appointment, AvailabilityRule, Expert, Site  # noqa: E402
from booking.parent_details import ParentDetails  # noqa: E402
from booking.reschedule import reschedule  # noqa: E402
from booking.slots import slots_for_expert  # noqa: E402
from core.accounts import Role, create_staff_user  # noqa: E402
from core.db import create_engine, create_sessionmaker, utcnow  # noqa: E402
from core.privacy import FieldCipher  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.units import DEFAULT_UNIT_ID  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("FH_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RACERS, TARGETS = 200, 20
OVERLAPS = (
    "SELECT count(*) FROM appointment a JOIN appointment b ON a.expert_id = b.expert_id AND a.id < b.id "
    "AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at "
    "WHERE a.status IN ('held', 'confirmed') AND b.status IN ('held', 'confirmed')"
)


@dataclass
class Race:
    name: str
    winners: int
    seconds: float
    overlaps: int
    on_targets: int


async def _world(settings: Settings, cipher: FieldCipher) -> tuple[Expert, list[datetime], list[int], int]:
    """An expert open every hour of every day, 200 confirmed consultations, and 20 free target times."""
    async with create_sessionmaker(create_engine(settings.database_url))() as session:
        staff = await create_staff_user(
            session,
            username=f"bench-{uuid.uuid4().hex[:6]}",
            display_name="bench",
            role=Role.COORDINATOR,
            password="bench-password-not-used-2026",  # noqa: S106  (an account nobody logs in to)
            unit_id=DEFAULT_UNIT_ID,
        )
        site = Site(name="bench", unit_id=DEFAULT_UNIT_ID)
        session.add(site)
        await session.flush()
        expert = Expert(
            unit_id=DEFAULT_UNIT_ID,
            name="bench",
            specialties="parenting",
            modes="phone",
            site_id=site.id,
            slot_minutes=45,
            buffer_minutes=15,
        )
        session.add(expert)
        await session.flush()
        for weekday in range(7):
            session.add(
                AvailabilityRule(
                    expert_id=expert.id or 0, weekday=weekday, start_local=clock(8), end_local=clock(20)
                )
            )
        await session.commit()
        slots = await slots_for_expert(session, settings, expert)
        homes = slots[TARGETS : TARGETS + RACERS]
        for i, start in enumerate(homes):
            session.add(
                Appointment(
                    expert_id=expert.id or 0,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=45),
                    mode="phone",
                    status="confirmed",
                    parent_name_ciphertext=cipher.encrypt("家长", context="appointment.parent_name"),
                    parent_phone_ciphertext=cipher.encrypt(
                        f"+86138{i:08d}", context="appointment.parent_phone"
                    ),
                    parent_phone_index=f"bench{i}",
                    ical_uid=f"bench-{i}-{uuid.uuid4()}",
                    confirmed_at=utcnow(),
                    sequence=1,
                )
            )
        await session.commit()
        ids = [
            i or 0 for i in (await session.exec(select(Appointment.id).order_by(col(Appointment.id)))).all()
        ]
        return expert, slots[:TARGETS], ids, staff.id or 0


async def _count(database_url: str, sql: str, params: dict[str, object] | None = None) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql), params or {})).scalar_one())
    finally:
        await engine.dispose()


async def _race(name: str, settings: Settings, attempts: list) -> Race:
    started = time.perf_counter()
    outcomes = await asyncio.gather(*attempts)
    seconds = time.perf_counter() - started
    overlaps = await _count(settings.database_url, OVERLAPS)
    return Race(name, outcomes.count(True), seconds, overlaps, 0)


async def run_backend(backend: str, in_flight: int, workdir: Path) -> list[Race]:
    admin = None
    db_name = f"fh_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'{db_name}.db'}"
    else:
        admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    settings = Settings(
        database_url=url, secret_key="bench-" + "s" * 40, data_key="bench-" + "d" * 40, data_dir=workdir
    )
    cipher = FieldCipher(settings.data_key)
    await upgrade_database(url)
    engines = [create_engine(url) for _ in range(4)]
    gate = asyncio.Semaphore(in_flight)
    try:
        expert, targets, ids, staff_id = await _world(settings, cipher)
        # Baseline: 200 new bookings racing for 20 free times (the race booking already wins in the database).
        baseline_targets = (
            targets[10:] + targets[:10]
        )  # same times, so the moves below meet the bookings' rows

        async def booking(i: int) -> bool:
            async with gate, create_sessionmaker(engines[i % 4])() as session:
                try:
                    await book_for_parent(
                        session,
                        cipher,
                        settings,
                        expert_id=expert.id or 0,
                        starts_at=baseline_targets[i % TARGETS],
                        mode="phone",
                        details=ParentDetails(name="新家长", phone=f"139{i:08d}"),
                        locale="zh_Hans",
                        booked_by_id=staff_id,
                    )
                    return True
                except SlotTaken:
                    return False

        baseline = await _race(
            "200 new bookings → 20 free times (baseline)", settings, [booking(i) for i in range(RACERS)]
        )
        # Free the 20 times again (cancel the winners) so the moves race for the same times.
        async with engines[0].begin() as conn:
            await conn.execute(
                text("UPDATE appointment SET status = 'cancelled' WHERE parent_phone_index NOT LIKE 'bench%'")
            )

        async def move(i: int) -> bool:
            async with gate, create_sessionmaker(engines[i % 4])() as session:
                try:
                    await reschedule(
                        session,
                        cipher,
                        settings,
                        appointment_id=ids[i],
                        starts_at=targets[i % TARGETS],
                        moved_by=None,
                    )
                    return True
                except SlotTaken:
                    return False

        moved = await _race("200 reschedules → 20 free times", settings, [move(i) for i in range(RACERS)])
        moved.on_targets = await _count(url, "SELECT count(*) FROM appointment_move")
    finally:
        for engine in engines:
            await engine.dispose()
        if admin is not None:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            await admin.dispose()
    return [baseline, moved]


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    return f"{os.cpu_count()} cores, {cpu}; {platform.platform()}; Python {platform.python_version()}"


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--in-flight", type=int, default=24, help="transactions open at once")
    args = parser.parse_args()
    lines = [
        "# Reschedule race",
        "",
        f"Machine: {_machine()} (shared with other work while it ran: read the ratios, not the seconds).",
        f"Run: {datetime.now().isoformat(timespec='seconds')}, {RACERS} racers, {TARGETS} free times, "
        f"{args.in_flight} transactions in flight, through booking's service functions (no HTTP).",
        "",
        "| backend | race | winners | overlaps (SQL) | moves recorded | seconds | × baseline |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            baseline, moved = await run_backend(backend, args.in_flight, Path(tmp))
            for race in (baseline, moved):
                recorded = str(race.on_targets) if race is moved else "—"
                lines.append(
                    f"| {backend} | {race.name} | {race.winners} | {race.overlaps} | {recorded} | "
                    f"{race.seconds:.2f} | {race.seconds / baseline.seconds:.2f} |"
                )
            ok = ok and moved.winners == TARGETS and moved.overlaps == 0 and moved.on_targets == TARGETS
            ok = ok and baseline.winners == TARGETS and baseline.overlaps == 0
    lines += ["", f"Every race had exactly {TARGETS} winners and no overlap: {'yes' if ok else 'NO'}.", ""]
    report = "\n".join(lines)
    (ROOT / "bench" / "RESCHEDULE_RESULTS.md").write_text(report)
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
