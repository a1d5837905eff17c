"""Mandatory reports (强制报告): the duty to report a minor harmed, or suspected of being harmed, to the
police at once (2020 opinion, art. 2 and 4; DOMAIN-SOURCES req. 3 and 4).

A call in a harm category, or a call (or a person on the case page) that ticks "suspected infringement"
or one of the art. 4 situations, opens the case's one report record in the same transaction: pending,
with a deadline, and an alert to every supervisor over the case's unit. Someone then records who
reported to which police unit, how, when, with what receipt; the police response may follow later.
The row is never deleted: it is the evidence that the duty was met, or when it was not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import Conflict, FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from core.transitions import Transitions
from hotline import cipher_contexts
from hotline.alerts import alert_staff, supervisors_over
from hotline.case_events import record_event
from hotline.case_guard import require_open
from hotline.case_terms import (
    MANDATORY_REPORT_CATEGORIES,
    MANDATORY_REPORT_SITUATIONS,
    REPORT_CHANNELS,
    MandatoryReportStatus,
)
from hotline.casework_models import MandatoryReport
from hotline.form_text import written_text
from hotline.models import ReferralCase

__all__ = [
    "MANDATORY_REPORT_TRANSITIONS",
    "POLICE_RESPONSE_CONTEXT",
    "REPORT_ALERT_KIND",
    "REPORT_ALERT_TEXT",
    "OpenedReport",
    "ReportNeed",
    "ReportRecord",
    "clean_situations",
    "open_report",
    "pending_report_for_case",
    "record_report",
    "report_due_at",
    "report_for_case",
    "report_need",
    "situations_of",
]

# Associated data of the encrypted police response (see core.privacy).
POLICE_RESPONSE_CONTEXT = cipher_contexts.MANDATORY_REPORT_POLICE_RESPONSE
POLICE_RESPONSE_MAX_LENGTH = 4000

MANDATORY_REPORT_TRANSITIONS = Transitions(
    "mandatory_report", {MandatoryReportStatus.PENDING: {MandatoryReportStatus.RECORDED}}
)

REPORT_ALERT_KIND = "mandatory_report.new"
# Names the case number only: an SMS to a supervisor's phone must carry no personal details.
REPORT_ALERT_TEXT = N_("Case {number} needs a mandatory report to the police")

_BAD_SITUATION = N_("Choose the situations from the list.")


# ---- when a report is needed, and by when ----


@dataclass(frozen=True)
class ReportNeed:
    """Why a case needs a report: its trigger ("category:<code>" or "ticked") and the art. 4 situations
    ticked, as codes in the vocabulary's order."""

    trigger: str
    situations: tuple[str, ...]


def clean_situations(raw: Iterable[str] | None) -> tuple[str, ...]:
    """Ticked situation codes, each once, in the vocabulary's order; FormInvalid for an unknown code."""
    codes = {(code or "").strip() for code in raw or ()} - {""}
    if codes - set(MANDATORY_REPORT_SITUATIONS):
        raise FormInvalid({"situations": _BAD_SITUATION})
    return tuple(code for code in MANDATORY_REPORT_SITUATIONS if code in codes)


def report_need(*, category: str, suspected: bool, situations: tuple[str, ...]) -> ReportNeed | None:
    """None when nothing on the call indicates harm. A harm category is the trigger named first, since it
    is what made the report unavoidable; a ticked situation implies the suspicion."""
    if category in MANDATORY_REPORT_CATEGORIES:
        return ReportNeed(trigger=f"category:{category}", situations=situations)
    if suspected or situations:
        return ReportNeed(trigger="ticked", situations=situations)
    return None


def report_due_at(arose_at: datetime, *, deadline_hours: int, timezone: str) -> datetime:
    """When the report turns red: `deadline_hours` after it arose, or with 0 the end of that same day in
    the site's zone (the opinion says 立即; a shift must not carry it into tomorrow)."""
    if deadline_hours > 0:
        return arose_at + timedelta(hours=deadline_hours)
    zone = ZoneInfo(timezone)
    local_day = arose_at.astimezone(zone).date()
    return datetime.combine(local_day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)


def situations_of(report: MandatoryReport) -> list[str]:
    return [code for code in report.situations.split(",") if code]


# ---- opening ----


@dataclass(frozen=True)
class OpenedReport:
    report: MandatoryReport
    opened: bool  # False: the case already had its report (new situations were added to it)


async def report_for_case(session: AsyncSession, case_id: int) -> MandatoryReport | None:
    return (await session.exec(select(MandatoryReport).where(MandatoryReport.case_id == case_id))).first()


async def pending_report_for_case(session: AsyncSession, case_id: int) -> MandatoryReport | None:
    """The case's report while it is still to be made (pending, overdue or not): closing the case must
    wait for it."""
    return (
        await session.exec(
            select(MandatoryReport).where(
                MandatoryReport.case_id == case_id, MandatoryReport.status == MandatoryReportStatus.PENDING
            )
        )
    ).first()


