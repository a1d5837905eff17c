"""Logging in and out as transactions: the throttle, the password check, the session and the audit rows.

A refused login is audited too (that row is what the throttle counts), so a refusal commits before it
is raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.login_throttle import login_label, login_locked
from core.accounts import (
    StaffUser,
    authenticate,
    complete_second_factor,
    end_login_session,
    start_login_session,
    user_awaiting_second_factor,
)
from core.audit import record_audit, record_staff_act
from core.db import AsyncSession, utcnow
from core.errors import UserFacingError
from core.i18n import N_
from core.privacy import FieldCipher
from core.two_factor import verify_second_factor

__all__ = ["LoggedIn", "LoginRefused", "give_second_factor", "log_in", "log_out"]


class LoginRefused(UserFacingError):
    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class LoggedIn:
    user: StaffUser
    session_token: str  # for the login cookie; the database keeps only its hash
    # The password was right and the account has a second factor: the session opens only that step.
    needs_second_factor: bool = False


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
    pending = user.has_second_factor
    token = await start_login_session(session, user, second_factor_pending=pending)
    record_staff_act(session, user, "login.password_ok" if pending else "login", client_ip=client_ip)
    if not pending:
        user.last_login_at = utcnow()
    await session.commit()
    return LoggedIn(user=user, session_token=token, needs_second_factor=pending)


async def give_second_factor(
    session: AsyncSession, cipher: FieldCipher, *, session_token: str, code: str, client_ip: str | None
) -> StaffUser:
    """Finish a login with an authenticator code or a recovery code, or raise LoginRefused (400 wrong
    code, 429 too many wrong codes, 401 the password step has expired)."""
    user = await user_awaiting_second_factor(session, session_token)
    if user is None:
        raise LoginRefused(N_("This login has expired. Enter your username and password again."), 401)
    if await login_locked(session, user.username, failure="login.2fa_failed"):
        raise await _refuse(
            session,
            user.username,
            "login.2fa_throttled",
            client_ip,
            LoginRefused(N_("Too many wrong codes for this account. Wait 15 minutes, then try again."), 429),
        )
    used = await verify_second_factor(session, cipher, user, code)
    if used is None:
        raise await _refuse(
            session,
            user.username,
            "login.2fa_failed",
            client_ip,
            LoginRefused(N_("That code is not right."), 400),
        )
    await complete_second_factor(session, session_token)
    user.last_login_at = utcnow()
    # A spent recovery code is its own audited act: the owner has lost the phone, or someone has the codes.
    record_staff_act(
        session, user, "login.recovery_code" if used == "recovery" else "login", client_ip=client_ip
    )
    await session.commit()
    return user


async def log_out(session: AsyncSession, session_token: str | None) -> None:
    """End the session the cookie names; harmless without one."""
    if session_token:
        await end_login_session(session, session_token)
        await session.commit()
