"""Slow down guessing: after too many failed logins (or second-factor codes) for one username, refuse for
a while.

The failures are counted from the audit log (`login.failed` rows), which every failed attempt writes
anyway, so there is no second record to keep in step. Keyed by username rather than address: staff log
in from shared centre networks, and a guesser rotating addresses must not get unlimited tries. The cost
is that someone can lock a colleague out for one window; a supervisor sees it in the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from core.accounts import normalize_username
from core.audit import AuditEvent
from core.db import AsyncSession, utcnow

__all__ = ["FAILED_LOGIN_LIMIT", "FAILED_LOGIN_WINDOW", "login_label", "login_locked"]

FAILED_LOGIN_LIMIT = 10
FAILED_LOGIN_WINDOW = timedelta(minutes=15)


def login_label(username: str) -> str:
    """The username as the audit log records a login attempt: the form the login lookup uses."""
    return normalize_username(username)[:60] or "?"


async def login_locked(
    session: AsyncSession, username: str, now: datetime | None = None, *, failure: str = "login.failed"
) -> bool:
    """Whether `username` has had too many `failure` rows (wrong passwords, or wrong second-factor
    codes: "login.2fa_failed") within the window."""
    since = (now or utcnow()) - FAILED_LOGIN_WINDOW
    failures = (
        await session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                col(AuditEvent.action) == failure,
                col(AuditEvent.actor_label) == login_label(username),
                col(AuditEvent.at) > since,
            )
        )
    ).one()
    return failures >= FAILED_LOGIN_LIMIT
