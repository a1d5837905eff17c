"""Voice call rows as the telephony's status callbacks would leave them, written straight to the database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, update

from core.db import create_sessionmaker, utcnow
from core.privacy import FieldCipher, phone_index
from core.units import DEFAULT_UNIT_ID
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.voice_models import VoiceCall

CALLER = "+8613812345678"  # tests.hotline.calls.PHONE as E.164


async def a_voice_call(
    engine: AsyncEngine,
    cipher: FieldCipher,
    *,
    phone: str | None = CALLER,
    unit_id: int = DEFAULT_UNIT_ID,
    line: str = "12355",
    **fields: Any,
) -> int:
    now = utcnow()
    async with create_sessionmaker(engine)() as session:
        call = VoiceCall(
            call_sid="CA" + uuid.uuid4().hex,
            unit_id=unit_id,
            line=line,
            to_number="+8657112355",
            caller_phone_ciphertext=cipher.encrypt_optional(phone, context=VOICE_CALLER_PHONE),
            caller_phone_index=phone_index(cipher, phone) if phone else None,
            ringing_at=fields.pop("ringing_at", now - timedelta(seconds=40)),
            **fields,
        )
        session.add(call)
        await session.commit()
        return call.id or 0


async def set_call(engine: AsyncEngine, voice_call_id: int, **values: Any) -> None:
    """What a status callback does: move the row on (and touch `updated_at`)."""
    async with create_sessionmaker(engine)() as session:
        await session.exec(
            update(VoiceCall)
            .where(col(VoiceCall.id) == voice_call_id)
            .values(updated_at=values.pop("updated_at", utcnow()), **values)
        )
        await session.commit()


async def read_call(engine: AsyncEngine, voice_call_id: int) -> VoiceCall:
    async with create_sessionmaker(engine)() as session:
        call = await session.get(VoiceCall, voice_call_id)
        assert call is not None
        return call


def ago(seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=seconds)