async def open_report(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    case: ReferralCase,
    need: ReportNeed,
    actor: StaffUser,
    now: datetime | None = None,
    client_ip: str | None = None,
) -> OpenedReport:
    """In the caller's transaction (no commit): the case's report, opened now with its timeline entry,
    audit row and alerts, or, when the case has one already, that one with the new situations added.
    A case has one report: the unique `case_id` decides between two calls logged at once."""
    now = now or utcnow()
    case_id = case.id or 0
    existing = await report_for_case(session, case_id)
    if existing is None:
        report = MandatoryReport(
            case_id=case_id,
            unit_id=case.unit_id,
            status=MandatoryReportStatus.PENDING,
            situations=",".join(need.situations),
            trigger=need.trigger,
            created_at=now,
            due_at=report_due_at(
                now, deadline_hours=settings.mandatory_report_deadline_hours, timezone=settings.site_timezone
            ),
        )
        try:
            async with session.begin_nested():
                session.add(report)
                await session.flush()
        except IntegrityError:
            existing = await report_for_case(session, case_id)
            if existing is None:
                raise
        else:
            await _announce(
                session, cipher, settings, case=case, report=report, actor=actor, client_ip=client_ip
            )
            return OpenedReport(report=report, opened=True)
    added = await _add_situations(session, existing, need.situations)
    if added:
        record_event(
            session, cipher, case_id=case_id, kind="report.situations", actor=actor, detail={"added": added}
        )
    return OpenedReport(report=existing, opened=False)


async def _announce(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    case: ReferralCase,
    report: MandatoryReport,
    actor: StaffUser,
    client_ip: str | None,
) -> None:
    detail = {"trigger": report.trigger, "situations": situations_of(report)}
    record_event(session, cipher, case_id=case.id or 0, kind="report.opened", actor=actor, detail=detail)
    _audit(session, actor, case, "mandatory_report.open", detail, client_ip)
    await alert_staff(
        session,
        cipher,
        settings,
        recipients=await supervisors_over(session, case.unit_id, case.line),
        case_id=case.id,
        kind=REPORT_ALERT_KIND,
        text=(REPORT_ALERT_TEXT, {"number": case.number}),
        dedupe_key=f"report.new:{report.id}",
    )


async def _add_situations(session: AsyncSession, report: MandatoryReport, new: tuple[str, ...]) -> list[str]:
    """Add situations with a compare-and-set on the stored list, so two calls adding different
    situations at once both keep theirs. Returns the codes that were new."""
    for _attempt in range(5):
        stored = (
            await session.exec(select(MandatoryReport.situations).where(col(MandatoryReport.id) == report.id))
        ).one()
        have = set(stored.split(",")) - {""}
        added = [code for code in new if code not in have]
        if not added:
            return []
        merged = ",".join(code for code in MANDATORY_REPORT_SITUATIONS if code in have or code in added)
        result = await session.exec(
            update(MandatoryReport)
            .where(col(MandatoryReport.id) == report.id, col(MandatoryReport.situations) == stored)
            .values(situations=merged)
        )
        if result.rowcount == 1:
            report.situations = merged
            return added
    raise Conflict(N_("Someone else changed this case at the same moment. Please try again."))


# ---- recording ----


@dataclass(frozen=True)
class ReportRecord:
    """What a person typed to record the report, from the case page or the JSON API; nothing trusted yet.
    `reported_at` is ISO 8601: with an offset, or without one in the site's zone (a datetime-local
    field). On a report already recorded, only `police_response` may be sent, to add it later."""

    police_unit: str | None = None
    channel: str | None = None
    reported_at: str | None = None
    receipt_number: str | None = None
    police_response: str | None = None


def _reported_at(raw: str | None, timezone: str) -> datetime | None:
    try:
        value = datetime.fromisoformat((raw or "").strip())
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(timezone))
        return value.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time; or one at the calendar's edge that UTC cannot hold
        return None


def _response(raw: str | None, errors: dict[str, str]) -> str | None:
    text = written_text(
        errors,
        "police_response",
        raw,
        max_length=POLICE_RESPONSE_MAX_LENGTH,
        missing=None,
        too_long=N_("The police response is too long: at most 4000 characters."),
    )
    return text or None


