"""SMS senders behind one small protocol: Twilio (real client) and the console (embedded default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SentSms", "SmsRejected", "SmsSender", "SmsTemporarilyUnavailable"]


@dataclass(frozen=True)
class SentSms:
    provider_sid: str
    status: str  # the provider's first status, e.g. "queued"


class SmsRejected(Exception):
    """The provider refused this message for good (bad number, recipient opted out): do not retry."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmsTemporarilyUnavailable(Exception):
    """The provider could not be reached or failed on its side: retry later."""


class SmsSender(Protocol):
    async def send(self, to_e164: str, body: str, *, status_callback: str | None = None) -> SentSms: ...
