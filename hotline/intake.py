"""Logging a call: validate what the operator typed, open or extend a case, encrypt, audit, one commit."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import col, select, update

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.privacy import FieldCipher, phone_index
from core.settings import Settings
from core.vocabulary import CATEGORIES
from hotline import cipher_contexts
from hotline.case_numbers import allocate_case_number
from hotline.case_scope import case_in_scope, sees_line
from hotline.mandatory_reports import ReportNeed, clean_situations, open_report, report_need
from hotline.models import Call, ReferralCase
from hotline.repeat_callers import RelatedCase, cases_called_about_from
from hotline.taxonomy import (
    AGE_BANDS,
    CALLER_TYPES,
    LINE_CASE_PREFIX,
    LINES,
    URGENCIES,
    Urgency,
    less_urgent_than,
)

__all__ = [
    "CALLER_PHONE_CONTEXT",
    "SUMMARY_CONTEXT",
    "SUMMARY_MAX_LENGTH",
    "CallIntake",
    "CallSource",
    "LoggedCall",
    "ValidCall",
    "call_intake_from_form",
    "log_call",
    "normalize_case_number",
    "validate_call",
]

SUMMARY_MAX_LENGTH = 4000
# An operator limited to one line (StaffUser.line) logs calls on that line only.
LINE_NOT_YOURS = N_("You take calls on one line only: choose that line, or ask a supervisor.")
# Bound into each ciphertext as associated data: a summary pasted into the phone column (or into
# another table) does not decrypt there.
SUMMARY_CONTEXT = cipher_contexts.CALL_SUMMARY
CALLER_PHONE_CONTEXT = cipher_contexts.CALL_CALLER_PHONE

_CASE_NUMBER = re.compile(r"^(?P<prefix>[0-9A-Z]+)-\d{4}-\d{6,}$")

# Fields the operator may leave empty, and what is stored then. Only the age band is mandatory
# (DOMAIN-SOURCES req. 2), so an unanswered question is stored as "not stated", never as a guess.
_UNANSWERED = {"caller_type": "unknown", "category": "unclassified", "urgency": Urgency.UNASSESSED}


@dataclass(frozen=True)
class CallIntake:
    """What the operator typed, as text, from the form or the JSON API. Nothing is trusted yet."""

    line: str | None = None
    caller_type: str | None = None
    category: str | None = None
    urgency: str | None = None
    child_age_band: str | None = None
    summary: str | None = None
    caller_phone: str | None = None
    case_number: str | None = None
    # 疑似侵害: the operator suspects the child is harmed or in danger. Ticking any art. 4 situation
    # (hotline.case_terms.MANDATORY_REPORT_SITUATIONS) implies it. Either opens a mandatory report.
    suspected_infringement: bool = False
    situations: list[str] | None = None


_FORM_TEXT_FIELDS = (
    "line",
    "caller_type",
    "category",
    "urgency",
    "child_age_band",
    "summary",
    "caller_phone",
    "case_number",
)


def call_intake_from_form(form: Mapping[str, Sequence[str]]) -> CallIntake:
    """The call form read as a multi-dict: the situations are a group of check boxes, and Litestar's
    URL-encoded parser would turn one ticked box into a plain string (see booking.roster_routes)."""

    def first(name: str) -> str | None:
        values = form.get(name) or []
        return values[0] if values else None

    return CallIntake(
        **{name: first(name) for name in _FORM_TEXT_FIELDS},
        suspected_infringement=bool((first("suspected_infringement") or "").strip()),
        situations=list(form.get("situations") or []),
    )


@dataclass(frozen=True)
class ValidCall:
    line: str
    caller_type: str
    category: str
    urgency: str
    child_age_band: str
    summary: str
    caller_phone_e164: str | None
    case_number: str | None
    mandatory_report: ReportNeed | None = None  # the call indicates harm: the case must be reported


@dataclass(frozen=True)
class LoggedCall:
    case_id: int
    case_number: str
    call_id: int
    opened_new_case: bool
    # Other cases this number called about; empty for anonymous calls.
    earlier_cases: list[RelatedCase]
    mandatory_report_opened: bool = False  # this call opened the case's mandatory report


@dataclass(frozen=True)
class CallSource:
    """A call the service itself took (a voice call through Twilio), not typed in after the fact: its
    channel, when it started, the caller's number as the phone network gave it (trusted, not checked as a
    typed mobile: it may be a landline) and `link`, run with (session, case id, call id) before the commit
    so the source row points at the logged call in the same transaction (it raises to refuse)."""

    channel: str
    received_at: datetime
    caller_phone_e164: str | None
    link: Callable[[AsyncSession, int, int], Awaitable[None]]


def normalize_case_number(raw: str | None) -> str | None:
    """`fe-2026-000042 ` → `FE-2026-000042`; None when empty; InvalidFormat when it cannot be one."""
    text = (raw or "").strip().upper()
    if not text:
        return None
    match = _CASE_NUMBER.match(text)
    if not match or match["prefix"] not in LINE_CASE_PREFIX.values():
        raise InvalidFormat(N_("A case number looks like 12355-2026-000123."))
    return text


def _choice(value: str | None, vocabulary: dict[str, str]) -> str | None:
    code = (value or "").strip()
    return code if code in vocabulary else None


def validate_call(intake: CallIntake) -> ValidCall:
    """Check every field at once, so the operator sees all problems in one round; FormInvalid if any."""
    errors: dict[str, str] = {}

    line = _choice(intake.line, LINES)
    if line is None:
        errors["line"] = N_("Choose the line this call came in on.")

    optional_codes: dict[str, str] = {}
    for field, vocabulary, message in (
        ("caller_type", CALLER_TYPES, N_("Choose who is calling from the list.")),
        ("category", CATEGORIES, N_("Choose a category from the list.")),
        ("urgency", URGENCIES, N_("Choose an urgency from the list.")),
    ):
        raw = (getattr(intake, field) or "").strip()
        if not raw:
            optional_codes[field] = _UNANSWERED[field]
        elif raw in vocabulary:
            optional_codes[field] = raw
        else:
            errors[field] = message

    age_band = _choice(intake.child_age_band, AGE_BANDS)
    if age_band is None:
        errors["child_age_band"] = N_("Choose the child's age band, or “Not known”.")

    summary = (intake.summary or "").strip()
    if not summary:
        errors["summary"] = N_("Write a short summary of the call.")
    elif len(summary) > SUMMARY_MAX_LENGTH:
        errors["summary"] = N_("The summary is too long: at most 4000 characters.")

    phone: str | None = None
    if (intake.caller_phone or "").strip():
        try:
            phone = normalize_mainland_mobile(intake.caller_phone or "")
        except InvalidFormat as exc:
            errors["caller_phone"] = str(exc)

    case_number: str | None = None
    try:
        case_number = normalize_case_number(intake.case_number)
    except InvalidFormat as exc:
        errors["case_number"] = str(exc)

    situations: tuple[str, ...] = ()
    try:
        situations = clean_situations(intake.situations)
    except FormInvalid as exc:
        errors.update(exc.errors)

    if errors:
        raise FormInvalid(errors)
    assert line is not None and age_band is not None  # narrowed by the checks above
    return ValidCall(
        line=line,
        caller_type=optional_codes["caller_type"],
        category=optional_codes["category"],
        urgency=optional_codes["urgency"],
        child_age_band=age_band,
        summary=summary,
        caller_phone_e164=phone,
        case_number=case_number,
        mandatory_report=report_need(
            category=optional_codes["category"],
            suspected=bool(intake.suspected_infringement),
            situations=situations,
        ),
    )


async def _existing_case(session: AsyncSession, number: str, viewer: StaffUser) -> ReferralCase:
    # A case of another unit or line is "no such case": its number must not tell them that it exists.
    case = (
        await session.exec(select(ReferralCase).where(ReferralCase.number == number, case_in_scope(viewer)))
    ).first()
    if case is None:
        raise FormInvalid({"case_number": N_("No case has this number.")})
    return case


async def _extend_case(session: AsyncSession, case_id: int, call: ValidCall, now: datetime) -> None:
    """Let a new call raise the case's urgency and fill an unknown age band, atomically in SQL: two
    operators adding calls at once must not overwrite a crisis with a routine (no read-modify-write)."""
    less_urgent = less_urgent_than(call.urgency)
    await session.exec(update(ReferralCase).where(col(ReferralCase.id) == case_id).values(updated_at=now))
    if less_urgent:
        await session.exec(
            update(ReferralCase)
            .where(col(ReferralCase.id) == case_id, col(ReferralCase.urgency).in_(less_urgent))
            .values(urgency=call.urgency)
        )
    if call.child_age_band != "unknown":
        await session.exec(
            update(ReferralCase)
            .where(col(ReferralCase.id) == case_id, col(ReferralCase.child_age_band) == "unknown")
            .values(child_age_band=call.child_age_band)
        )


async def log_call(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    intake: CallIntake,
    actor: StaffUser,
    timezone: str,
    client_ip: str | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
    source: CallSource | None = None,
) -> LoggedCall:
    """Record one call, in a new case or in the case named by `intake.case_number`.

    Case, call, their audit rows and, when the call indicates harm, the case's mandatory report with
    its alerts commit together or not at all. Raises FormInvalid (nothing saved) for bad input or an
    unknown case number. `settings` gives the report's deadline and the alerts' SMS; without them (a
    script that passes only the zone) the defaults apply. `source`: a call the service took itself.
    """
    call = validate_call(intake if source is None else replace(intake, caller_phone=None))
    if not sees_line(actor, call.line):
        raise FormInvalid({"line": LINE_NOT_YOURS})
    now = now or utcnow()
    actor_id = actor.id or 0
    try:
        if call.case_number is not None:
            # Read before any write: on SQLite the transaction (and its write lock) starts at the first
            # write, so a look-up here never holds up other operators.
            case = await _existing_case(session, call.case_number, actor)
            case_id, case_number, opened = case.id or 0, case.number, False
            unit_id = case.unit_id  # the call joins its case's unit
            await _extend_case(session, case_id, call, now)
        else:
            # The counter upsert is the first write, so the number's row lock is taken at once.
            case_number = await allocate_case_number(session, line=call.line, at=now, timezone=timezone)
            unit_id = actor.unit_id
            case = ReferralCase(
                unit_id=unit_id,
                number=case_number,
                line=call.line,
                category=call.category,
                urgency=call.urgency,
                child_age_band=call.child_age_band,
                created_by_id=actor_id,
                owner_id=actor_id,  # whoever opens a case carries it until a supervisor reassigns it
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            await session.flush()
            case_id, opened = case.id or 0, True
            record_audit(
                session,
                actor_id=actor.id,
                actor_label=actor.username,
                action="case.create",
                object_type="referral_case",
                object_id=case_number,
                detail={"line": call.line, "urgency": call.urgency},
                client_ip=client_ip,
            )

        phone = call.caller_phone_e164 if source is None else source.caller_phone_e164
        index = phone_index(cipher, phone) if phone else None
        row = Call(
            case_id=case_id,
            unit_id=unit_id,
            line=call.line,
            caller_type=call.caller_type,
            category=call.category,
            urgency=call.urgency,
            summary_ciphertext=cipher.encrypt(call.summary, context=SUMMARY_CONTEXT),
            caller_phone_ciphertext=cipher.encrypt_optional(phone, context=CALLER_PHONE_CONTEXT),
            caller_phone_index=index,
            operator_id=actor_id,
            received_at=now if source is None else source.received_at,
            channel="phone" if source is None else source.channel,
        )
        session.add(row)
        await session.flush()
        if source is not None:
            await source.link(session, case_id, row.id or 0)
        record_audit(
            session,
            actor_id=actor.id,
            actor_label=actor.username,
            action="call.create",
            object_type="hotline_call",
            object_id=row.id or 0,
            detail={"case": case_number, "anonymous": phone is None},
            client_ip=client_ip,
        )
        report_opened = False
        if call.mandatory_report is not None:
            new_report = await open_report(
                session,
                cipher,
                settings or _default_settings(timezone),
                case=case,
                need=call.mandatory_report,
                actor=actor,
                now=now,
                client_ip=client_ip,
            )
            report_opened = new_report.opened
        earlier = await cases_called_about_from(
            session, [index] if index else [], viewer=actor, excluding_case_id=case_id
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return LoggedCall(
        case_id=case_id,
        case_number=case_number,
        call_id=row.id or 0,
        opened_new_case=opened,
        earlier_cases=earlier,
        mandatory_report_opened=report_opened,
    )


def _default_settings(timezone: str) -> Settings:
    # Only the report's deadline and the alert texts are read from these; no key or database is used.
    return Settings(database_url="", secret_key="", data_key="", site_timezone=timezone)
