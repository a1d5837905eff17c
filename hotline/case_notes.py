"""Notes on a case: what an operator or supervisor writes down between calls (a call to the school, a
word with a colleague). Each note is one timeline entry, its text encrypted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.privacy import FieldCipher
from hotline.case_acts import audit_case_act, open_case_for_change, transaction, update_case_row
from hotline.case_events import record_event
from hotline.case_guard import CASE_CLOSED_MESSAGE
from hotline.casework_models import CaseEvent
from hotline.form_text import written_text

__all__ = ["NOTE_MAX_LENGTH", "NewNote", "add_note"]

NOTE_MAX_LENGTH = 4000


@dataclass(frozen=True)
class NewNote:
    text: str | None = None


async def add_note(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    note: NewNote,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> CaseEvent:
    now = now or utcnow()
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        errors: dict[str, str] = {}
        text = written_text(
            errors,
            "text",
            note.text,
            max_length=NOTE_MAX_LENGTH,
            missing=N_("Write the note."),
            too_long=N_("The note is too long: at most 4000 characters."),
        )
        if errors:
            raise FormInvalid(errors)
        # The case's row is touched too: its "last changed" time, and the closed check inside the UPDATE.
        if not await update_case_row(session, case, {"updated_at": now}):
            raise FormInvalid({"case": CASE_CLOSED_MESSAGE})
        event = record_event(
            session, cipher, case_id=case.id or 0, kind="note", actor=actor, text=text, at=now
        )
        audit_case_act(session, actor, "case.note", case, client_ip=client_ip)
        await session.flush()
    return event
