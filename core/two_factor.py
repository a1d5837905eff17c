"""Two-factor login for staff: TOTP (RFC 6238, via `pyotp`) and ten single-use recovery codes.

The TOTP secret is personal data of a kind: stored encrypted like phones. Recovery codes are stored as
SHA-256 digests (each is 50 random bits, so a digest cannot be reversed by trying them all in any useful
time, and no salt is needed to stop precomputation of random values). A code is spent by a conditional
UPDATE, so two logins racing with one code cannot both succeed; a TOTP step, once used, is remembered so
the same six digits cannot be replayed within their 30 seconds.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import pyotp
import segno
from sqlalchemy import Column, String, delete, update
from sqlmodel import Field, SQLModel, col

from core.accounts import StaffUser
from core.db import AsyncSession, UTCDateTime, utcnow
from core.privacy import FieldCipher

__all__ = [
    "RECOVERY_CODE_COUNT",
    "Enrolment",
    "RecoveryCode",
    "confirm_enrolment",
    "reset_second_factor",
    "start_enrolment",
    "verify_second_factor",
]

ISSUER = "family-hotline"
RECOVERY_CODE_COUNT = 10
_SECRET_CONTEXT = "staff_user.totp_secret"  # noqa: S105  (an encryption context label, not a secret)
# Codes are read off a phone and typed; a code from the previous 30-second step is still accepted.
_VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", index=True)
    code_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass(frozen=True)
class Enrolment:
    secret: str  # base32, shown once for typing into an app by hand
    uri: str  # otpauth:// for the QR code
    qr_svg: str  # the QR code as inline SVG, drawn on the server (no scripts, no third party)


def start_enrolment(user: StaffUser, *, secret: str | None = None) -> Enrolment:
    """A new secret for the user to scan (or the one a failed confirmation posted back, so the app the
    user already set up keeps working); nothing is stored until `confirm_enrolment` sees a valid code."""
    secret = secret if secret and _is_base32_secret(secret) else pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    qr = segno.make(uri, error="m")
    return Enrolment(secret=secret, uri=uri, qr_svg=qr.svg_inline(scale=4, title="TOTP"))


def _is_base32_secret(value: str) -> bool:
    return len(value) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in value)


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _digest(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _step_of(totp: pyotp.TOTP, code: str, now: datetime) -> int | None:
    """The time step whose code this is, within the accepted window; None when it matches none."""
    current = totp.timecode(now)
    for offset in range(-_VALID_WINDOW, _VALID_WINDOW + 1):
        step = current + offset
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def confirm_enrolment(
    session: AsyncSession, cipher: FieldCipher, user: StaffUser, secret: str, code: str
) -> list[str] | None:
    """Turn on two-factor login if `code` comes from `secret`; returns the recovery codes to show once,
    or None (nothing changed) when the code is wrong. Joins the caller's transaction."""
    if not _is_base32_secret(secret):
        return None
    now = utcnow()
    step = _step_of(pyotp.TOTP(secret), _normalized(code), now)
    if step is None:
        return None
    user.totp_secret_ciphertext = cipher.encrypt(secret, context=_SECRET_CONTEXT)
    user.totp_enabled_at = now
    user.totp_last_step = step
    session.add(user)
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(RecoveryCode(user_id=user.id or 0, code_hash=_digest(recovery)) for recovery in codes)
    await session.flush()
    return codes


async def verify_second_factor(
    session: AsyncSession, cipher: FieldCipher, user: StaffUser, code: str
) -> str | None:
    """Check a TOTP code or a recovery code. Returns "totp" or "recovery" (what was used) or None.
    A TOTP step and a recovery code each work once. Joins the caller's transaction."""
    if user.totp_secret_ciphertext is None:
        return None
    wanted = _normalized(code)
    if wanted.isdigit() and len(wanted) == 6:
        secret = cipher.decrypt(user.totp_secret_ciphertext, context=_SECRET_CONTEXT)
        step = _step_of(pyotp.TOTP(secret), wanted, utcnow())
        if step is None:
            return None
        # Only a step later than the last one used: the same code cannot log in twice.
        moved = await session.exec(
            update(StaffUser)
            .where(
                col(StaffUser.id) == user.id,
                (col(StaffUser.totp_last_step).is_(None)) | (col(StaffUser.totp_last_step) < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        return "totp" if moved.rowcount == 1 else None
    spent = await session.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == _digest(wanted),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return "recovery" if spent.rowcount == 1 else None


async def reset_second_factor(session: AsyncSession, user_id: int) -> None:
    """An admin turns a user's two-factor login off (a lost phone); the user enrols again."""
    await session.exec(
        update(StaffUser)
        .where(col(StaffUser.id) == user_id)
        .values(totp_secret_ciphertext=None, totp_enabled_at=None, totp_last_step=None)
        .execution_options(synchronize_session=False)
    )
    await session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
