"""SMS senders behind one small protocol: Twilio (real client) and the console (embedded default)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from core.db import utcnow
from core.privacy import mask_phone

if TYPE_CHECKING:
    from core.settings import Settings

__all__ = [
    "ConsoleSender",
    "ConsoleSms",
    "ListedSms",
    "SentSms",
    "SmsRejected",
    "SmsSender",
    "SmsTemporarilyUnavailable",
    "TwilioSender",
    "build_sender",
]

log = logging.getLogger(__name__)

# Twilio's HTTP client logs every request's URL and headers at INFO; the URL names our account and the
# lines drown the worker log. Warnings and errors still come through.
_twilio_http_log = logging.getLogger("notifications.twilio_http")
_twilio_http_log.setLevel(logging.WARNING)

# The Twilio client's own timeout is not applied by its async HTTP client, so every call is bounded here.
# FH_OUTBOX_STALL_SECONDS must stay above the send bound: a worker is only declared gone once any request
# it had started has either reached Twilio or been abandoned.
TWILIO_SEND_TIMEOUT_SECONDS = 20.0
TWILIO_LOOKUP_TIMEOUT_SECONDS = 30.0

# Looking up what was sent to one number: Twilio lists newest first, a page at a time. A parent gets a
# handful of SMS per booking, so the window of an attempt in doubt is almost always in the first page;
# the limit bounds a lookup whatever Twilio answers.
LOOKUP_PAGE_SIZE = 20
LOOKUP_LIMIT = 200

# HTTP statuses that say "not now" rather than "never": rate limits, and credentials being rotated or
# mistyped (the message is fine; failing it for good would lose a booking confirmation over a config slip).
_RETRYABLE_CLIENT_STATUSES = {401, 403, 408, 429}


@dataclass(frozen=True)
class SentSms:
    provider_sid: str
    status: str  # the provider's first status, e.g. "queued"


@dataclass(frozen=True)
class ListedSms:
    """A message as the provider lists it: what we can match an attempt in doubt against."""

    provider_sid: str
    to: str
    body: str
    created_at: datetime | None
    status: str


class SmsRejected(Exception):
    """The provider refused this message for good (bad number, recipient opted out): do not retry."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SmsTemporarilyUnavailable(Exception):
    """The provider could not be reached or failed on its side: retry later.

    `may_have_arrived`: the request may have reached the provider although no answer came back (a
    timeout, a dropped connection, a 5xx), so the next attempt looks for the message before sending.
    """

    def __init__(self, message: str, *, may_have_arrived: bool = False) -> None:
        super().__init__(message)
        self.may_have_arrived = may_have_arrived


class SmsSender(Protocol):
    async def send(self, to_e164: str, body: str, *, status_callback: str | None = None) -> SentSms: ...

    async def sent_to(self, to_e164: str, *, since: datetime) -> list[ListedSms]:
        """What we sent to `to_e164` since `since`, newest first. Raises SmsTemporarilyUnavailable when
        the provider cannot say."""
        ...


