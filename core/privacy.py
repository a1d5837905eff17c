"""Personal data at rest: field encryption, a keyed blind index for look-ups, and masking for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from litestar.di import NamedDependency

__all__ = ["DecryptionError", "FieldCipher", "mask_id_number", "mask_name", "mask_phone", "phone_index"]

PHONE_INDEX_CONTEXT = "phone"

_VERSION = "v1"


class DecryptionError(Exception):
    """A stored value could not be decrypted with the configured key (wrong key or tampered data)."""


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class FieldCipher:
    """AES-256-GCM for single fields; HMAC-SHA256 blind index so equal values can be found without
    decrypting. Both keys are derived from one configured data key, so one secret is enough to back up."""

    def __init__(self, data_key: str) -> None:
        if len(data_key) < 16:
            raise ValueError("FH_DATA_KEY must be at least 16 characters")
        master = data_key.encode()
        self._aead = AESGCM(_derive(master, b"family-hotline field encryption"))
        self._index_key = _derive(master, b"family-hotline blind index")

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt one value. `context` (e.g. the column name) is bound as associated data, so a value
        copied into another column does not decrypt there."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, context: str = "") -> str:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise DecryptionError(f"unknown ciphertext version {version!r}")
        raw = base64.urlsafe_b64decode(body.encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except Exception as exc:  # InvalidTag: wrong key or altered data
            raise DecryptionError("stored value could not be decrypted") from exc

    def encrypt_optional(self, plaintext: str | None, *, context: str = "") -> str | None:
        return None if plaintext in (None, "") else self.encrypt(plaintext, context=context)

    def decrypt_optional(self, token: str | None, *, context: str = "") -> str | None:
        return None if not token else self.decrypt(token, context=context)

    def blind_index(self, normalized_value: str, *, context: str = "") -> str:
        digest = hmac.new(self._index_key, f"{context}\x00{normalized_value}".encode(), hashlib.sha256)
        return digest.hexdigest()


def phone_index(cipher: FieldCipher, e164: str) -> str:
    """The one blind index of a phone number, shared by outbox rows, opt-outs, calls and bookings."""
    return cipher.blind_index(e164, context=PHONE_INDEX_CONTEXT)


def mask_phone(e164_or_local: str | None) -> str:
    """`+8613812345678` → `138****5678`; anything shorter keeps only its last two digits."""
    if not e164_or_local:
        return ""
    digits = e164_or_local[3:] if e164_or_local.startswith("+86") else e164_or_local.lstrip("+")
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_id_number(id_number: str | None) -> str:
    """Resident ID: keep the first 3 and last 2 characters (the form used on Chinese receipts)."""
    if not id_number:
        return ""
    if len(id_number) <= 5:
        return "*" * len(id_number)
    return id_number[:3] + "*" * (len(id_number) - 5) + id_number[-2:]


def mask_name(name: str | None) -> str:
    """张小明 → 张**; a single character stays as it is."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


# Route handlers declare `cipher: CipherDep`.
CipherDep = NamedDependency[FieldCipher]
