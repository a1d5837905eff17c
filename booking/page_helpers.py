"""What booking's pages share: headers for token pages, error wording, vocabularies for templates."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from booking import roster
from core.errors import UserFacingError
from core.i18n import gettext
from core.settings import Settings
from core.vocabulary import CATEGORIES, MODES

__all__ = ["PRIVATE_HEADERS", "feed_urls", "say", "vocabularies"]

# Pages whose URL holds a secret token: never cached, never leaked to other sites through Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def say(exc: UserFacingError) -> str:
    """The error's message in the reader's language, with its numbers filled in."""
    return gettext(exc.message).format(**exc.format_args)


def vocabularies() -> dict[str, Any]:
    return {"MODES": MODES, "CATEGORIES": CATEGORIES, "WEEKDAYS": roster.WEEKDAYS}


def feed_urls(app: Litestar, settings: Settings, token: str | None) -> dict[str, str | None]:
    """The feed link as https and webcal:// for a page; both None when it cannot be shown (a link made
    before revision 0018 keeps working but only its hash exists: the page offers a new one)."""
    if token is None:
        return {"feed_url": None, "webcal_url": None}
    feed_url = settings.public_base_url + app.route_reverse("calendar:expert_feed", feed=f"{token}.ics")
    return {"feed_url": feed_url, "webcal_url": "webcal://" + feed_url.split("://", 1)[-1]}
