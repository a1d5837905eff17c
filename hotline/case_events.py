"""Writing to a case's timeline. Every act on a case after intake (a note, a status change, a risk
change, a referral step, a report recorded, a task done) adds one `CaseEvent` in the same transaction
as the act, so the timeline cannot miss what happened or show what did not."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher
from hotline import cipher_contexts
from hotline.casework_models import CaseEvent

__all__ = ["EVENT_TEXT_CONTEXT", "record_event"]

# Associated data of every encrypted event text (see core.privacy).
EVENT_TEXT_CONTEXT = cipher_contexts.EVENT_TEXT


def record_event(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case_id: int,
    kind: str,
    actor: StaffUser | None = None,
    actor_label: str | None = None,
    detail: dict[str, Any] | None = None,
    text: str | None = None,
    at: datetime | None = None,
) -> CaseEvent:
    """Add one timeline entry. `actor` is the staff user who acted; without one (an agency through its
    link, a rule of the system), `actor_label` says who. `detail` holds codes and numbers only; what a
    person wrote goes in `text`, encrypted."""
    label = actor.username if actor is not None else (actor_label or "system")
    event = CaseEvent(
        case_id=case_id,
        at=at or utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_label=label,
        kind=kind,
        detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        text_ciphertext=cipher.encrypt_optional(text or None, context=EVENT_TEXT_CONTEXT),
    )
    session.add(event)
    return event
