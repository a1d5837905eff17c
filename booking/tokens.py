"""Secrets of a booking: the verify and manage link tokens (stored as SHA-256) and the SMS code digest."""

from __future__ import annotations

import hashlib
import secrets

from core.privacy import FieldCipher

__all__ = ["new_code", "new_token", "otp_digest", "token_hash"]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def new_code() -> str:
    """A six-digit one-time code."""
    return f"{secrets.randbelow(10**6):06d}"


def otp_digest(cipher: FieldCipher, verify_hash: str, code: str) -> str:
    # Keyed and bound to this booking: a plain SHA-256 of a 6-digit code is reversed by trying all
    # million codes, so a leaked database would leak live codes too.
    return cipher.blind_index(code, context=f"booking.otp:{verify_hash}")
