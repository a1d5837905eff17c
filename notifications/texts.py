"""SMS texts, rendered from templates/sms/<kind>.txt in the recipient's language.

These are service notifications (通知短信): they carry the organisation's 【signature】 and no marketing
or unsubscribe line, as mainland carriers require for notification templates. Nothing in them names a
child or describes a case.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.i18n import current_locale, gettext, ngettext, use_locale
from core.settings import PROJECT_ROOT
from notifications.models import MessageKind

__all__ = ["SMS_KINDS", "render_sms"]

# kind -> the context keys its template needs
SMS_KINDS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.OTP: ("code", "minutes"),
    MessageKind.BOOKING_CONFIRMED: ("expert_name", "when", "mode_label", "place", "manage_url"),
    MessageKind.BOOKING_CANCELLED: ("expert_name", "when", "book_url"),
    MessageKind.REMINDER: ("expert_name", "when", "mode_label", "place", "manage_url"),
    MessageKind.STAFF_ALERT: ("text",),
    MessageKind.REFERRAL_LINK: ("unit_name", "due_on", "url"),
    MessageKind.BOOKING_RESCHEDULED: ("expert_name", "old_when", "when", "mode_label", "place", "manage_url"),
}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(PROJECT_ROOT / "templates" / "sms"),
        autoescape=False,  # noqa: S701  (plain text, never HTML)
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        keep_trailing_newline=False,
    )
    env.install_gettext_callables(gettext=gettext, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def render_sms(kind: MessageKind, *, locale: str, signature: str, **context: Any) -> str:
    """Render one SMS. Missing context keys raise, so a half-filled text is never sent."""
    needed = SMS_KINDS.get(kind)
    if needed is None:
        raise ValueError(f"unknown SMS kind {kind!r}")
    missing = [key for key in needed if key not in context]
    if missing:
        raise ValueError(f"SMS {kind!r} needs {missing}")
    previous = current_locale()
    use_locale(locale)
    try:
        body = _environment().get_template(f"{kind}.txt").render(**context).strip()
    finally:
        use_locale(previous)
    return f"{signature}{body}"
