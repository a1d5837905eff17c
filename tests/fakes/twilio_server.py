"""A small fake Twilio of ours: the Messages endpoint over real HTTP, and Twilio-signed callbacks.

The real `twilio` client talks to it (its API base URL is pointed here), so tests exercise the client's
HTTP, auth, parsing and error mapping. It can play an outage (500) or a recipient who replied STOP
(400, error 21610), and it can call our webhooks signed exactly as Twilio signs them.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, Literal, Protocol

from aiohttp import web
from twilio.request_validator import RequestValidator

from core.db import utcnow

__all__ = ["FakeTwilio", "RecordedMessage"]

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


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "fake-twilio-auth-token"
    mode: Mode = "ok"
    messages: list[RecordedMessage] = field(default_factory=list)
    requests: int = 0
    _runner: web.AppRunner | None = None
    _port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> FakeTwilio:
        app = web.Application()
        app.router.add_post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", self._create_message)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
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
            return _error(500, 20500, "Internal Server Error")
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
        return web.json_response(_message_resource(message, status="queued"), status=201)

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


def _message_resource(message: RecordedMessage, *, status: str) -> dict[str, Any]:
    now = format_datetime(utcnow())
    path = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
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
