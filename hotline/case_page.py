"""The case page: the case read (and audited), its timeline, the forms of the work on it, and the
sections other modules contribute. Shown after a GET, a phone reveal, and again with the errors of a
form that was refused (status 400), so every way to the page goes through the audited read."""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from litestar.response import Template

from core.accounts import Role
from core.db import AsyncSession, utcnow
from core.http import client_ip
from core.i18n import N_, current_locale, gettext
from core.privacy import FieldCipher
from core.settings import Settings
from core.templating import babel_locale
from hotline.case_booking_standing import standing_of_booking
from hotline.case_history import case_history
from hotline.case_lifecycle import manual_targets
from hotline.case_owner import assignable_staff
from hotline.case_sections import SectionContext, load_case_sections
from hotline.case_terms import RiskLevel
from hotline.case_views import find_case, read_case
from hotline.page_helpers import StaffRequest, page_helpers
from hotline.taxonomy import CaseStatus
from hotline.timeline import case_timeline
from hotline.triage import ASSESSED_RISK_LEVELS, HIGH_RISK_LEVELS

__all__ = ["DONE_MESSAGES", "render_case_page"]

# What the page says after a form was accepted (`?done=<act>`).
DONE_MESSAGES: dict[str, str] = {
    "status": N_("The status was changed."),
    "close": N_("The case is closed. A satisfaction follow-up is due within 7 days."),
    "reopen": N_("The case is open again."),
    "risk": N_("The risk assessment was saved."),
    "child": N_("The child's details were saved."),
    "owner": N_("The case has a new owner."),
    "take": N_("You now own this case."),
    "notes": N_("The note was added."),
    "help-plan": N_("The help plan was saved."),
}


def on_day(value: date | None) -> str:
    """A calendar date (a review date) in the reader's language."""
    if value is None:
        return ""
    return format_date(value, format="long", locale=babel_locale(current_locale()))


async def render_case_page(
    request: StaffRequest,
    db: AsyncSession,
    settings: Settings,
    cipher: FieldCipher,
    *,
    number: str,
    reveal_phone_of_call: int | None = None,
    just_logged: int | None = None,
    just_booked: int | None = None,
    done: str | None = None,
    failed: str | None = None,
    errors: dict[str, str] | None = None,
    posted: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Template:
    """Read the case (audited, committed) and show it. After a refused form, `failed` names the form,
    `errors` its field messages and `posted` what was typed, so the form is shown again as it was sent."""
    viewer = request.user
    detail = await read_case(
        db,
        cipher,
        number=number,
        actor=viewer,
        client_ip=client_ip(request),
        via="page",
        reveal_phone_of_call=reveal_phone_of_call,
    )
    case = await find_case(db, detail.number, viewer)
    supervisor = viewer.role == Role.SUPERVISOR
    is_open = case.status != CaseStatus.CLOSED
    sections = await load_case_sections(
        SectionContext(session=db, cipher=cipher, settings=settings, case=case, viewer=viewer, now=utcnow())
    )
    return Template(
        template_name="hotline/case.html",
        context={
            **page_helpers(),
            **sections,
            "case": detail,
            "timeline": await case_timeline(db, cipher, case, detail),
            "is_open": is_open,
            "is_supervisor": supervisor,
            "viewer_id": viewer.id,
            "next_statuses": manual_targets(case.status),
            "risk_levels": ASSESSED_RISK_LEVELS,
            "plan_possible": detail.risk_level in HIGH_RISK_LEVELS,
            "risk_unassessed": detail.risk_level == RiskLevel.UNASSESSED,
            "assignable": (
                await assignable_staff(db, viewer, case.unit_id, case.line) if supervisor and is_open else []
            ),
            "on_day": on_day,
            "done_message": gettext(DONE_MESSAGES[done]) if done in DONE_MESSAGES else None,
            "just_logged": just_logged,
            "just_booked": just_booked,
            "failed": failed,
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
            "posted": posted or {},
            # Who read or changed the case (the reading just recorded included), for supervisors.
            "history": await case_history(db, detail.number) if supervisor else None,
            "now_utc": utcnow(),  # consultations not yet begun can be moved (hotline.case_reschedule)
            # A booking just made for a number online booking refuses: the operator tells the parent.
            "booked_standing": (
                await standing_of_booking(db, settings, case_id=case.id or 0, appointment_id=just_booked)
                if just_booked
                else None
            ),
        },
        status_code=status_code,
    )
