"""Routes of the notifications area: Twilio webhooks and the development page of printed SMS."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from core.security import requires_staff
from notifications.sms import ConsoleSender
from notifications.webhooks import sms_inbound, sms_status_callback

__all__ = ["router"]


def requires_console_backend(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The page exists only where SMS are printed, never where they really go out."""
    if connection.app.state.settings.sms_backend != "console":
        raise NotFoundException()


@get(
    "/dev/sms",
    name="notifications:dev-sms",
    guards=[requires_console_backend, requires_staff],
    include_in_schema=False,
    sync_to_thread=False,
)
def dev_sms_page(request: Request[Any, Any, Any]) -> Template:
    sender = request.app.state.notifications.sender
    messages = sender.recent() if isinstance(sender, ConsoleSender) else []
    return Template(template_name="notifications/dev_sms.html", context={"messages": messages})


router = Router(path="/", route_handlers=[sms_status_callback, sms_inbound, dev_sms_page])
