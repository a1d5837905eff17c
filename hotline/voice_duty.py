"""An operator's voice duty from the console: on duty with the phone they answer on, pause, resume, off.

Each change is one conditional UPDATE of the operator's `OperatorDuty` row (`state IN (allowed sources)`),
so a change that raced the dispatcher (which makes an available operator busy) changes nothing and says
why. The dispatcher owns available ↔ busy; the console never touches a busy row: an operator on a call
cannot pause or go off duty in the middle of it. The answer phone is personal data: encrypted, shown
masked. Who takes which line: someone limited to one line (StaffUser.line) is on duty for that line only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import col, update

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession
from core.errors import Conflict, FormInvalid
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_phone
from core.privacy import FieldCipher, mask_phone
from hotline.cipher_contexts import VOICE_ANSWER_PHONE
from hotline.taxonomy import LINES
from hotline.voice_models import DutyState, OperatorDuty

__all__ = [
    "DUTY_ACTS",
    "DutyAct",
    "DutyView",
    "change_duty",
    "duty_lines",
    "duty_view",
]


class DutyAct(StrEnum):
    ON = "on"  # on duty (or a new answer phone while on duty and not on a call)
    PAUSE = "pause"
    RESUME = "resume"
    OFF = "off"


# Where each console act leads, and from which states it may be taken. BUSY is never a source: the
# dispatcher and Twilio's callbacks end a busy spell, not the operator's console.
DUTY_ACTS: dict[DutyAct, DutyState] = {
    DutyAct.ON: DutyState.AVAILABLE,
    DutyAct.PAUSE: DutyState.PAUSED,
    DutyAct.RESUME: DutyState.AVAILABLE,
    DutyAct.OFF: DutyState.OFF,
}
_SOURCES: dict[DutyAct, tuple[DutyState, ...]] = {
    DutyAct.ON: (DutyState.OFF, DutyState.AVAILABLE, DutyState.PAUSED),
    DutyAct.PAUSE: (DutyState.AVAILABLE,),
    DutyAct.RESUME: (DutyState.PAUSED,),
    DutyAct.OFF: (DutyState.AVAILABLE, DutyState.PAUSED),
}
ON_A_CALL = N_(
    "You are on a call (or your phone is ringing with one) right now: finish it first. "
    "You can pause or go off duty once it has ended."
)
_REFUSED = {
    DutyAct.PAUSE: N_("You can pause only while you are on duty and waiting for calls."),
    DutyAct.RESUME: N_("You can resume only after a pause."),
    DutyAct.OFF: N_("You are not on duty."),
    DutyAct.ON: ON_A_CALL,
}


@dataclass(frozen=True)
class DutyView:
    state: str  # DutyState
    answer_phone_masked: str  # "" when none was given yet
    idle_since: datetime | None
    lines: tuple[str, ...]  # the lines this person takes calls on


def duty_lines(user: StaffUser) -> tuple[str, ...]:
    """The lines someone is on duty for: their one line, or every line."""
    return (user.line,) if user.line else tuple(LINES)


async def _duty_row(session: AsyncSession, user: StaffUser) -> OperatorDuty | None:
    return await session.get(OperatorDuty, user.id, populate_existing=True)


async def duty_view(session: AsyncSession, cipher: FieldCipher, user: StaffUser) -> DutyView:
    row = await _duty_row(session, user)
    if row is None:
        return DutyView(state=DutyState.OFF, answer_phone_masked="", idle_since=None, lines=duty_lines(user))
    phone = cipher.decrypt_optional(row.answer_phone_ciphertext, context=VOICE_ANSWER_PHONE)
    return DutyView(
        state=row.state,
        answer_phone_masked=mask_phone(phone),
        idle_since=row.idle_since,
        lines=duty_lines(user),
    )


def _answer_phone(raw: str | None, row: OperatorDuty | None) -> str | None:
    """The checked new number; None to keep the stored one (a blank field when one is stored)."""
    if not (raw or "").strip() and row is not None and row.answer_phone_ciphertext:
        return None
    try:
        return normalize_mainland_phone(raw or "")
    except InvalidFormat as exc:
        raise FormInvalid({"answer_phone": str(exc)}) from exc


async def change_duty(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    user: StaffUser,
    act: DutyAct,
    now: datetime,
    answer_phone: str | None = None,
    client_ip: str | None = None,
) -> DutyState:
    """Take one console act and commit it with its audit row; returns the new state. FormInvalid (a bad
    number) or Conflict (the current state does not allow it, e.g. on a call) change nothing."""
    target = DUTY_ACTS[act]
    sources = _SOURCES[act]
    try:
        row = await _duty_row(session, user)
        phone = _answer_phone(answer_phone, row) if act is DutyAct.ON else None
        if act is DutyAct.ON and row is None:
            assert phone is not None  # no stored number: _answer_phone demanded one
            row = OperatorDuty(staff_user_id=user.id or 0, state=DutyState.OFF, updated_at=now)
            session.add(row)
            await session.flush()
        if row is None:
            raise Conflict(_REFUSED[act])
        previous = row.state
        values: dict[str, object] = {"state": target, "updated_at": now}
        if target is DutyState.AVAILABLE:
            # Idle from now: a resumed operator queues behind those who waited meanwhile. Changing the
            # number while already available keeps their place.
            if previous != DutyState.AVAILABLE:
                values["idle_since"] = now
        else:
            values["idle_since"] = None
        if phone is not None:
            values["answer_phone_ciphertext"] = cipher.encrypt(phone, context=VOICE_ANSWER_PHONE)
        changed = await session.exec(
            update(OperatorDuty)
            .where(col(OperatorDuty.staff_user_id) == user.id, col(OperatorDuty.state).in_(sources))
            .values(**values)
        )
        if changed.rowcount != 1:
            current = await _duty_row(session, user)
            busy = current is not None and current.state == DutyState.BUSY
            raise Conflict(ON_A_CALL if busy else _REFUSED[act])
        record_audit(
            session,
            actor_id=user.id,
            actor_label=user.username,
            action=f"voice.duty_{act.value}",
            object_type="operator_duty",
            object_id=user.id or 0,
            detail={"from": previous, "to": target, "new_phone": phone is not None},
            client_ip=client_ip,
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return target
