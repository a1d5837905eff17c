"""Gettext translations (zh_Hans first, English too) chosen per request and shared with Jinja.

Catalogues are read from `locales/<locale>/LC_MESSAGES/*.po` at start-up and compiled in memory, so
there is no separate compile step to forget. Message ids are English; zh_Hans is the default locale.
"""

from __future__ import annotations

import gettext as _gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = [
    "LOCALES",
    "N_",
    "current_locale",
    "gettext",
    "load_translations",
    "negotiate_locale",
    "ngettext",
    "use_locale",
]

LOCALES: dict[str, str] = {"zh_Hans": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_Hans"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locales"

_current: ContextVar[str] = ContextVar("locale", default=DEFAULT_LOCALE)


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the reader's locale is known."""
    return message


@cache
def load_translations(locale: str) -> _gettext.NullTranslations:
    directory = LOCALE_DIR / locale / "LC_MESSAGES"
    merged: _gettext.NullTranslations = _gettext.NullTranslations()
    for po_path in sorted(directory.glob("*.po")) if directory.is_dir() else []:
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        translations = _gettext.GNUTranslations(buffer)
        if isinstance(merged, _gettext.GNUTranslations):
            merged.add_fallback(translations)
        else:
            merged = translations
    return merged


def current_locale() -> str:
    return _current.get()


def use_locale(locale: str) -> None:
    _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def gettext(message: str) -> str:
    return load_translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return load_translations(_current.get()).ngettext(singular, plural, n)


def negotiate_locale(cookie_value: str | None, accept_language: str | None, default: str) -> str:
    """Explicit choice (cookie) wins, then the browser's first supported language, then the default."""
    if cookie_value in LOCALES:
        return cookie_value
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return default if default in LOCALES else DEFAULT_LOCALE
