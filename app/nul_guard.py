"""Refuse requests that carry a NUL character anywhere: in the path, the query or the body.

No person types NUL, and PostgreSQL text columns cannot hold it (the driver raises, which would be a
500 halfway through a request). Refusing it at the door with a 400 is one rule for every form, API body
and URL, instead of a check in each validator that someone will one day forget.
"""

from __future__ import annotations

import re
from typing import cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPScope, Receive, ReceiveMessage, Scope, Send

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
        http = cast(HTTPScope, scope)  # `scopes` admits HTTP only
        raw_path = http.get("raw_path") or http["path"].encode()
        if _NUL.search(raw_path) or _NUL.search(http.get("query_string", b"")):
            raise _refuse()
        if http["method"] not in {"POST", "PUT", "PATCH"}:
            await next_app(scope, receive, send)
            return
        # Read the whole body first (forms and JSON here are small), check it, then replay it.
        messages: list[ReceiveMessage] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if _NUL.search(b"".join(chunks)):
            raise _refuse()

        async def replay() -> ReceiveMessage:
            return messages.pop(0) if messages else await receive()

        await next_app(scope, replay, send)
