"""Staff accounts: roles, argon2 password hashes, and server-side login sessions (revocable)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, String, delete, update
from sqlmodel import Field, SQLModel, col, select

from core.db import AsyncSession, UTCDateTime, get_by_outside_id, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.passwords import check_new_password
from core.units import OrgUnit

__all__ = [
    "ROLE_LABELS",
    "LoginSession",
    "Role",
    "StaffUser",
    "authenticate",
    "change_password",
    "complete_second_factor",
    "create_staff_user",
    "end_login_session",
    "hash_password",
    "normalize_username",
    "start_login_session",
    "user_awaiting_second_factor",
    "user_for_session_token",
]

SESSION_LIFETIME = timedelta(hours=12)
# How long the step between a right password and the second factor may take.
SECOND_FACTOR_WINDOW = timedelta(minutes=5)

_hasher = PasswordHasher()
# Verifying against this when the username is unknown keeps the timing of "no such user" and
# "wrong password" alike.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    EXPERT = "expert"
    ADMIN = "admin"


ROLE_LABELS: dict[str, str] = {
    Role.OPERATOR: N_("Hotline operator"),
    Role.SUPERVISOR: N_("Supervisor"),
    Role.COORDINATOR: N_("Roster coordinator"),
    Role.EXPERT: N_("Expert"),
    Role.ADMIN: N_("Administrator"),
}

# Roles that see across a line or administer staff: a stolen password alone must not open them.
SECOND_FACTOR_ROLES = frozenset({Role.ADMIN.value, Role.SUPERVISOR.value})


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    display_name: str = Field(max_length=100)
    role: str = Field(max_length=20)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit it belongs to (core.units)
    password_hash: str = Field(max_length=200)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by an admin's password reset: the next login goes to "choose a new password" first.
    must_change_password: bool = False
    # Two-factor login (core.two_factor): the TOTP secret, encrypted; the last time step used.
    totp_secret_ciphertext: str | None = None
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    totp_last_step: int | None = None
    # A mobile for alerts (a mandatory report to make, something turned red), encrypted; supervisors mark
    # themselves on duty, and the on-duty supervisors of a case's unit and above get its alerts by SMS.
    mobile_ciphertext: str | None = None
    on_duty: bool = False
    # The one hotline line (hotline.taxonomy.Line) whose cases this person works; None: every line of their
    # unit scope. A code, not a foreign key: core knows no hotline vocabulary.
    line: str | None = Field(default=None, max_length=20)

    def has_role(self, *roles: Role | str) -> bool:
        return self.is_active and (self.role in roles)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enabled_at is not None

    def owes_setup(self, *, require_2fa: bool) -> bool:
        """Must visit their account page before any other: a temporary password to replace, or a role
        that logs in with a second factor and none enrolled yet."""
        needs_2fa = require_2fa and self.role in SECOND_FACTOR_ROLES and not self.has_second_factor
        return self.must_change_password or needs_2fa


class LoginSession(SQLModel, table=True):
    """Only a hash of the cookie token is stored: a copy of the database cannot be used to log in."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # The password was right, the second factor not yet given: the session opens no page but that step.
    second_factor_pending: bool = False


def hash_password(password: str) -> str:
    """The argon2 hash. Whether the password is allowed is `core.passwords.check_new_password`'s call."""
    return _hasher.hash(password)


def normalize_username(username: str) -> str:
    """Usernames are stored and looked up trimmed and in lower case: `Chen` and `chen ` are one account."""
    return username.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_staff_user(
    session: AsyncSession,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    password: str,
    unit_id: int,
    line: str | None = None,
) -> StaffUser:
    check_new_password(password, username=normalize_username(username), display_name=display_name)
    unit = await get_by_outside_id(session, OrgUnit, unit_id)
    if unit is None or not unit.active:
        raise ValueError(f"no active organisation unit has id {unit_id}")
    user = StaffUser(
        unit_id=unit_id,
        username=normalize_username(username),
        display_name=display_name.strip() or username,
        role=Role(role).value,
        password_hash=hash_password(password),
        line=line or None,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> StaffUser | None:
    user = (
        await session.exec(select(StaffUser).where(StaffUser.username == normalize_username(username)))
    ).first()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


async def start_login_session(
    session: AsyncSession, user: StaffUser, *, second_factor_pending: bool = False
) -> str:
    token = secrets.token_urlsafe(32)
    lifetime = SECOND_FACTOR_WINDOW if second_factor_pending else SESSION_LIFETIME
    session.add(
        LoginSession(
            token_hash=_token_hash(token),
            user_id=user.id or 0,
            expires_at=utcnow() + lifetime,
            second_factor_pending=second_factor_pending,
        )
    )
    return token


async def user_awaiting_second_factor(session: AsyncSession, token: str) -> StaffUser | None:
    """The user whose password was right on this session and who still owes the second factor."""
    return await _session_user(session, token, pending=True)


async def complete_second_factor(session: AsyncSession, token: str) -> None:
    """The second factor was given: the session becomes a full login for the usual lifetime."""
    await session.exec(
        update(LoginSession)
        .where(col(LoginSession.token_hash) == _token_hash(token), col(LoginSession.second_factor_pending))
        .values(second_factor_pending=False, expires_at=utcnow() + SESSION_LIFETIME)
    )


async def user_for_session_token(session: AsyncSession, token: str) -> StaffUser | None:
    """The logged-in user of a session cookie; None for a session still waiting for its second factor."""
    return await _session_user(session, token, pending=False)


async def _session_user(session: AsyncSession, token: str, *, pending: bool) -> StaffUser | None:
    row = (
        await session.exec(
            select(StaffUser)
            .join(LoginSession, LoginSession.user_id == StaffUser.id)  # type: ignore[arg-type]
            .where(
                LoginSession.token_hash == _token_hash(token),
                LoginSession.expires_at > utcnow(),
                LoginSession.second_factor_pending == pending,
            )
        )
    ).first()
    return row if row and row.is_active else None


async def end_login_session(session: AsyncSession, token: str) -> None:
    await session.exec(delete(LoginSession).where(col(LoginSession.token_hash) == _token_hash(token)))


async def end_all_sessions_of(session: AsyncSession, user_id: int) -> None:
    await session.exec(delete(LoginSession).where(col(LoginSession.user_id) == user_id))


async def deactivate(session: AsyncSession, user_id: int) -> None:
    await session.exec(update(StaffUser).where(col(StaffUser.id) == user_id).values(is_active=False))
    await end_all_sessions_of(session, user_id)


async def change_password(session: AsyncSession, user: StaffUser, *, current: str, new: str) -> None:
    """The user replaces their password (a temporary one included). Raises FormInvalid, changing
    nothing, when the current password is wrong or the new one breaks the policy."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise FormInvalid({"current_password": N_("The current password is not right.")}) from None
    check_new_password(new, username=user.username, display_name=user.display_name, field="new_password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    session.add(user)
