"""What booking's pages share: headers for token pages, error wording, vocabularies for templates."""

from __future__ import annotations

from typing import Any

from booking import roster
from core.errors import UserFacingError
from core.i18n import gettext
from core.vocabulary import CATEGORIES, MODES

__all__ = ["PRIVATE_HEADERS", "say", "vocabularies"]

# Pages whose URL holds a secret token: never cached, never leaked to other sites through Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def say(exc: UserFacingError) -> str:
    """The error's message in the reader's language, with its numbers filled in."""
    return gettext(exc.message).format(**exc.format_args)


def vocabularies() -> dict[str, Any]:
    return {"MODES": MODES, "CATEGORIES": CATEGORIES, "WEEKDAYS": roster.WEEKDAYS}
