"""A small fake Twilio of ours: the Messages endpoints over real HTTP, and Twilio-signed callbacks.

The real `twilio` client talks to it (its API base URL is pointed here), so tests exercise the client's
HTTP, auth, parsing, paging and error mapping. Messages are created (POST) and listed (GET, filtered by
To and From, newest first, in pages with `next_page_uri` as Twilio pages them). It can play an outage (a
5xx on every call), a recipient who replied STOP (400, error 21610), and a send held in flight: the
message is created, as Twilio creates it, but the answer waits until the test releases it, so a test can
kill the sender while Twilio holds its request. It can call our webhooks signed exactly as Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

from aiohttp import web
from twilio.request_validator import RequestValidator

from core.db import utcnow

__all__ = ["FakeTwilio", "RecordedCall", "RecordedMessage"]

API_VERSION = "2010-04-01"
Mode = Literal["ok", "outage", "opted_out", "invalid_number"]


class _Poster(Protocol):
    async def post(self, url: str, *, data: Any, headers: dict[str, str]) -> Any: ...


@dataclass
class RecordedMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    account_sid: str
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class RecordedCall:
    """An outbound call we asked Twilio to place (Calls create), or a change asked of one (update)."""

    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    status_callback_events: list[str]
    timeout: str | None
    account_sid: str


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "fake-twilio-auth-token"
    mode: Mode = "ok"
    outage_status: int = 500  # what every call answers while mode == "outage"
    messages: list[RecordedMessage] = field(default_factory=list)
    requests: int = 0  # message creations asked for (POST)
    list_requests: int = 0  # list pages asked for (GET)
    refused: int = 0  # calls answered with the outage's error
    calls: list[RecordedCall] = field(default_factory=list)  # outbound calls placed (Calls create)
    call_updates: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (CallSid, fields)
    _runner: web.AppRunner | None = None
    _port: int = 0
    _holds: int = 0
    _held: list[RecordedMessage] = field(default_factory=list)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _holding: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def hold_next_send(self) -> None:
        """The next message created is answered only after `release_held_sends()`: Twilio has accepted it
        but its sender has not heard back."""
        self._holds += 1
        self._release.clear()
        self._holding.clear()

    async def until_a_send_is_held(self, seconds: float = 30) -> RecordedMessage:
        """Wait for the send `hold_next_send` asked for; the message it created."""
        async with asyncio.timeout(seconds):
            await self._holding.wait()
        return self._held[-1]

    @property
    def held(self) -> list[RecordedMessage]:
        """Messages created whose answer is being held back."""
        return list(self._held)

    def release_held_sends(self) -> None:
        self._release.set()

    async def start(self) -> FakeTwilio:
        app = web.Application()
        messages_path = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json"
        app.router.add_post(messages_path, self._create_message)
        app.router.add_get(messages_path, self._list_messages)
        calls_path = f"/{API_VERSION}/Accounts/{{account_sid}}/Calls"
        app.router.add_post(calls_path + ".json", self._create_call)
        app.router.add_post(calls_path + "/{call_sid}.json", self._update_call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release_held_sends()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        account_sid = request.match_info["account_sid"]
        if not self._authorised(request) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.mode == "outage":
            self.refused += 1
            return _error(self.outage_status, 20500, "Service Unavailable")
        form = await request.post()
        to = str(form.get("To", ""))
        if self.mode == "opted_out":
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if self.mode == "invalid_number" or not to.startswith("+"):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        message = RecordedMessage(
            sid="SM" + secrets.token_hex(16),
            to=to,
            from_=str(form.get("From", "")),
            body=str(form.get("Body", "")),
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            account_sid=account_sid,
        )
        self.messages.append(message)
        if self._holds:
            self._holds -= 1
            self._held.append(message)
            self._holding.set()
            try:
                await self._release.wait()
            finally:
                self._held.remove(message)
        return web.json_response(_message_resource(message, status="queued"), status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        """Twilio's ListMessage: To and From filters, newest first, `PageSize` per page (50 unless
        asked), `Page` and `PageToken` for the pages after the first, reached through `next_page_uri`."""
        self.list_requests += 1
        account_sid = request.match_info["account_sid"]
        if not self._authorised(request) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.mode == "outage":
            self.refused += 1
            return _error(self.outage_status, 20500, "Service Unavailable")
        query = request.query
        matching = [
            message
            for message in reversed(self.messages)
            if message.account_sid == account_sid
            and query.get("To", message.to) == message.to
            and query.get("From", message.from_) == message.from_
        ]
        page_size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        start = page * page_size
        on_page = matching[start : start + page_size]
        path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        filters = {key: query[key] for key in ("To", "From") if key in query}

        def page_uri(number: int) -> str:
            token = {"PageToken": f"PA{secrets.token_hex(8)}"} if number else {}
            return f"{path}?" + urlencode({**filters, "PageSize": page_size, "Page": number, **token})

        has_next = start + page_size < len(matching)
        return web.json_response(
            {
                "messages": [_message_resource(message, status="queued") for message in on_page],
                "end": start + max(len(on_page) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page else None,
                "start": start,
                "uri": page_uri(page),
            }
        )

    async def _create_call(self, request: web.Request) -> web.Response:
        account_sid = request.match_info["account_sid"]
        if not self._authorised(request) or account_sid != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.mode == "outage":
            self.refused += 1
            return _error(self.outage_status, 20500, "Service Unavailable")
        form = await request.post()
        to = str(form.get("To", ""))
        if not to.startswith("+") or not ("Url" in form or "Twiml" in form):
            return _error(400, 21205, "Url parameter is required and To must be a phone number.")
        call = RecordedCall(
            sid="CA" + secrets.token_hex(16),
            to=to,
            from_=str(form.get("From", "")),
            url=str(form.get("Url", "")),
            status_callback=str(form["StatusCallback"]) if "StatusCallback" in form else None,
            status_callback_events=[str(event) for event in form.getall("StatusCallbackEvent", [])],
            timeout=str(form["Timeout"]) if "Timeout" in form else None,
            account_sid=account_sid,
        )
        self.calls.append(call)
        return web.json_response(_call_resource(call, status="queued"), status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        """Calls update: a redirect (Url/Twiml) or an end (Status canceled/completed), as Twilio has it."""
        if not self._authorised(request) or request.match_info["account_sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.mode == "outage":
            self.refused += 1
            return _error(self.outage_status, 20500, "Service Unavailable")
        form = await request.post()
        fields = {key: str(value) for key, value in form.items()}
        status = fields.get("Status")
        if status is not None and status not in ("canceled", "completed"):
            return _error(400, 21220, f"Invalid call state: {status}")
        if status is None and not ("Url" in fields or "Twiml" in fields):
            return _error(400, 21205, "Url, Twiml or Status is required.")
        call_sid = request.match_info["call_sid"]
        self.call_updates.append((call_sid, fields))
        placed = next((call for call in self.calls if call.sid == call_sid), None)
        if placed is None:
            return web.json_response({"sid": call_sid, "status": status or "in-progress"})
        return web.json_response(_call_resource(placed, status=status or "in-progress"))

    def voice_params(self, call_sid: str, *, from_: str, to: str, **fields: str) -> dict[str, str]:
        """The fields Twilio posts with every voice webhook of a call, plus `fields`."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call_sid,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "From": from_,
            "To": to,
            **fields,
        }

    async def post_voice(
        self, client: _Poster, url: str, call_sid: str, *, from_: str, to: str, **fields: str
    ) -> Any:
        """POST one of a call's voice webhooks (incoming, menu digits, wait, status…), signed."""
        return await self.post_signed(client, url, self.voice_params(call_sid, from_=from_, to=to, **fields))

    async def post_status_callback(
        self, client: _Poster, message: RecordedMessage, status: str, *, error_code: str | None = None
    ) -> Any:
        """POST a delivery status to the message's StatusCallback, signed as Twilio does."""
        assert message.status_callback, "the message was sent without a StatusCallback"
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_signed(client, message.status_callback, params)

    async def post_inbound(self, client: _Poster, url: str, *, from_: str, to: str, body: str) -> Any:
        """POST an incoming SMS to our number's messaging webhook, signed as Twilio does."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": "SM" + secrets.token_hex(16),
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": "SM" + secrets.token_hex(16),
            "To": to,
        }
        return await self.post_signed(client, url, params)

    async def post_signed(self, client: _Poster, url: str, params: dict[str, str]) -> Any:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return await client.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _call_resource(call: RecordedCall, *, status: str) -> dict[str, Any]:
    path = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    created = format_datetime(utcnow())
    return {
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": created,
        "date_updated": created,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": call.sid,
        "start_time": None,
        "status": status,
        "subresource_uris": {},
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{path}.json",
    }


def _message_resource(message: RecordedMessage, *, status: str) -> dict[str, Any]:
    created = format_datetime(message.created_at)  # RFC 2822 in GMT, to the second, as Twilio writes it
    path = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": created,
        "date_sent": None,
        "date_updated": created,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": status,
        "subresource_uris": {"media": f"{path}/Media.json"},
        "to": message.to,
        "uri": f"{path}.json",
    }
