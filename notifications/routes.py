"""Routes of the notifications area: Twilio webhooks and the development page of printed SMS."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Router, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Template

from core.security import requires_staff
from notifications.sms import ConsoleSender
from notifications.webhooks import TwilioWebhooks

__all__ = ["DevSmsPage", "router"]


def requires_console_backend(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The page exists only where SMS are printed, never where they really go out."""
    if connection.app.state.settings.sms_backend != "console":
        raise NotFoundException()


class DevSmsPage(Controller):
    path = "/dev/sms"
    guards = (requires_console_backend, requires_staff)
    include_in_schema = False

    @get("/", name="notifications:dev-sms", sync_to_thread=False)
    def messages(self, request: Request[Any, Any, Any]) -> Template:
        sender = request.app.state.notifications.sender
        messages = sender.recent() if isinstance(sender, ConsoleSender) else []
        return Template(template_name="notifications/dev_sms.html", context={"messages": messages})


router = Router(path="/", route_handlers=[TwilioWebhooks, DevSmsPage])
