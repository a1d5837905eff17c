"""Headers every response carries, so a browser treats case data and secret links with care.

- No framing, no MIME sniffing, and a CSP that allows only our own stylesheet, forms and script files
  (the phone-duty page's screen-pop, static/voice_console.js; no inline or third-party script); the
  OpenAPI viewers under /schema load their scripts from a CDN and are left without CSP.
- `Referrer-Policy: same-origin`: booking, verify and feed URLs carry secret tokens, and a link a parent
  follows off the site must not hand the token to another server in its Referer.
- Staff pages are `no-store`: case content must not stay in the cache of a shared centre computer.
  Routes that set their own Cache-Control (feeds, booking pages) keep it.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]

CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
_ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
_STAFF_PREFIXES = ("/hotline", "/api/cases", "/api/calls", "/roster", "/dev", "/login")


class SecurityHeadersMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for key, value in _ALWAYS.items():
                    if key not in headers:
                        headers[key] = value
                if not path.startswith("/schema") and "content-security-policy" not in headers:
                    headers["content-security-policy"] = CSP
                if path.startswith(_STAFF_PREFIXES) and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await next_app(scope, receive, send_with_headers)
