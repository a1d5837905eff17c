"""A closed case is read-only until a supervisor reopens it: every act that would change a case (a note,
a referral, a task, triage) asks here first."""

from __future__ import annotations

from core.errors import FormInvalid
from core.i18n import N_
from hotline.models import ReferralCase
from hotline.taxonomy import CaseStatus

__all__ = ["CASE_CLOSED_MESSAGE", "require_open"]

CASE_CLOSED_MESSAGE = N_("This case is closed. A supervisor can reopen it, with a reason.")


def require_open(case: ReferralCase) -> None:
    """FormInvalid (a 400 with this message, nothing changed) when the case is closed."""
    if case.status == CaseStatus.CLOSED:
        raise FormInvalid({"case": CASE_CLOSED_MESSAGE})
