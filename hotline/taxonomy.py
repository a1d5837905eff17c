"""The fixed vocabularies of the hotline: lines, caller types, categories, urgency, age bands.

Codes are stored; labels are English gettext ids translated on display (zh_Hans first).
"""

from __future__ import annotations

from core.i18n import N_

__all__ = [
    "AGE_BANDS",
    "CALLER_TYPES",
    "CASE_STATUSES",
    "LINES",
    "LINE_CASE_PREFIX",
    "URGENCIES",
    "less_urgent_than",
]

LINES: dict[str, str] = {
    "12355": N_("12355 youth service hotline"),
    "family_edu": N_("Family-education hotline"),
}
# Case numbers start with this, e.g. 12355-2026-000123, FE-2026-000042.
LINE_CASE_PREFIX: dict[str, str] = {"12355": "12355", "family_edu": "FE"}

CALLER_TYPES: dict[str, str] = {
    "child": N_("Child or young person"),
    "parent": N_("Parent"),
    "guardian": N_("Other guardian or relative"),
    "teacher": N_("Teacher or school"),
    "professional": N_("Social worker or other professional"),
    "other": N_("Other"),
    # Anonymous contacts need not say who they are (DOMAIN-SOURCES req. 2).
    "unknown": N_("Not stated"),
}


# Ordered from least to most urgent: a later call can raise a case's urgency, never lower it.
URGENCIES: dict[str, str] = {
    "unassessed": N_("Not assessed"),
    "routine": N_("Routine"),
    "priority": N_("Priority"),
    "urgent": N_("Urgent"),
    "crisis": N_("Crisis (danger now)"),
}

AGE_BANDS: dict[str, str] = {
    "0-5": N_("0–5 years"),
    "6-11": N_("6–11 years"),
    "12-14": N_("12–14 years"),
    "15-17": N_("15–17 years"),
    "18+": N_("18 or older"),
    "unknown": N_("Not known"),
}

CASE_STATUSES: dict[str, str] = {
    "accepted": N_("Accepted"),
    "referred": N_("Referred"),
    "in_progress": N_("In progress"),
    "closed": N_("Closed"),
}


def less_urgent_than(code: str) -> list[str]:
    """The urgency codes below `code`; a new call lifts a case's urgency only out of these."""
    order = list(URGENCIES)
    return order[: order.index(code)] if code in URGENCIES else []
