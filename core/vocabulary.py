"""Vocabulary shared by every area: the topics (a case's category is also an expert's specialty and a
parent's booking topic) and the ways a consultation takes place.

Codes are stored; labels are English gettext ids translated on display (zh_Hans first).
"""

from __future__ import annotations

from core.i18n import N_

__all__ = ["CATEGORIES", "MODES", "label"]

CATEGORIES: dict[str, str] = {
    "parenting": N_("Parenting and family education"),
    "parent_child": N_("Parent-child relationship"),
    "family_conflict": N_("Family conflict"),
    "study_pressure": N_("Study pressure"),
    "dropping_out": N_("Dropping out of school"),
    "mental_health": N_("Emotional or mental-health distress"),
    "self_harm": N_("Suicide or self-harm"),
    "bullying": N_("Bullying"),
    "violence": N_("Violence or abuse"),
    "sexual_abuse": N_("Sexual abuse"),
    "guardianship": N_("Guardianship failure or neglect"),
    "online_addiction": N_("Online addiction"),
    "delinquency": N_("Delinquency or crime"),
    "drowning_safety": N_("Drowning or safety risk"),
    "left_behind": N_("Left-behind or hardship child"),
    "rights": N_("Rights and legal questions"),
    "other": N_("Other"),
    # Only the age band is mandatory at intake; an unchosen category is recorded as such, not as "other".
    "unclassified": N_("Not yet classified"),
}

MODES: dict[str, str] = {
    "in_person": N_("In person"),
    "phone": N_("By phone"),
    "video": N_("By video"),
}


def label(vocabulary: dict[str, str], code: str | None) -> str:
    """The untranslated label of a code; unknown codes are shown as they are rather than hidden."""
    if code is None:
        return ""
    return vocabulary.get(code, code)
