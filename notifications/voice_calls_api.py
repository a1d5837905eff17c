"""Outbound calls through Twilio's Calls API: ringing an operator's phone for a waiting call, cancelling
that ring when the caller hangs up first, and moving a call that waits in a queue elsewhere. The real
`twilio` client, on its aiohttp HTTP client, pointed at FH_TWILIO_API_BASE when set (our fake in tests,
Prism in the contract test).

We never ask Twilio what became of a call: its status callbacks tell us (hotline.voice_webhooks).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from core.settings import Settings

__all__ = ["OutboundCall", "TwilioVoice", "VoiceApi", "VoiceApiError", "build_voice_api"]

log = logging.getLogger(__name__)
_twilio_http_log = logging.getLogger("notifications.twilio_http")

VOICE_API_TIMEOUT_SECONDS = 15.0
# The operator leg's progress we want to hear about (Twilio's names).
OFFER_EVENTS = ["initiated", "ringing", "answered", "completed"]


class VoiceApiError(Exception):
    """Twilio refused the request or could not be reached; nothing was placed or moved."""


@dataclass(frozen=True)
class OutboundCall:
    to: str
    from_: str
    url: str  # TwiML fetched when the callee answers
    status_callback: str
    timeout: int  # seconds it rings


class VoiceApi(Protocol):
    async def place_call(self, call: OutboundCall) -> str:
        """The new call's CallSid."""
        ...

    async def redirect(self, call_sid: str, url: str) -> None:
        """Make a live call fetch and run the TwiML at `url` instead of what it runs now."""
        ...

    async def cancel(self, call_sid: str) -> None:
        """Stop a call we placed that is still queued or ringing (an operator's phone, once the caller
        hung up). Twilio ignores it for a call already answered."""
        ...

    async def aclose(self) -> None: ...


class TwilioVoice:
    """The HTTP client is made on first use, inside the event loop that calls (aiohttp sessions belong to
    one loop)."""

    def __init__(self, settings: Settings) -> None:
        self._account_sid = settings.twilio_account_sid
        self._auth_token = settings.twilio_auth_token
        self._api_base = settings.twilio_api_base
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            self._http = AsyncTwilioHttpClient(logger=_twilio_http_log)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http, environment={})
            if self._api_base:
                self._client.api.base_url = self._api_base.rstrip("/")
        return self._client

    async def place_call(self, call: OutboundCall) -> str:
        client = self._get_client()
        try:
            async with asyncio.timeout(VOICE_API_TIMEOUT_SECONDS):
                created = await client.calls.create_async(
                    to=call.to,
                    from_=call.from_,
                    url=call.url,
                    status_callback=call.status_callback,
                    status_callback_event=OFFER_EVENTS,
                    timeout=call.timeout,
                )
        except (TwilioException, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise VoiceApiError(f"Twilio did not place the call: {type(exc).__name__}: {exc}") from exc
        return str(created.sid)

    async def redirect(self, call_sid: str, url: str) -> None:
        client = self._get_client()
        try:
            async with asyncio.timeout(VOICE_API_TIMEOUT_SECONDS):
                await client.calls(call_sid).update_async(url=url, method="POST")
        except (TwilioException, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise VoiceApiError(f"Twilio did not redirect the call: {type(exc).__name__}: {exc}") from exc

    async def cancel(self, call_sid: str) -> None:
        client = self._get_client()
        try:
            async with asyncio.timeout(VOICE_API_TIMEOUT_SECONDS):
                await client.calls(call_sid).update_async(status="canceled")
        except (TwilioException, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise VoiceApiError(f"Twilio did not cancel the call: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = None
        self._http = None


def build_voice_api(settings: Settings) -> VoiceApi | None:
    """Twilio's Calls API when an account is configured; None otherwise (calls then wait for voicemail)."""
    if settings.twilio_account_sid and settings.twilio_auth_token:
        return TwilioVoice(settings)
    return None
