"""A small world for voice tests: the app in Twilio mode (the real client pointed at our fake), voice
numbers and hours configured, operators on duty, and Twilio's signed requests for one simulated call."""

from __future__ import annotations

import asyncio
import secrets
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.cipher_contexts import VOICE_ANSWER_PHONE
from hotline.voice_models import DutyState, OperatorDuty, VoiceCall, VoiceOffer
from notifications.voice_calls_api import OutboundCall
from tests.conftest import make_user
from tests.fakes.twilio_server import FakeTwilio

BASE = "http://testserver.local"
VOICE = BASE + "/webhooks/twilio/voice"
NUMBER_12355 = "+8657112355000"
NUMBER_FAMILY = "+8657196000001"
NUMBER_MENU = "+8657196000000"
CALLER = "+8613812345678"
ALWAYS_OPEN = "12355=mon-sun 00:00-24:00,hol 00:00-24:00;family_edu=mon-sun 00:00-24:00,hol 00:00-24:00"


def voice_settings(twilio_settings: Settings, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "voice_numbers": f"{NUMBER_12355}=12355@1,{NUMBER_FAMILY}=family_edu@1,{NUMBER_MENU}=@1",
        "voice_hours": ALWAYS_OPEN,
    }
    return twilio_settings.with_overrides(**{**values, **overrides})


def twiml(response: Any) -> ET.Element:
    """The TwiML answer parsed: the <Response> element."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)  # noqa: S314 (our own answer, in a test)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


@dataclass
class Call:
    """One caller's call as Twilio would drive it."""

    world: VoiceWorld
    sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    to: str = NUMBER_12355
    from_: str = CALLER

    async def post(self, path: str, **fields: str) -> Any:
        return await self.world.fake.post_voice(
            self.world.client, VOICE + path, self.sid, from_=self.from_, to=self.to, **fields
        )

    async def incoming(self) -> Any:
        return await self.post("/incoming")

    async def press(self, digits: str) -> Any:
        return await self.post("/menu", Digits=digits, CallStatus="in-progress")

    async def wait_loop(self, position: int = 1) -> Any:
        return await self.post("/wait", QueuePosition=str(position), QueueTime="5", CallStatus="in-progress")

    async def status(self, status: str, **fields: str) -> Any:
        return await self.post("/status", CallStatus=status, **fields)

    async def row(self) -> VoiceCall:
        async with create_sessionmaker(self.world.engine)() as session:
            found = (await session.exec(select(VoiceCall).where(VoiceCall.call_sid == self.sid))).one()
            return found


@dataclass
class VoiceWorld:
    client: AsyncTestClient[Litestar]
    fake: FakeTwilio
    engine: AsyncEngine
    cipher: FieldCipher
    settings: Settings

    def call(self, **kwargs: Any) -> Call:
        return Call(self, **kwargs)

    async def on_duty(
        self,
        phone: str,
        *,
        role: str = "operator",
        unit_id: int = 1,
        line: str | None = None,
        idle_minutes: int = 1,
    ) -> int:
        user = await make_user(self.engine, role, unit_id=unit_id)
        async with create_sessionmaker(self.engine)() as session:
            if line is not None:
                staff = await session.get(type(user), user.id)
                assert staff is not None
                staff.line = line
            session.add(
                OperatorDuty(
                    staff_user_id=user.id,
                    state=DutyState.AVAILABLE,
                    answer_phone_ciphertext=self.cipher.encrypt(phone, context=VOICE_ANSWER_PHONE),
                    idle_since=utcnow() - timedelta(minutes=idle_minutes),
                )
            )
            await session.commit()
        assert user.id is not None
        return user.id

    async def settled(self) -> None:
        """Wait for the dispatch rounds the requests started. They run on the app's own loop (the test
        client's portal thread) and call the fake Twilio on this one, so this loop must keep running."""
        runtime = self.client.app.state.voice
        async with asyncio.timeout(20):
            while runtime.pending:  # noqa: ASYNC110 (the rounds run on another loop)
                await asyncio.sleep(0.01)

    async def offers(self) -> list[VoiceOffer]:
        async with create_sessionmaker(self.engine)() as session:
            return list((await session.exec(select(VoiceOffer).order_by(VoiceOffer.id))).all())

    async def duty(self, staff_id: int) -> OperatorDuty:
        async with create_sessionmaker(self.engine)() as session:
            duty = await session.get(OperatorDuty, staff_id)
            assert duty is not None
            return duty

    async def operator_leg(self, index: int, status: str) -> Any:
        """Twilio reporting on the `index`-th operator leg it placed."""
        placed = self.fake.calls[index]
        assert placed.status_callback is not None
        params = self.fake.voice_params(placed.sid, from_=placed.from_, to=placed.to, CallStatus=status)
        params["Direction"] = "outbound-api"
        return await self.fake.post_signed(self.client, placed.status_callback, params)

    async def operator_answers(self, index: int) -> Any:
        placed = self.fake.calls[index]
        params = self.fake.voice_params(
            placed.sid, from_=placed.from_, to=placed.to, CallStatus="in-progress"
        )
        params["Direction"] = "outbound-api"
        return await self.fake.post_signed(self.client, placed.url, params)


@dataclass
class RecordingVoiceApi:
    """Stands in for Twilio's Calls API where a request handler awaits it: the test client blocks this
    loop while the app (on the portal's loop) answers, so the HTTP fake on this loop could not reply."""

    placed: list[OutboundCall] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)

    async def place_call(self, call: OutboundCall) -> str:
        self.placed.append(call)
        return "CA" + secrets.token_hex(16)

    async def redirect(self, call_sid: str, url: str) -> None:
        raise AssertionError("no redirect is expected")

    async def cancel(self, call_sid: str) -> None:
        self.canceled.append(call_sid)

    async def aclose(self) -> None:
        return None


async def age_queue(engine: AsyncEngine, call_sid: str, seconds: int) -> None:
    """Pretend the call has waited `seconds` in the queue."""
    async with create_sessionmaker(engine)() as session:
        row = (await session.exec(select(VoiceCall).where(VoiceCall.call_sid == call_sid))).one()
        assert row.queued_at is not None
        row.queued_at = row.queued_at - timedelta(seconds=seconds)
        session.add(row)
        await session.commit()


@asynccontextmanager
async def open_world(settings: Settings, fake: FakeTwilio, engine: AsyncEngine) -> AsyncIterator[VoiceWorld]:
    async with voice_client(settings) as client:
        yield VoiceWorld(client, fake, engine, FieldCipher(settings.data_key), settings)


def voice_client(settings: Settings) -> AsyncTestClient[Litestar]:
    from app.server import create_app

    return AsyncTestClient(app=create_app(settings), base_url=BASE)
