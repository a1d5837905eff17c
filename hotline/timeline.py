"""A case's timeline: its calls, the events of the work on it (status and risk changes, notes, owners,
the child's details, the help plan, and what other modules record: referrals, mandatory reports, tasks)
and the consultations booked from it, in the order they happened, each with who did it.

Built from a case already read through `hotline.case_views.read_case`, so the reading is audited before
any of it is shown. Texts people wrote are decrypted here; codes are turned into the reader's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from core.db import AsyncSession
from core.i18n import N_, gettext
from core.privacy import FieldCipher
from core.vocabulary import CATEGORIES, MODES, label
from hotline.case_events import EVENT_TEXT_CONTEXT
from hotline.case_facts import staff_refs
from hotline.case_terms import CASE_OUTCOMES, RISK_LEVELS
from hotline.case_views import APPOINTMENT_STATUSES, CallView, CaseAppointment, CaseDetail
from hotline.casework_models import CaseEvent
from hotline.models import ReferralCase
from hotline.taxonomy import CALLER_TYPES, CASE_STATUSES, URGENCIES

__all__ = ["EVENT_LABELS", "TimelineEntry", "case_timeline"]

# What each kind of case event is called on the timeline. Modules that record events of their own kinds
# add their labels here; a kind without one is shown by its code rather than hidden.
EVENT_LABELS: dict[str, str] = {
    "status": N_("Status"),
    "risk": N_("Risk level"),
    "owner": N_("Owner"),
    "note": N_("Note"),
    "child": N_("Child's details updated"),
    "plan": N_("Help plan"),
    # Recorded by hotline.mandatory_reports, referrals, agency_link and task_work.
    "report.opened": N_("Mandatory report opened"),
    "report.situations": N_("Mandatory report: situations added"),
    "report.recorded": N_("Mandatory report made to the police"),
    "report.response": N_("Police response recorded"),
    "referral.sent": N_("Referral sent"),
    "referral.link_open": N_("The agency opened its referral link"),
    "referral.acknowledged": N_("The agency signed for the referral"),
    "referral.feedback": N_("The agency reported back"),
    "referral.declined": N_("The agency declined the referral"),
    "referral.accepted": N_("Referral feedback accepted"),
    "referral.returned": N_("Referral returned to the agency for more"),
    "referral.revoked": N_("Referral revoked"),
    "task.added": N_("Task added"),
    "task.done": N_("Task done"),
    "task.cancelled": N_("Task cancelled"),
    # Recorded by hotline.case_reschedule.
    "appointment.moved": N_("Consultation moved to another time"),
}

AGENCY_ACTOR_PREFIX = "agency:"

_CHILD_FIELDS: dict[str, str] = {
    "sex": N_("sex"),
    "age": N_("age"),
    "age_band": N_("age band"),
    "school_stage": N_("school stage"),
    "district": N_("district"),
    "name": N_("name"),
    "flags": N_("flags"),
}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "call", "appointment", or the kind of a case event ("status", "note", "referral.sent", …)
    who: str  # a staff username, "agency:<name>", or "system"
    what: str  # one line, in the reader's language
    text: str | None = None  # what a person wrote: a note, a reason, a call's summary
    detail: dict[str, Any] = field(default_factory=dict)  # codes and numbers only
    call: CallView | None = None  # for a call: the call as the case page shows it (phone masked)
    appointment: CaseAppointment | None = None


def _t(vocabulary: dict[str, str], code: Any) -> str:
    return gettext(label(vocabulary, None if code is None else str(code)))


def _headed(heading: str, what: str) -> str:
    return gettext("%(heading)s: %(what)s") % {"heading": heading, "what": what}


def _describe(kind: str, detail: dict[str, Any], names: dict[int, str]) -> str:
    """One line for an event, from its kind and the codes in its detail."""
    heading = gettext(EVENT_LABELS.get(kind, kind))
    if kind == "status":
        line = _headed(
            heading, f"{_t(CASE_STATUSES, detail.get('from'))} → {_t(CASE_STATUSES, detail.get('to'))}"
        )
        if detail.get("outcome"):
            line += " · " + _headed(gettext("Outcome"), _t(CASE_OUTCOMES, detail["outcome"]))
        return line
    if kind == "risk":
        return _headed(
            heading, f"{_t(RISK_LEVELS, detail.get('from'))} → {_t(RISK_LEVELS, detail.get('to'))}"
        )
    if kind == "owner":
        before = names.get(detail.get("from") or 0) or gettext("nobody")
        return _headed(heading, f"{before} → {names.get(detail.get('to') or 0, '')}")
    if kind == "child" and detail.get("changed"):
        return _headed(heading, gettext(", ").join(_t(_CHILD_FIELDS, name) for name in detail["changed"]))
    if kind == "plan":
        written = gettext("written") if detail.get("created") else gettext("revised")
        return f"{heading} ({written}) · " + _headed(gettext("Review on"), str(detail.get("review_on", "")))
    return heading


def _who(actor_label: str) -> str:
    """Who took a step, as the timeline names them: an agency acting through its link is labelled
    `agency:<name>` (hotline.agency_link) for the audit log; people read the name."""
    if actor_label.startswith(AGENCY_ACTOR_PREFIX):
        return gettext("%(agency)s (agency)") % {"agency": actor_label.removeprefix(AGENCY_ACTOR_PREFIX)}
    return actor_label


def _call_entry(call: CallView, names: dict[int, str]) -> TimelineEntry:
    return TimelineEntry(
        at=call.received_at,
        kind="call",
        who=names.get(call.operator_id, ""),
        what=" · ".join(
            (
                gettext("Call"),
                _t(CALLER_TYPES, call.caller_type),
                _t(CATEGORIES, call.category),
                _t(URGENCIES, call.urgency),
            )
        ),
        text=call.summary,
        detail={"caller_type": call.caller_type, "category": call.category, "urgency": call.urgency},
        call=call,
    )


def _appointment_entry(appointment: CaseAppointment) -> TimelineEntry:
    return TimelineEntry(
        at=appointment.booked_at,
        kind="appointment",
        who=appointment.booked_by,
        what=" · ".join(
            (
                gettext("Consultation booked"),
                appointment.expert_name,
                _t(MODES, appointment.mode),
                _t(APPOINTMENT_STATUSES, appointment.status),
            )
        ),
        detail={"mode": appointment.mode, "status": appointment.status},
        appointment=appointment,
    )


async def case_timeline(
    session: AsyncSession, cipher: FieldCipher, case: ReferralCase, detail: CaseDetail
) -> list[TimelineEntry]:
    """Everything that happened on the case, oldest first. `detail` is the audited read of `case`."""
    events = (
        await session.exec(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id)
            .order_by(col(CaseEvent.at), col(CaseEvent.id))
        )
    ).all()
    details = [json.loads(event.detail or "{}") for event in events]
    staff_ids = {call.operator_id for call in detail.calls}
    for event, event_detail in zip(events, details, strict=True):
        if event.kind == "owner":
            staff_ids |= {value for value in (event_detail.get("from"), event_detail.get("to")) if value}
    refs = await staff_refs(session, staff_ids)
    usernames = {uid: ref.username for uid, ref in refs.items()}
    shown_names = {uid: ref.display_name for uid, ref in refs.items()}

    # Calls before events before bookings at the same instant: a call is what the work that follows is about.
    entries: list[tuple[datetime, int, int, TimelineEntry]] = []
    for index, call in enumerate(detail.calls):
        entries.append((call.received_at, 0, index, _call_entry(call, usernames)))
    for index, (event, event_detail) in enumerate(zip(events, details, strict=True)):
        entry = TimelineEntry(
            at=event.at,
            kind=event.kind,
            who=_who(event.actor_label),
            what=_describe(event.kind, event_detail, shown_names),
            text=cipher.decrypt_optional(event.text_ciphertext, context=EVENT_TEXT_CONTEXT),
            detail=event_detail,
        )
        entries.append((event.at, 1, index, entry))
    for index, appointment in enumerate(detail.appointments):
        entries.append((appointment.booked_at, 2, index, _appointment_entry(appointment)))
    entries.sort(key=lambda item: item[:3])
    return [entry for *_, entry in entries]
