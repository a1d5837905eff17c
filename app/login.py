"""Logging in and out as transactions: the throttle, the password check, the session and the audit rows.

A refused login is audited too (that row is what the throttle counts), so a refusal commits before it
is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.login_throttle import login_label, login_locked
from core.accounts import StaffUser, authenticate, end_login_session, start_login_session
from core.audit import record_audit
from core.db import AsyncSession
from core.errors import UserFacingError
from core.i18n import N_

__all__ = ["LoggedIn", "LoginRefused", "log_in", "log_out"]


class LoginRefused(UserFacingError):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class LoggedIn:
    user: StaffUser
    session_token: str  # for the login cookie; the database keeps only its hash


async def _refuse(
    session: AsyncSession, username: str, action: str, client_ip: str | None, refusal: LoginRefused
) -> LoginRefused:
    record_audit(
        session,
        actor_id=None,
        actor_label=login_label(username),
        action=action,
        object_type="staff_user",
        object_id="-",
        client_ip=client_ip,
    )
    await session.commit()
    return refusal


async def log_in(session: AsyncSession, *, username: str, password: str, client_ip: str | None) -> LoggedIn:
    """Start a login session, or raise LoginRefused (400 wrong credentials, 429 throttled)."""
    if await login_locked(session, username):
        # Checked before the password, so a guesser learns nothing from attempts past the limit.
        raise await _refuse(
            session,
            username,
            "login.throttled",
            client_ip,
            LoginRefused(
                N_("Too many failed logins for this account. Wait 15 minutes, then try again."), 429
            ),
        )
    user = await authenticate(session, username, password)
    if user is None:
        raise await _refuse(
            session, username, "login.failed", client_ip, LoginRefused(N_("Wrong username or password."), 400)
        )
    token = await start_login_session(session, user)
    record_audit(
        session,
        actor_id=user.id,
        actor_label=user.username,
        action="login",
        object_type="staff_user",
        object_id=user.id or 0,
        client_ip=client_ip,
    )
    await session.commit()
    return LoggedIn(user=user, session_token=token)


async def log_out(session: AsyncSession, session_token: str | None) -> None:
    """End the session the cookie names; harmless without one."""
    if session_token:
        await end_login_session(session, session_token)
        await session.commit()
