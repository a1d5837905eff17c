"""The fixed vocabularies of the hotline: lines, caller types, urgency, age bands, case statuses and the
legal changes of a case's status. (Categories are shared with booking: `core.vocabulary.CATEGORIES`.)

Codes are stored; labels are English gettext ids translated on display (zh_Hans first).
"""

from __future__ import annotations

from enum import StrEnum

from core.i18n import N_
from core.transitions import Transitions

__all__ = [
    "AGE_BANDS",
    "CALLER_TYPES",
    "CASE_STATUSES",
    "CASE_TRANSITIONS",
    "LINES",
    "LINE_CASE_PREFIX",
    "URGENCIES",
    "CaseStatus",
    "Line",
    "Urgency",
    "less_urgent_than",
]


class Line(StrEnum):
    YOUTH_12355 = "12355"  # 共青团 12355 youth service / minor-protection hotline
    FAMILY_EDUCATION = "family_edu"  # 妇联 family-education hotline


LINES: dict[str, str] = {
    Line.YOUTH_12355: N_("12355 youth service hotline"),
    Line.FAMILY_EDUCATION: N_("Family-education hotline"),
}
# Case numbers start with this, e.g. 12355-2026-000123, FE-2026-000042.
LINE_CASE_PREFIX: dict[str, str] = {Line.YOUTH_12355: "12355", Line.FAMILY_EDUCATION: "FE"}

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


class Urgency(StrEnum):
    """Declared from least to most urgent: a later call can raise a case's urgency, never lower it."""

    UNASSESSED = "unassessed"
    ROUTINE = "routine"
    PRIORITY = "priority"
    URGENT = "urgent"
    CRISIS = "crisis"


URGENCIES: dict[str, str] = {
    Urgency.UNASSESSED: N_("Not assessed"),
    Urgency.ROUTINE: N_("Routine"),
    Urgency.PRIORITY: N_("Priority"),
    Urgency.URGENT: N_("Urgent"),
    Urgency.CRISIS: N_("Crisis (danger now)"),
}

AGE_BANDS: dict[str, str] = {
    "0-5": N_("0–5 years"),
    "6-11": N_("6–11 years"),
    "12-14": N_("12–14 years"),
    "15-17": N_("15–17 years"),
    "18+": N_("18 or older"),
    "unknown": N_("Not known"),
}


class CaseStatus(StrEnum):
    ACCEPTED = "accepted"  # 已受理
    IN_PROGRESS = "in_progress"  # 处理中
    REFERRED = "referred"  # 已转介, awaiting an agency's feedback
    FOLLOW_UP = "follow_up"  # 跟进中
    CLOSED = "closed"  # 已办结


CASE_STATUSES: dict[str, str] = {
    CaseStatus.ACCEPTED: N_("Accepted"),
    CaseStatus.IN_PROGRESS: N_("In progress"),
    CaseStatus.REFERRED: N_("Referred"),
    CaseStatus.FOLLOW_UP: N_("Follow-up"),
    CaseStatus.CLOSED: N_("Closed"),
}

_C = CaseStatus
# 受理 → 处理 → 转介 → 跟进 → 办结, with steps back while the work goes on. Only a supervisor reopens a
# closed case, with a reason (hotline.case_lifecycle says who may take which edge).
CASE_TRANSITIONS = Transitions(
    "referral case",
    {
        _C.ACCEPTED: {_C.IN_PROGRESS, _C.REFERRED, _C.FOLLOW_UP, _C.CLOSED},
        _C.IN_PROGRESS: {_C.REFERRED, _C.FOLLOW_UP, _C.CLOSED},
        _C.REFERRED: {_C.IN_PROGRESS, _C.FOLLOW_UP, _C.CLOSED},
        _C.FOLLOW_UP: {_C.IN_PROGRESS, _C.REFERRED, _C.CLOSED},
        _C.CLOSED: {_C.IN_PROGRESS},
    },
)


def less_urgent_than(code: str) -> list[Urgency]:
    """The urgency codes below `code`; a new call lifts a case's urgency only out of these."""
    order = list(Urgency)
    return order[: order.index(Urgency(code))] if code in URGENCIES else []
