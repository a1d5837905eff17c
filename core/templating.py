"""The Jinja environment: gettext, local-time formatting and masking filters shared by every page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from core.i18n import LOCALES, current_locale, gettext, ngettext
from core.privacy import mask_phone

__all__ = ["TEMPLATE_DIR", "babel_locale", "create_template_config", "local_formatters"]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def babel_locale(locale: str) -> str:
    return {"zh_Hans": "zh_Hans_CN", "en": "en_GB"}.get(locale, "zh_Hans_CN")


def local_formatters(timezone: str) -> dict[str, object]:
    """Filters that show a stored UTC time in the site's zone, in the reader's language."""
    zone = ZoneInfo(timezone)

    def when(value: datetime | None, style: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(value.astimezone(zone), format=style, locale=babel_locale(current_locale()))

    def day(value: datetime | None) -> str:
        if value is None:
            return ""
        return format_date(value.astimezone(zone), format="full", locale=babel_locale(current_locale()))

    def clock(value: datetime | None) -> str:
        if value is None:
            return ""
        return format_time(value.astimezone(zone), format="HH:mm", locale=babel_locale(current_locale()))

    return {"when": when, "day": day, "clock": clock}


def create_environment(timezone: str, directory: Path = TEMPLATE_DIR) -> Environment:
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html", "xml"]),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(local_formatters(timezone))
    env.filters["mask_phone"] = mask_phone
    env.globals.update(LOCALES=LOCALES, current_locale=current_locale)
    return env


def create_template_config(timezone: str) -> TemplateConfig[JinjaTemplateEngine]:
    env = create_environment(timezone)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))