def _check_record(
    form: ReportRecord, report: MandatoryReport, *, timezone: str, now: datetime
) -> tuple[str, str, datetime, str, str | None]:
    errors: dict[str, str] = {}
    police_unit = " ".join((form.police_unit or "").split())
    if not police_unit or len(police_unit) > 120:
        errors["police_unit"] = N_("Name the police unit the report went to (at most 120 characters).")
    channel = (form.channel or "").strip()
    if channel not in REPORT_CHANNELS:
        errors["channel"] = N_("Choose how the report was made.")
    reported_at = _reported_at(form.reported_at, timezone)
    # A minute's grace both ways: the page's time field has no seconds.
    if reported_at is None:
        errors["reported_at"] = N_("Give the date and time of the report.")
    elif reported_at > now + timedelta(minutes=1):
        errors["reported_at"] = N_("The time of the report cannot be in the future.")
    elif reported_at < report.created_at.replace(second=0, microsecond=0):
        errors["reported_at"] = N_("The time of the report cannot be before the report arose.")
    receipt = " ".join((form.receipt_number or "").split())
    if not receipt or len(receipt) > 60:
        errors["receipt_number"] = N_(
            "Give the receipt or reference number the police gave (at most 60 characters)."
        )
    response = _response(form.police_response, errors)
    if errors:
        raise FormInvalid(errors)
    assert reported_at is not None  # narrowed by the checks above
    return police_unit, channel, reported_at, receipt, response


async def record_report(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    form: ReportRecord,
    actor: StaffUser,
    timezone: str,
    now: datetime | None = None,
    client_ip: str | None = None,
) -> MandatoryReport:
    """Record the report (pending → recorded), or add the police response to one already recorded.
    Audited, on the timeline, committed. FormInvalid (nothing changed) for bad input; NotFound when the
    case has no report; Conflict when someone else recorded it first."""
    now = now or utcnow()
    require_open(case)
    try:
        report = await report_for_case(session, case.id or 0)
        if report is None:
            raise NotFound(N_("This case has no mandatory report."))
        if report.status == MandatoryReportStatus.RECORDED:
            await _add_response(session, cipher, report, form, actor=actor, case=case, client_ip=client_ip)
        else:
            await _record(
                session, cipher, report, form, actor=actor, case=case, timezone=timezone, now=now,
                client_ip=client_ip,
            )  # fmt: skip
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    await session.refresh(report)
    return report


async def _record(
    session: AsyncSession,
    cipher: FieldCipher,
    report: MandatoryReport,
    form: ReportRecord,
    *,
    actor: StaffUser,
    case: ReferralCase,
    timezone: str,
    now: datetime,
    client_ip: str | None,
) -> None:
    police_unit, channel, reported_at, receipt, response = _check_record(
        form, report, timezone=timezone, now=now
    )
    target = MandatoryReportStatus.RECORDED
    result = await session.exec(
        update(MandatoryReport)
        .where(
            col(MandatoryReport.id) == report.id,
            col(MandatoryReport.status).in_(MANDATORY_REPORT_TRANSITIONS.sources_of(target)),
        )
        .values(
            status=target,
            police_unit=police_unit,
            channel=channel,
            reported_at=reported_at,
            receipt_number=receipt,
            police_response_ciphertext=cipher.encrypt_optional(response, context=POLICE_RESPONSE_CONTEXT),
            recorded_by_id=actor.id,
            recorded_at=now,
        )
    )
    if result.rowcount != 1:
        raise Conflict(N_("Someone else has just recorded this report."))
    detail = {"channel": channel, "with_response": response is not None}
    record_event(session, cipher, case_id=case.id or 0, kind="report.recorded", actor=actor, detail=detail)
    _audit(session, actor, case, "mandatory_report.record", detail, client_ip)


async def _add_response(
    session: AsyncSession,
    cipher: FieldCipher,
    report: MandatoryReport,
    form: ReportRecord,
    *,
    actor: StaffUser,
    case: ReferralCase,
    client_ip: str | None,
) -> None:
    errors: dict[str, str] = {}
    if any(
        (value or "").strip()
        for value in (form.police_unit, form.channel, form.reported_at, form.receipt_number)
    ):
        errors["report"] = N_("This report is already recorded; only the police response can be added.")
    response = _response(form.police_response, errors)
    if response is None and "police_response" not in errors:
        errors["police_response"] = N_("Write what the police said or did.")
    if errors:
        raise FormInvalid(errors)
    # Evidence is added to, never rewritten: a response already there stays.
    result = await session.exec(
        update(MandatoryReport)
        .where(
            col(MandatoryReport.id) == report.id, col(MandatoryReport.police_response_ciphertext).is_(None)
        )
        .values(police_response_ciphertext=cipher.encrypt(response or "", context=POLICE_RESPONSE_CONTEXT))
    )
    if result.rowcount != 1:
        raise FormInvalid({"police_response": N_("The police response is already recorded.")})
    record_event(session, cipher, case_id=case.id or 0, kind="report.response", actor=actor)
    _audit(session, actor, case, "mandatory_report.response", {}, client_ip)


def _audit(
    session: AsyncSession,
    actor: StaffUser,
    case: ReferralCase,
    action: str,
    detail: dict[str, Any],
    client_ip: str | None,
) -> None:
    record_audit(
        session,
        actor_id=actor.id,
        actor_label=actor.username,
        action=action,
        object_type="referral_case",
        object_id=case.number,
        detail=detail,
        client_ip=client_ip,
    )
