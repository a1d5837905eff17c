"""The call record: one `voice_call` row per Twilio CallSid, created by whichever of Twilio's requests
comes first and moved only forward through CALL_TRANSITIONS.

Twilio retries webhooks and its callbacks may arrive twice or out of order, so:
- the row is inserted with INSERT … ON CONFLICT (call_sid) DO NOTHING and then read, so two requests for
  one new call both end on the same row (SQLite and PostgreSQL alike);
- every status change is a conditional UPDATE on the status the change was computed from; a request that
  lost the race reads the row again and finds the change either done or no longer legal;
- first timestamps are kept (`coalesce`), so a repeated callback does not move them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from hotline.cipher_contexts import VOICE_CALLER_PHONE
from hotline.voice_models import CALL_TRANSITIONS, CallOutcome, CallStatus, VoiceCall

__all__ = [
    "FINAL_TWILIO_STATUSES",
    "advance",
    "end_call",
    "ending_values",
    "find_call",
    "open_call",
    "seconds_between",
]

# Twilio's final statuses of a call (its CallStatus parameter).
FINAL_TWILIO_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# After this many lost races something is wrong; give up rather than spin.
_MAX_TRIES = 5


# The first request of a call writes its row with this one statement, built once: the values go as bound
# parameters, so no statement is built or cache-keyed per call (the ORM's insert did both each time).
_CALLS = VoiceCall.__table__  # type: ignore[attr-defined]
_INSERT_POSTGRESQL = (
    pg_insert(_CALLS).on_conflict_do_nothing(index_elements=["call_sid"]).returning(_CALLS.c.id)
)
_INSERT_SQLITE = (
    sqlite_insert(_CALLS).on_conflict_do_nothing(index_elements=["call_sid"]).returning(_CALLS.c.id)
)


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else max(int((end - start).total_seconds()), 0)


async def find_call(session: AsyncSession, call_sid: str) -> VoiceCall | None:
    rows = await session.exec(
        select(VoiceCall).where(VoiceCall.call_sid == call_sid).execution_options(populate_existing=True)
    )
    return rows.first()


def _caller_fields(cipher: FieldCipher, caller: str) -> dict[str, str | None]:
    # Twilio sends "anonymous", "+266696687" or an empty From for withheld numbers: nothing to call back.
    number = caller.strip()
    if not (number.startswith("+") and number[1:].isdigit() and len(number) >= 8) or number == "+266696687":
        return {"caller_phone_ciphertext": None, "caller_phone_index": None}
    return {
        "caller_phone_ciphertext": cipher.encrypt(number, context=VOICE_CALLER_PHONE),
        "caller_phone_index": phone_index(cipher, number),
    }


async def open_call(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    call_sid: str,
    unit_id: int,
    line: str,
    to_number: str,
    caller: str,
    status: CallStatus = CallStatus.RINGING,
    outcome: CallOutcome | None = None,
    now: datetime | None = None,
) -> tuple[VoiceCall, bool]:
    """The row of `call_sid` and whether this request created it (race-safe). A new row starts at
    `status`: the incoming webhook, deciding menu or voicemail at once, writes the call in one statement
    (RINGING → IN_MENU or RECORDING are legal moves, so a later request sees the same history)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "call_sid": call_sid,
        "unit_id": unit_id,
        "line": line,
        "to_number": to_number[:32],
        "status": status,
        "outcome": outcome,
        "crisis": False,
        "ringing_at": now,
        "updated_at": now,
        **_caller_fields(cipher, caller),
    }
    insert = _INSERT_POSTGRESQL if session.get_bind().dialect.name == "postgresql" else _INSERT_SQLITE
    created = await session.exec(insert, params=values)
    new_id = created.scalar_one_or_none()
    if new_id is not None:
        return VoiceCall(id=new_id, **values), True
    row = await find_call(session, call_sid)
    assert row is not None  # there already: the conflict says so
    return row, False


async def advance(
    session: AsyncSession,
    call_sid: str,
    target: CallStatus,
    values: Callable[[VoiceCall], dict[str, Any]] | None = None,
    *,
    only_if: Callable[[VoiceCall], bool] | None = None,
) -> VoiceCall | None:
    """Move the call to `target` if its table allows it from where the row is now (and `only_if` holds);
    `values(row)` gives the other columns to set. The moved row, or None when it did not move."""
    for _ in range(_MAX_TRIES):
        row = await find_call(session, call_sid)
        if row is None or not CALL_TRANSITIONS.allowed(row.status, target):
            return None
        if only_if is not None and not only_if(row):
            return None
        changes = {**(values(row) if values else {}), "status": target, "updated_at": utcnow()}
        moved = await session.exec(
            update(VoiceCall)
            .where(col(VoiceCall.id) == row.id, col(VoiceCall.status) == row.status)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:
            return await find_call(session, call_sid)
    return None


def ending_values(
    row: VoiceCall, settings: Settings, now: datetime, *, twilio_status: str, duration: int | None
) -> dict[str, Any]:
    """How a call that just hung up went, from where it was when it ended."""
    values: dict[str, Any] = {"ended_at": row.ended_at or now}
    if duration is not None:
        values["duration_seconds"] = duration
    if row.outcome is not None:
        outcome = row.outcome
    elif row.status == CallStatus.CONNECTED:
        outcome = CallOutcome.ANSWERED
    elif row.status == CallStatus.RECORDING:
        outcome = CallOutcome.VOICEMAIL
    elif twilio_status in {"failed", "busy"}:
        outcome = CallOutcome.FAILED
    else:
        outcome = CallOutcome.ABANDONED
    values["outcome"] = outcome
    if row.status in {CallStatus.QUEUED, CallStatus.OFFERED}:
        # Hung up while waiting: how long they waited, and a callback if we know the number.
        values["queue_wait_seconds"] = seconds_between(row.queued_at, now)
        if row.caller_phone_ciphertext and row.callback_due_at is None:
            values["callback_due_at"] = now + timedelta(hours=settings.voice_callback_hours)
    return values


async def end_call(
    session: AsyncSession,
    settings: Settings,
    call_sid: str,
    *,
    twilio_status: str,
    duration: int | None,
    now: datetime | None = None,
) -> VoiceCall | None:
    now = now or utcnow()
    return await advance(
        session,
        call_sid,
        CallStatus.ENDED,
        lambda row: ending_values(row, settings, now, twilio_status=twilio_status, duration=duration),
    )
