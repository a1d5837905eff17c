"""What every hotline page shares: the role guard and code-to-label helpers for templates."""

from __future__ import annotations

from typing import Any

from litestar import Request

from core.accounts import Role, StaffUser
from core.i18n import gettext
from core.security import requires_roles
from core.vocabulary import CATEGORIES, MODES, label
from hotline.case_terms import CASE_OUTCOMES, CHILD_FLAGS, CHILD_SEXES, RISK_LEVELS, SCHOOL_STAGES
from hotline.case_views import APPOINTMENT_STATUSES, STATUS_FILTERS
from hotline.taxonomy import AGE_BANDS, CALLER_TYPES, CASE_STATUSES, LINES, URGENCIES

__all__ = ["StaffRequest", "choices", "hotline_staff_only", "label_of", "page_helpers"]

StaffRequest = Request[StaffUser, Any, Any]
# Coordinators, experts and admins see no case content (DOMAIN.md, "People").
hotline_staff_only = requires_roles(Role.OPERATOR, Role.SUPERVISOR)

_VOCABULARIES: dict[str, dict[str, str]] = {
    "line": LINES,
    "caller_type": CALLER_TYPES,
    "category": CATEGORIES,
    "urgency": URGENCIES,
    "child_age_band": AGE_BANDS,
    "status": CASE_STATUSES,
    "mode": MODES,
    "appointment_status": APPOINTMENT_STATUSES,
    "status_filter": STATUS_FILTERS,
    "risk": RISK_LEVELS,
    "outcome": CASE_OUTCOMES,
    "child_flag": CHILD_FLAGS,
    "child_sex": CHILD_SEXES,
    "school_stage": SCHOOL_STAGES,
}


def label_of(kind: str, code: str | None) -> str:
    """A code's label in the reader's language. Translated here, not with Jinja's `_()`, which would
    mark the result safe: an unknown code read from the database must still be escaped."""
    return gettext(label(_VOCABULARIES[kind], code))


def choices(kind: str) -> list[tuple[str, str]]:
    return [(code, gettext(text)) for code, text in _VOCABULARIES[kind].items()]


def page_helpers() -> dict[str, Any]:
    return {"label_of": label_of, "choices": choices}
