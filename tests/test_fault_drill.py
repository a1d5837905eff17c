"""The operator's fault drill (issue 11), run as processes: parents book and confirm through the served JSON
API while, one after another, Twilio answers 503 for a while, the worker is SIGKILLed while Twilio holds
one of its sends, Redis is SIGKILLed and comes back empty ten seconds later, the worker is SIGTERMed
mid-send (a deploy), and the web server is SIGKILLed. Nothing is restarted but what compose's restart
policy restarts (a killed process); the worker that lived through the Redis outage was never restarted.

Then, in the database and at the fake Twilio: every SMS went out exactly once (none lost, no duplicate),
every outbox row is terminal, everything the API acknowledged is in the database, and the outbox drained
within a minute of the last fault.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from booking.models import Appointment
from core.db import create_sessionmaker
from core.settings import Settings
from notifications.models import OutboxMessage
from tests.booking.conftest import add_expert
from tests.fakes.redis_server import RedisProcess
from tests.fakes.twilio_server import FakeTwilio
from tests.stack import Process, Stack, migrated_stack, outbox_rows, together

pytestmark = pytest.mark.redis

BOOKINGS = 60  # confirmed through the API, as in the operator's drill
LANES = 6  # parents booking at once, each with an expert of their own
# Faults begin once this many bookings are confirmed, so that traffic runs through every one of them.
FAULT_AFTER_CONFIRMED = (5, 12, 20, 30, 45)
TWILIO_OUTAGE_SECONDS = 8
REDIS_OUTAGE_SECONDS = 10
DRAIN_LIMIT_SECONDS = 60
STEP_SECONDS = 90  # the most one step may take (an SMS through an outage's backoff, a process start)

SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")
TERMINAL_SENT = {"sent", "delivered"}


@dataclass
class Booking:
    phone: str  # as the parent types it
    e164: str
    appointment_id: int | None = None  # the API answered 201
    confirmed: bool = False  # the API answered 200 to the code
    manage_token: str | None = None


@dataclass
class Parents:
    """The traffic: LANES parents booking one after another until BOOKINGS are confirmed and every fault
    has happened. A request cut off by the web server's death is not retried (it may or may not have
    been made); the parent starts a new booking once the site answers again."""

    stack: Stack
    fake: FakeTwilio
    bookings: list[Booking] = field(default_factory=list)
    posting: int = 0  # requests that change something, on their way now
    cut_off_requests: int = 0
    faults_done: asyncio.Event = field(default_factory=asyncio.Event)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def confirmed(self) -> int:
        return sum(booking.confirmed for booking in self.bookings)

    def _enough(self) -> bool:
        return self.faults_done.is_set() and self.confirmed >= BOOKINGS

    async def lane(self, expert_id: int) -> None:
        async with httpx.AsyncClient(base_url=self.stack.settings.public_base_url, timeout=20) as client:
            while not self._enough():
                number = next(self._numbers)
                booking = Booking(phone=f"139 {number:04d} 0000", e164=f"+86139{number:04d}0000")
                self.bookings.append(booking)
                held = await self._hold(client, expert_id, booking)
                if held is not None:
                    code = await self._code(booking)
                    await self._confirm(client, held, code, booking)

    async def _site_up(self, client: httpx.AsyncClient) -> None:
        async def answers() -> bool:
            try:
                return (await client.get("/health")).status_code == 200
            except httpx.TransportError:
                return False

        await self.stack.wait_for(answers, "the web server to answer again", STEP_SECONDS)
        if "fh_csrf" not in client.cookies:
            await client.get("/login")

    async def _hold(
        self, client: httpx.AsyncClient, expert_id: int, booking: Booking
    ) -> dict[str, Any] | None:
        try:
            await self._site_up(client)
            slots = (await client.get(f"/api/experts/{expert_id}/slots")).json()["slots"]
            response = await self._post(
                client,
                "/api/bookings",
                {
                    "expert_id": expert_id,
                    "starts_at": slots[1],
                    "mode": "phone",
                    "name": "李女士",
                    "phone": booking.phone,
                    "topic": "parenting",
                    "notes": "",
                },
            )
        except httpx.TransportError:
            self.cut_off_requests += 1
            return None
        assert response.status_code == 201, f"{response.status_code} {response.text}\n{self.stack.logs()}"
        held: dict[str, Any] = response.json()
        booking.appointment_id = held["appointment_id"]
        return held

    async def _post(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any]) -> httpx.Response:
        self.posting += 1
        try:
            return await client.post(path, json=payload, headers={"x-csrftoken": client.cookies["fh_csrf"]})
        finally:
            self.posting -= 1

    async def _code(self, booking: Booking) -> str:
        async def arrived() -> str | None:
            for message in self.fake.messages:
                if message.to == booking.e164 and (code := SIX_DIGITS.search(message.body)):
                    return code.group(1)
            return None

        return await self.stack.wait_for(arrived, f"the code for {booking.e164} at Twilio", STEP_SECONDS)

    async def _confirm(
        self, client: httpx.AsyncClient, held: dict[str, Any], code: str, booking: Booking
    ) -> None:
        try:
            await self._site_up(client)
            response = await self._post(
                client, f"/api/bookings/{held['verify_token']}/confirm", {"code": code}
            )
        except httpx.TransportError:
            self.cut_off_requests += 1
            return
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.stack.logs()}"
        booking.confirmed = True
        booking.manage_token = response.json()["manage_token"]


@dataclass
class Drill:
    stack: Stack
    fake: FakeTwilio
    redis: RedisProcess
    parents: Parents
    engine: AsyncEngine
    web: Process
    worker: Process
    killed_mid_send_sid: str = ""
    stopped_mid_send_sid: str = ""
    sent_without_redis: int = 0
    last_fault_at: float = 0.0

    async def after_confirmed(self, count: int) -> None:
        async def reached() -> bool:
            return self.parents.confirmed >= count

        await self.stack.wait_for(reached, f"{count} confirmed bookings", STEP_SECONDS)

    async def run(self) -> None:
        try:
            await self.after_confirmed(FAULT_AFTER_CONFIRMED[0])
            await self.twilio_unavailable()
            await self.after_confirmed(FAULT_AFTER_CONFIRMED[1])
            await self.worker_killed_while_twilio_holds_a_send()
            await self.after_confirmed(FAULT_AFTER_CONFIRMED[2])
            await self.redis_killed_and_back_empty()
            await self.after_confirmed(FAULT_AFTER_CONFIRMED[3])
            await self.worker_stopped_mid_send()
            await self.after_confirmed(FAULT_AFTER_CONFIRMED[4])
            await self.web_server_killed()
        finally:
            self.parents.faults_done.set()

    async def twilio_unavailable(self) -> None:
        self.fake.outage_status = 503
        self.fake.mode = "outage"
        await asyncio.sleep(TWILIO_OUTAGE_SECONDS)  # the outage lasts this long
        self.fake.mode = "ok"
        assert self.fake.refused, "no send met the outage"

    async def worker_killed_while_twilio_holds_a_send(self) -> None:
        self.fake.hold_next_send()
        held = await self.fake.until_a_send_is_held(STEP_SECONDS)
        await self.stack.kill(self.worker)  # Twilio has created the message; the worker never hears of it
        self.fake.release_held_sends()
        self.killed_mid_send_sid = held.sid
        self.worker = await self.stack.worker("worker-2")  # compose's restart policy

    async def redis_killed_and_back_empty(self) -> None:
        self.redis.kill()
        async with httpx.AsyncClient(base_url=self.stack.settings.public_base_url, timeout=10) as client:
            ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["redis"].startswith("degraded"), ready.text
        sent_before = len(self.fake.messages)
        await asyncio.sleep(REDIS_OUTAGE_SECONDS)  # the outage lasts this long; parents keep booking
        self.sent_without_redis = len(self.fake.messages) - sent_before
        await self.redis.start()
        assert self.worker.popen.poll() is None, f"the worker exited with Redis\n{self.stack.logs()}"
        assert self.sent_without_redis, "no SMS went out while Redis was away"

    async def worker_stopped_mid_send(self) -> None:
        self.fake.hold_next_send()
        held = await self.fake.until_a_send_is_held(STEP_SECONDS)
        worker = self.worker
        stopping = asyncio.create_task(self.stack.stop(worker, grace_seconds=STEP_SECONDS))

        async def stopping_logged() -> bool:
            return "stopping: no more jobs" in worker.log()

        await self.stack.wait_for(stopping_logged, "the worker to begin its stop", STEP_SECONDS)
        assert worker.popen.poll() is None, "the worker did not wait for its send in flight"
        self.fake.release_held_sends()
        await stopping
        assert worker.popen.returncode == 0, worker.tail()
        rows = await outbox_rows(self.engine)
        assert [row.id for row in rows if row.status == "sending"] == [], "a clean stop left rows in sending"
        [finished] = [row for row in rows if row.provider_sid == held.sid]
        assert finished.status in TERMINAL_SENT
        self.stopped_mid_send_sid = held.sid
        self.worker = await self.stack.worker("worker-3")  # the deploy's new worker

    async def web_server_killed(self) -> None:
        async def a_parent_is_posting() -> bool:
            return self.parents.posting > 0

        await self.stack.wait_for(a_parent_is_posting, "a booking request on its way", STEP_SECONDS)
        await self.stack.kill(self.web)
        self.last_fault_at = time.monotonic()
        self.web = (await self.stack.serve("serve-2")).process  # compose's restart policy


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    redis = await RedisProcess(tmp_path).start()
    yield redis
    redis.stop()


@pytest.fixture
async def drill_stack(
    queue_settings: Settings, own_redis: RedisProcess, tmp_path: Path
) -> AsyncIterator[Stack]:
    settings = queue_settings.with_overrides(
        redis_url=own_redis.url,
        outbox_sweep_seconds=1,
        # Shortened for the drill (production: 30 s). Safe here: no send in this drill takes long
        # while its worker lives.
        outbox_stall_seconds=5,
        sms_stop_grace_seconds=STEP_SECONDS,
        reminder_hours_before=0,  # a reminder would wait, pending, until a day before the consultation
        otp_sms_per_address_hour=10_000,  # every parent of the drill books from 127.0.0.1
    )
    async with migrated_stack(settings, tmp_path) as stack:
        yield stack


async def _drained(engine: AsyncEngine) -> list[OutboxMessage] | None:
    rows = await outbox_rows(engine)
    return rows if rows and all(row.status not in ("pending", "sending") for row in rows) else None


async def test_nothing_is_lost_or_sent_twice_through_every_fault_and_the_outbox_drains_within_a_minute(
    drill_stack: Stack, engine: AsyncEngine, fake_twilio: FakeTwilio, own_redis: RedisProcess
) -> None:
    stack = drill_stack
    served, worker = await together(stack.serve(), stack.worker())
    experts = [await add_expert(engine, name=f"专家{n}") for n in range(LANES)]
    parents = Parents(stack, fake_twilio)
    drill = Drill(stack, fake_twilio, own_redis, parents, engine, served.process, worker)
    began = time.monotonic()

    await asyncio.gather(drill.run(), *(parents.lane(expert.id or 0) for expert in experts))
    rows = await stack.wait_for(lambda: _drained(engine), "the outbox to drain", DRAIN_LIMIT_SECONDS)
    drained_after = time.monotonic() - drill.last_fault_at

    # Every row ended sent; each SID at Twilio belongs to exactly one row, and each row's to exactly one.
    statuses = Counter(row.status for row in rows)
    lost = [row.id for row in rows if row.status not in TERMINAL_SENT]
    at_twilio = Counter((message.to, message.body) for message in fake_twilio.messages)
    duplicates = sum(count - 1 for count in at_twilio.values())
    row_sids = [row.provider_sid for row in rows]
    twilio_sids = [message.sid for message in fake_twilio.messages]
    summary = (
        f"{len(rows)} SMS for {parents.confirmed} confirmed of {len(parents.bookings)} bookings begun; "
        f"statuses {dict(statuses)}; lost {len(lost)}, duplicates {duplicates}; "
        f"drained {drained_after:.1f} s after the last fault; whole drill {time.monotonic() - began:.0f} s; "
        f"{fake_twilio.refused} Twilio calls refused with 503, {fake_twilio.list_requests} lookups, "
        f"{drill.sent_without_redis} SMS sent while Redis was away, "
        f"{parents.cut_off_requests} requests cut off by the web server's death"
    )
    print(f"\nfault drill: {summary}")
    assert lost == [], summary
    assert duplicates == 0, summary
    assert sorted(row_sids, key=str) == sorted(twilio_sids), f"rows and Twilio disagree\n{summary}"
    assert drained_after <= DRAIN_LIMIT_SECONDS, summary

    # The send Twilio held while its worker was killed was adopted by reconciliation, not repeated.
    [adopted] = [row for row in rows if row.provider_sid == drill.killed_mid_send_sid]
    assert adopted.attempts >= 2, "the killed worker's send was never looked up"
    assert drill.stopped_mid_send_sid in row_sids

    # What the API acknowledged is in the database, and its SMS reached the parent's number once.
    async with create_sessionmaker(engine)() as session:
        appointments = {a.id: a for a in (await session.exec(select(Appointment))).all()}
    base_url = stack.settings.public_base_url
    for booking in parents.bookings:
        to_parent = [message.body for message in fake_twilio.messages if message.to == booking.e164]
        if booking.appointment_id is not None:
            assert booking.appointment_id in appointments, booking
            assert sum(bool(SIX_DIGITS.search(body)) for body in to_parent) >= 1, booking
        if booking.confirmed:
            assert appointments[booking.appointment_id].status == "confirmed", booking
            manage_url = f"{base_url}/book/manage/{booking.manage_token}"
            assert sum(manage_url in body for body in to_parent) == 1, (booking, to_parent)
    assert parents.confirmed >= BOOKINGS
