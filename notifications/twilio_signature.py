"""Twilio's signature on the requests it makes to us, checked the one way for SMS and voice webhooks.

Every request must carry a valid X-Twilio-Signature, computed by Twilio over the public URL it called
and the posted fields with our auth token. Anything else gets 403 and changes nothing. The public URL is
rebuilt from the configured base URL, not the Host header, which a proxy may rewrite.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.response import Response
from twilio.request_validator import RequestValidator

from core.i18n import N_, gettext
from core.settings import Settings

__all__ = ["SIGNATURE_HEADER", "public_url", "refuse", "verified_form"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"

_FORBIDDEN = N_("Twilio signature missing or invalid: this request was not made by Twilio.")
_NOT_CONFIGURED = N_("Twilio webhooks are not configured on this server.")


@lru_cache(maxsize=4)
def _validator(auth_token: str) -> RequestValidator:
    """One per token, made once: it holds only the token."""
    return RequestValidator(auth_token)


def public_url(settings: Settings, request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return settings.public_base_url + request.url.path + (f"?{query}" if query else "")


async def verified_form(request: Request[Any, Any, Any], settings: Settings) -> FormMultiDict | str:
    """The posted fields if Twilio signed them, else the reason (a message id) to refuse."""
    if not settings.twilio_auth_token:
        # With no token, an empty HMAC key would let anyone compute a "valid" signature.
        return _NOT_CONFIGURED
    signature = request.headers.get(SIGNATURE_HEADER)
    form = await request.form()
    if not signature:
        return _FORBIDDEN
    if not _validator(settings.twilio_auth_token).validate(public_url(settings, request), form, signature):
        return _FORBIDDEN
    return form


def refuse(request: Request[Any, Any, Any], reason: str) -> Response[dict[str, str]]:
    log.warning("refused unsigned or forged Twilio webhook on %s", request.url.path)
    return Response({"detail": gettext(reason)}, status_code=403)
