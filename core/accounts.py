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
from core.passwords import check_new_password
from core.units import OrgUnit

__all__ = [
    "LoginSession",
    "Role",
    "StaffUser",
    "authenticate",
    "create_staff_user",
    "end_login_session",
    "hash_password",
    "normalize_username",
    "start_login_session",
    "user_for_session_token",
]

SESSION_LIFETIME = timedelta(hours=12)

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

    def has_role(self, *roles: Role | str) -> bool:
        return self.is_active and (self.role in roles)


class LoginSession(SQLModel, table=True):
    """Only a hash of the cookie token is stored: a copy of the database cannot be used to log in."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


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


async def start_login_session(session: AsyncSession, user: StaffUser) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=_token_hash(token), user_id=user.id or 0, expires_at=utcnow() + SESSION_LIFETIME
        )
    )
    return token


async def user_for_session_token(session: AsyncSession, token: str) -> StaffUser | None:
    row = (
        await session.exec(
            select(StaffUser)
            .join(LoginSession, LoginSession.user_id == StaffUser.id)  # type: ignore[arg-type]
            .where(LoginSession.token_hash == _token_hash(token), LoginSession.expires_at > utcnow())
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
