"""Refuse requests that carry a NUL character anywhere: in the path, the query or the body.

No person types NUL, and PostgreSQL text columns cannot hold it (the driver raises, which would be a
500 halfway through a request). Refusing it at the door with a 400 is one rule for every form, API body
and URL, instead of a check in each validator that someone will one day forget.
"""

from __future__ import annotations

import re

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import UserFacingError
from core.i18n import N_

__all__ = ["RefuseNulMiddleware"]

# Raw, percent-encoded (forms, URLs) and JSON-escaped spellings of U+0000.
_NUL = re.compile(rb"\x00|%00|\\u0000", re.IGNORECASE)
MESSAGE = N_("The request contains a character that cannot be saved (NUL). Remove it and try again.")


def _refuse() -> UserFacingError:
    return UserFacingError(MESSAGE)


class RefuseNulMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if _NUL.search(raw_path) or _NUL.search(scope.get("query_string", b"")):
            raise _refuse()
        if scope["method"] not in {"POST", "PUT", "PATCH"}:
            await next_app(scope, receive, send)
            return
        # Read the whole body first (forms and JSON here are small), check it, then replay it.
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if _NUL.search(body):
            raise _refuse()

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await next_app(scope, replay, send)
