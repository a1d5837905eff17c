"""Benchmark: a calendar feed of 5,000 events — rendering, the whole request, the 304 path, and whether a
feed being fetched stalls the rest of the server.

In one run, per database backend:
  render     — the 5,000-event text written by `booking.calendar.render_feed` against the renderer the
               feeds used before (icalendar's Calendar/Event and `to_ical()`, rebuilt below as the
               baseline), best of several rounds, in this process;
  service    — `booking.calendar.expert_feed` on the database: query, 5,000 decryptions and the text;
               and the 304 path (If-None-Match), which is one aggregate query;
  HTTP       — the real server (`family-hotline serve`, one uvicorn process) under `wrk`: GET /health
               alone (the baseline), the feed URL, the feed with If-None-Match (304), and /health again
               while a second wrk keeps fetching the feed, to see whether /health stalls.
Results go to bench/FEED_RESULTS.md with the machine noted; ratios are to the baseline of the same run.

Run: .venv/bin/python bench/calendar_feed.py [--events 5000] [--seconds 8] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy import select as sql_select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from booking_race import POSTGRES_ADMIN_URL, _free_port, _machine, _wait_until_up  # noqa: E402
from icalendar import Calendar, Event  # noqa: E402

from app.migrate import upgrade_database  # noqa: E402
from booking.calendar import (  # noqa: E402
    RENDERED,
    FeedEntry,
    FeedExpert,
    FeedScope,
    expert_feed,
    render_feed,
)
from booking.feed_links import expert_feed_token, issue_expert_feed  # noqa: E402
from booking.models import Appointment, AppointmentStatus, Expert, Site  # noqa: E402
from core.db import create_engine, create_sessionmaker, utcnow  # noqa: E402
from core.i18n import load_translations  # noqa: E402
from core.privacy import FieldCipher, phone_index  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.units import DEFAULT_UNIT_ID  # noqa: E402
from core.vocabulary import CATEGORIES, MODES, label  # noqa: E402

RESULTS = ROOT / "bench" / "FEED_RESULTS.md"


def render_with_icalendar(scope: FeedScope, entries: list[FeedEntry]) -> bytes:
    """The baseline: how the feed was written before, with icalendar's objects (same properties)."""
    translate = load_translations(scope.locale).gettext
    cal = Calendar()
    cal.add("prodid", "-//family-hotline//expert bookings//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", scope.title)
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT15M")
    for entry in entries:
        event = Event()
        event.add("uid", entry.uid)
        event.add("dtstamp", entry.updated_at)
        event.add("last-modified", entry.updated_at)
        event.add("created", entry.created_at)
        event.add("dtstart", entry.starts_at)
        event.add("dtend", entry.ends_at)
        event.add("sequence", entry.sequence)
        event.add("status", "CANCELLED" if entry.status == AppointmentStatus.CANCELLED else "CONFIRMED")
        event.add("class", "PRIVATE")
        event.add("transp", "OPAQUE")
        topic, mode = translate(label(CATEGORIES, entry.topic)), translate(MODES.get(entry.mode, entry.mode))
        event.add("summary", translate("Consultation: {topic} ({mode})").format(topic=topic, mode=mode))
        lines = [translate("Parent's phone: {phone}").format(phone=entry.masked_phone)]
        lines.append(translate("Details after logging in: {url}").format(url=entry.detail_url))
        event.add("description", "\n".join(lines))
        if entry.place:
            event.add("location", entry.place)
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body


def _entries(count: int) -> tuple[FeedScope, list[FeedEntry]]:
    now = utcnow().replace(microsecond=0)
    url = "http://127.0.0.1/roster/experts/1"
    scope = FeedScope(
        title="咨询预约：王老师",
        locale="zh_Hans",
        experts={1: FeedExpert("王老师", "市家庭教育指导服务中心", url)},
        edited_at=now,
    )
    entries = [
        FeedEntry(
            uid=f"{uuid.uuid4()}@family-hotline",
            starts_at=now + timedelta(hours=i),
            ends_at=now + timedelta(hours=i, minutes=50),
            status="cancelled" if i % 10 == 0 else "confirmed",
            sequence=1 + i % 3,
            updated_at=now,
            created_at=now,
            topic="parenting",
            mode="in_person" if i % 2 else "phone",
            masked_phone=f"138****{i % 10000:04d}",
            place="市家庭教育指导服务中心" if i % 2 else "",
            detail_url=url,
        )
        for i in range(count)
    ]
    return scope, entries