class TwilioSender:
    """Sends through Twilio's Messages API with the official client and its aiohttp-based HTTP client.

    The HTTP client (and its aiohttp session) is created on first use, inside the event loop that sends:
    aiohttp sessions belong to one loop, and the web app builds its sender before any loop runs.
    """

    def __init__(self, settings: Settings) -> None:
        if not (settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number):
            raise ValueError(
                "FH_SMS_BACKEND=twilio needs FH_TWILIO_ACCOUNT_SID, FH_TWILIO_AUTH_TOKEN and "
                "FH_TWILIO_FROM_NUMBER"
            )
        self._account_sid = settings.twilio_account_sid
        self._auth_token = settings.twilio_auth_token
        self._from_number = settings.twilio_from_number
        self._api_base = settings.twilio_api_base
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            self._http = AsyncTwilioHttpClient(logger=_twilio_http_log)
            # environment={} so stray TWILIO_* variables (edge, region) cannot redirect our traffic.
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http, environment={})
            if self._api_base:
                self._client.api.base_url = self._api_base.rstrip("/")
        return self._client

    async def send(self, to_e164: str, body: str, *, status_callback: str | None = None) -> SentSms:
        client = self._get_client()
        try:
            async with asyncio.timeout(TWILIO_SEND_TIMEOUT_SECONDS):
                message = await client.messages.create_async(
                    to=to_e164, from_=self._from_number, body=body, status_callback=status_callback
                )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _classify_twilio_error(exc.status, exc.code, _twilio_error_text(exc)) from exc
        except aiohttp.ClientConnectorError as exc:
            # No connection was made, so the request cannot have arrived.
            raise SmsTemporarilyUnavailable(f"Twilio unreachable: {type(exc).__name__}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # The request may have left and Twilio may have accepted it: the retry looks first.
            raise SmsTemporarilyUnavailable(
                f"no answer from Twilio: {type(exc).__name__}", may_have_arrived=True
            ) from exc
        return SentSms(provider_sid=str(message.sid), status=str(message.status or "queued"))

    async def sent_to(self, to_e164: str, *, since: datetime) -> list[ListedSms]:
        """Messages from our number to `to_e164` created at or after `since`, newest first, read with the
        client's paging stream (it fetches the next page as the reading reaches it). Twilio lists newest
        first, so reading stops at the first message older than `since`."""
        client = self._get_client()
        found: list[ListedSms] = []
        try:
            async with asyncio.timeout(TWILIO_LOOKUP_TIMEOUT_SECONDS):
                stream = await client.messages.stream_async(
                    to=to_e164, from_=self._from_number, page_size=LOOKUP_PAGE_SIZE, limit=LOOKUP_LIMIT
                )
                async for message in stream:
                    created = message.date_created
                    if created is not None and created < since:
                        break
                    found.append(
                        ListedSms(
                            provider_sid=str(message.sid),
                            to=str(message.to),
                            body=str(message.body or ""),
                            created_at=created,
                            status=str(message.status or ""),
                        )
                    )
        except TwilioException as exc:
            # A page that fails comes back as TwilioException("Unable to fetch page", response).
            raise SmsTemporarilyUnavailable(f"Twilio lookup failed: {_lookup_error_text(exc)}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise SmsTemporarilyUnavailable(f"Twilio lookup failed: {type(exc).__name__}") from exc
        return found

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._client = None
        self._http = None


def _twilio_error_text(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return str(exc.detail or exc.title)
    return str(exc.msg)


def _lookup_error_text(exc: TwilioException) -> str:
    if isinstance(exc, TwilioRestException):
        return f"{exc.status} {exc.msg}"
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    return f"{status} {exc.args[0]}" if status else str(exc.args[0] if exc.args else exc)


def _classify_twilio_error(status: int, code: int | None, text: str) -> Exception:
    """4xx means this message will never go (21211 bad number, 21610 recipient replied STOP, 21614 not a
    mobile); 5xx, rate limits and credential trouble are worth retrying. A 5xx says Twilio failed, not
    that it created nothing, so that retry looks for the message first; a 4xx refusal created nothing."""
    summary = (f"Twilio {status}" + (f" error {code}" if code else "") + f": {text}")[:400]
    if status >= 500:
        return SmsTemporarilyUnavailable(summary, may_have_arrived=True)
    if status in _RETRYABLE_CLIENT_STATUSES:
        return SmsTemporarilyUnavailable(summary)
    return SmsRejected(summary, code=code)


@dataclass(frozen=True)
class ConsoleSms:
    provider_sid: str
    to_e164: str
    body: str
    sent_at: datetime
    status_callback: str | None


class ConsoleSender:
    """The embedded default: nothing leaves the machine. Each SMS is logged (recipient masked) and the
    last 100 are kept in memory, so a developer running the demo can read one-time codes on /dev/sms."""

    KEEP = 100

    def __init__(self) -> None:
        self._recent: deque[ConsoleSms] = deque(maxlen=self.KEEP)

    async def send(self, to_e164: str, body: str, *, status_callback: str | None = None) -> SentSms:
        sms = ConsoleSms(
            provider_sid="CONSOLE" + uuid.uuid4().hex,
            to_e164=to_e164,
            body=body,
            sent_at=utcnow(),
            status_callback=status_callback,
        )
        self._recent.append(sms)
        log.info("console SMS to %s: %s", mask_phone(to_e164), body)
        return SentSms(provider_sid=sms.provider_sid, status="sent")

    def recent(self) -> list[ConsoleSms]:
        """Newest first."""
        return list(reversed(self._recent))

    async def sent_to(self, to_e164: str, *, since: datetime) -> list[ListedSms]:
        return [
            ListedSms(sms.provider_sid, sms.to_e164, sms.body, sms.sent_at, "sent")
            for sms in self.recent()
            if sms.to_e164 == to_e164 and sms.sent_at >= since
        ]

    async def aclose(self) -> None:
        return None


def build_sender(settings: Settings) -> SmsSender:
    if settings.sms_backend == "twilio":
        return TwilioSender(settings)
    if settings.sms_backend == "console":
        return ConsoleSender()
    raise ValueError(f"unknown FH_SMS_BACKEND {settings.sms_backend!r}: use 'console' or 'twilio'")
