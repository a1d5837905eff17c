"""Alerts to staff about a case: a line on the recipient's home page, and for on-duty supervisors and
owners with a mobile on file an SMS through the outbox. The text names a case number and what is
needed, never the child or the caller (DOMAIN-SOURCES req. 21).

"Alert once" is a database fact: a `(recipient, dedupe_key)` pair is unique, so the job that sees an
item turn red can run twice, or in two workers, and each person still hears about it once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession, utcnow
from core.i18n import load_translations
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit
from hotline import cipher_contexts
from hotline.casework_models import StaffAlert
from notifications.models import MessageKind
from notifications.outbox import enqueue
from notifications.texts import render_sms

__all__ = ["MOBILE_CONTEXT", "AlertText", "alert_staff", "alert_text", "supervisors_over"]

# Associated data of a staff member's encrypted mobile number.
MOBILE_CONTEXT = cipher_contexts.STAFF_MOBILE

AlertText = tuple[str, dict[str, Any]]  # an English gettext id with `{named}` fields, and their values


def alert_text(message: str, params: dict[str, Any], locale: str) -> str:
    return load_translations(locale).gettext(message).format(**params)


async def supervisors_over(session: AsyncSession, unit_id: int, line: str | None = None) -> list[StaffUser]:
    """Active supervisors of the unit and of every unit above it: those whose scope covers its records.
    With `line` (a case's), not those limited to another line (StaffUser.line): they cannot see it."""
    path = (await session.exec(select(OrgUnit.path).where(OrgUnit.id == unit_id))).one()
    chain = [int(part) for part in path.strip("/").split("/") if part]
    query = (
        select(StaffUser)
        .where(
            col(StaffUser.unit_id).in_(chain),
            StaffUser.role == Role.SUPERVISOR,
            col(StaffUser.is_active).is_(True),
        )
        .order_by(col(StaffUser.id))
    )
    if line is not None:
        query = query.where(col(StaffUser.line).is_(None) | (col(StaffUser.line) == line))
    rows = await session.exec(query)
    return list(rows.all())


async def alert_staff(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    recipients: Iterable[StaffUser],
    case_id: int | None,
    kind: str,
    text: AlertText,
    dedupe_key: str,
    sms_to_on_duty: bool = True,
) -> int:
    """Alert each recipient once per `dedupe_key`, in the caller's transaction; returns how many new
    alerts were written. Recipients who are on duty and have a mobile also get an SMS."""
    message, params = text
    written = 0
    for recipient in recipients:
        if recipient.id is None:
            continue
        try:
            async with session.begin_nested():
                session.add(
                    StaffAlert(
                        recipient_id=recipient.id,
                        case_id=case_id,
                        kind=kind,
                        message=message,
                        params=json.dumps(params, ensure_ascii=False, sort_keys=True),
                        dedupe_key=dedupe_key,
                        created_at=utcnow(),
                    )
                )
                await session.flush()
        except IntegrityError:
            continue  # already alerted about this
        written += 1
        if sms_to_on_duty and recipient.on_duty and recipient.mobile_ciphertext:
            await enqueue(
                session,
                cipher,
                kind=MessageKind.STAFF_ALERT,
                to_e164=cipher.decrypt(recipient.mobile_ciphertext, context=MOBILE_CONTEXT),
                body=render_sms(
                    MessageKind.STAFF_ALERT,
                    locale=settings.default_locale,
                    signature=settings.sms_signature,
                    text=alert_text(message, params, settings.default_locale),
                ),
                related_type="staff_alert",
                related_id=recipient.id,
            )
    return written