def _best_ms(work: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def measure_render(count: int) -> dict[str, float]:
    scope, entries = _entries(count)
    ours = _best_ms(lambda: render_feed(scope, entries), 7)
    theirs = _best_ms(lambda: render_with_icalendar(scope, entries), 2)
    parsed = Calendar.from_ical(render_feed(scope, entries))
    assert len(parsed.walk("VEVENT")) == count
    return {"ours_ms": ours, "icalendar_ms": theirs}


async def _seed(settings: Settings, count: int) -> str:
    """An expert with `count` confirmed consultations from now on, written directly; their feed token."""
    await upgrade_database(settings.database_url)
    engine = create_engine(settings.database_url)
    cipher = FieldCipher(settings.data_key)
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    try:
        async with create_sessionmaker(engine)() as session:
            site = Site(name="市家庭教育指导服务中心", unit_id=DEFAULT_UNIT_ID)
            session.add(site)
            await session.flush()
            expert = Expert(name="王老师", unit_id=DEFAULT_UNIT_ID, site_id=site.id)
            issue_expert_feed(cipher, expert)
            token = expert_feed_token(cipher, expert) or ""
            session.add(expert)
            await session.flush()
            for i in range(count):
                phone = f"+86138{i:08d}"
                session.add(
                    Appointment(
                        expert_id=expert.id or 0,
                        starts_at=start + timedelta(hours=i),
                        ends_at=start + timedelta(hours=i, minutes=50),
                        mode="in_person" if i % 2 else "phone",
                        status=AppointmentStatus.CONFIRMED,
                        parent_name_ciphertext=cipher.encrypt("李女士", context="appointment.parent_name"),
                        parent_phone_ciphertext=cipher.encrypt(phone, context="appointment.parent_phone"),
                        parent_phone_index=phone_index(cipher, phone),
                        ical_uid=f"{uuid.uuid4()}@family-hotline",
                        sequence=1,
                        confirmed_at=utcnow(),
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()
    return token


async def measure_service(settings: Settings, token: str) -> dict[str, float]:
    engine = create_engine(settings.database_url)
    cipher = FieldCipher(settings.data_key)
    sessions = create_sessionmaker(engine)
    try:
        async with sessions() as session:
            feed = await expert_feed(session, cipher, settings, token)  # warm: connections, translations
        etag = feed.version.etag
        full, revalidated = float("inf"), float("inf")
        for _ in range(5):
            RENDERED.clear()  # the full path: query, decrypt, write (not the kept body)
            async with sessions() as session:
                started = time.perf_counter()
                await expert_feed(session, cipher, settings, token)
                full = min(full, (time.perf_counter() - started) * 1000)
            async with sessions() as session:
                started = time.perf_counter()
                unchanged = await expert_feed(session, cipher, settings, token, if_none_match=etag)
                revalidated = min(revalidated, (time.perf_counter() - started) * 1000)
                assert unchanged.body is None
    finally:
        await engine.dispose()
    return {"full_ms": full, "not_modified_ms": revalidated}


_WRK_LUA = """
wrk.headers["If-None-Match"] = os.getenv("FH_ETAG")
"""


def _wrk(
    url: str, seconds: int, connections: int, *, script: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "30s"]
    if script is not None:
        command += ["-s", str(script)]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    out = done.stdout

    def latency(pattern: str) -> float:
        found = re.search(pattern + r"\s+([\d.]+)(us|ms|s)\b", out)
        if not found:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    timeouts = re.search(r"Socket errors:.*timeout (\d+)", out)
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(rps.group(1)) if rps else float("nan"),
        "p50": latency(r"50%"),
        "p99": latency(r"99%"),
        "requests": int(requests.group(1)) if requests else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


@contextlib.asynccontextmanager
async def _changing(settings: Settings, seconds: float) -> AsyncIterator[None]:
    """Touch one booking of the feed every 0.05 s (as a confirmation or cancellation would) while the
    block runs, so the feed's ETag keeps changing and no GET can be answered from the kept body."""
    engine = create_engine(settings.database_url)

    async def touch() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            first = sql_select(func.min(Appointment.id)).scalar_subquery()
            async with engine.begin() as conn:
                await conn.execute(
                    update(Appointment).where(Appointment.id == first).values(updated_at=utcnow())
                )  # type: ignore[arg-type]
            await asyncio.sleep(0.05)

    task = asyncio.create_task(touch())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


async def measure_http(
    settings: Settings, token: str, seconds: int, workdir: Path
) -> dict[str, dict[str, Any]]:
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FH_DATABASE_URL": settings.database_url,
        "FH_SECRET_KEY": settings.secret_key,
        "FH_DATA_KEY": settings.data_key,
        "FH_DATA_DIR": str(workdir),
        "FH_PUBLIC_BASE_URL": base,
    }
    env.pop("FH_REDIS_URL", None)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "family-hotline"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    feed_url = f"{base}/calendar/experts/{token}.ics"
    script = workdir / "if_none_match.lua"
    script.write_text(_WRK_LUA)
    try:
        await _wait_until_up(base)
        first = httpx.get(feed_url, timeout=30)
        assert first.status_code == 200, first.status_code
        etag = first.headers["etag"]
        assert httpx.get(feed_url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
        health, feed_200 = f"{base}/health", "GET feed, unchanged (200, the kept body)"
        results = {
            "GET /health (baseline)": _wrk(health, seconds, 50),
            feed_200: _wrk(feed_url, seconds, 4),
            "GET feed with If-None-Match (304)": _wrk(
                feed_url, seconds, 50, script=script, env={"FH_ETAG": etag}
            ),
        }
        # A feed that changes all the time (one booking touched every 0.05 s), so every GET is written
        # afresh: alone, and with /health measured beside it — does the event loop stall?
        async with _changing(settings, seconds * 2 + 4):
            results["GET feed, changing (200, written every time)"] = await asyncio.to_thread(
                _wrk, feed_url, seconds, 4
            )
            background = subprocess.Popen(
                ["wrk", "-t", "1", "-c", "4", "-d", f"{seconds + 2}s", "--timeout", "30s", feed_url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                await asyncio.sleep(1)
                results["GET /health while the changing feed is fetched"] = await asyncio.to_thread(
                    _wrk, health, seconds, 50
                )
            finally:
                background.wait(timeout=seconds + 60)
        return results
    finally:
        server.terminate()  # graceful: it finishes the feeds still queued, which can take a while here
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=20)


async def run_backend(backend: str, events: int, seconds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        admin_engine = None
        db_name = f"fh_feed_bench_{uuid.uuid4().hex[:8]}"
        if backend == "sqlite":
            database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        else:
            admin_engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            async with admin_engine.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
        settings = Settings(
            database_url=database_url,
            secret_key="bench-" + "s" * 40,
            data_key="bench-" + "d" * 40,
            data_dir=workdir,
            public_base_url="http://127.0.0.1",
        )
        try:
            token = await _seed(settings, events)
            service = await measure_service(settings, token)
            http = await measure_http(settings, token, seconds, workdir)
        finally:
            if admin_engine is not None:
                async with admin_engine.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                await admin_engine.dispose()
        return {"backend": backend, "service": service, "http": http}


def _report(events: int, render: dict[str, float], backends: list[dict[str, Any]], seconds: int) -> str:
    lines = [
        "# Calendar feed benchmark",
        "",
        f"Run: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · "
        f"`bench/calendar_feed.py --events {events} --seconds {seconds}`",
        "",
        f"Machine: {_machine()}; load average at the end of the run "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1 / 5 / 15 min)",
        "",
        "A shared 2-core machine (other work ran beside it): absolute figures are noisy, the ratios to the "
        "baselines measured in the same run are the signal.",
        "",
        f"## Rendering {events:,} events (in process, best of several rounds)",
        "",
        "| renderer | ms | ratio |",
        "|---|---|---|",
        "| icalendar `Calendar`/`Event` + `to_ical()` (the feeds before; baseline) | "
        f"{render['icalendar_ms']:.0f} | 1.0 |",
        f"| `booking.ical_text` (now) | {render['ours_ms']:.0f} | "
        f"{render['ours_ms'] / render['icalendar_ms']:.3f} "
        f"({render['icalendar_ms'] / render['ours_ms']:.0f}× faster) |",
        "",
    ]
    for result in backends:
        service, http = result["service"], result["http"]
        baseline = http["GET /health (baseline)"]
        lines += [
            f"## {result['backend']}",
            "",
            f"`expert_feed()` with {events:,} events, query + decryption + text (best of 5): "
            f"**{service['full_ms']:.0f} ms**; the 304 path (one aggregate query): "
            f"**{service['not_modified_ms']:.1f} ms**.",
            "",
            f"HTTP, one server process, wrk for {seconds} s per row:",
            "",
            "| request | connections | req/s | ÷ /health req/s | p50 ms | p99 ms | non-2xx/3xx | timeouts |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, row in http.items():
            connections = 4 if name.startswith("GET feed, ") else 50
            lines.append(
                f"| {name} | {connections} | {row['rps']:.0f} | {row['rps'] / baseline['rps']:.2f} | "
                f"{row['p50']:.1f} | {row['p99']:.1f} | {row['non2xx']} | {row['timeouts']} |"
            )
        lines.append("")
    lines += [
        "An unchanged feed is served from the body kept under its ETag (`booking.feed_cache`); the "
        '"changing" rows touch one booking every 0.05 s, so that every GET of a large feed (longer than '
        "that to write) is queried, decrypted and "
        "written afresh (in a worker thread from `booking.calendar.THREAD_FROM` events on, one at a "
        "time). The last row of each table shows what that costs /health when four such downloads are "
        "always in flight: they share the same 2 cores and the GIL with the event loop, and the rows of "
        "each download are read on the event loop.",
        "",
    ]
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    render = measure_render(args.events)
    print(f"render: ours {render['ours_ms']:.1f} ms, icalendar {render['icalendar_ms']:.1f} ms", flush=True)
    backends = []
    for backend in args.backends.split(","):
        result = await run_backend(backend, args.events, args.seconds)
        print(backend, result, flush=True)
        backends.append(result)
    RESULTS.write_text(_report(args.events, render, backends, args.seconds))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
