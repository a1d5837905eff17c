"""Referring a case to an agency (转介) and the staff's side of its feedback (回执/反馈).

An operator refers: the referral gets a secret link (only its SHA-256 is stored), a due date in working
days from the agency's expected feedback time (hotline.working_days), an SMS with the link to the
agency contact's mobile, a task to check the feedback by the due date, and the case moves to "referred".
The agency then answers through the link (hotline.agency_link). The operator accepts the feedback
(the referral closes, the check task is done) or returns it for more; a supervisor may revoke a
referral still open. Every step is a conditional UPDATE along REFERRAL_TRANSITIONS and a timeline event.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.audit import record_audit
from core.db import AsyncSession, get_by_outside_id, utcnow
from core.errors import Conflict, FormInvalid, NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit
from hotline import cipher_contexts
from hotline.agencies import agency_mobile, usable_agency
from hotline.case_events import record_event
from hotline.case_guard import require_open
from hotline.case_lifecycle import move_case
from hotline.case_terms import REFERRAL_TRANSITIONS, Light, ReferralStatus, TaskKind, TaskStatus
from hotline.casework_models import Agency, Referral
from hotline.form_text import written_text
from hotline.lights import light_of
from hotline.models import ReferralCase
from hotline.referral_steps import move_referral, settle_check_task
from hotline.tasks import open_task
from hotline.taxonomy import URGENCIES, CaseStatus
from hotline.working_days import add_working_days, end_of_local_day
from notifications.models import MessageKind
from notifications.outbox import enqueue
from notifications.texts import render_sms

__all__ = [
    "DECLINE_CONTEXT",
    "FEEDBACK_CONTEXT",
    "REASON_CONTEXT",
    "REQUEST_CONTEXT",
    "ReferralForm",
    "ReferralView",
    "SentReferral",
    "StepForm",
    "accept_feedback",
    "case_referrals",
    "link_url",
    "read_case_referrals",
    "return_for_more",
    "revoke_referral",
    "send_referral",
    "token_digest",
]

REASON_CONTEXT = cipher_contexts.REFERRAL_REASON
REQUEST_CONTEXT = cipher_contexts.REFERRAL_REQUEST
FEEDBACK_CONTEXT = cipher_contexts.REFERRAL_FEEDBACK
DECLINE_CONTEXT = cipher_contexts.REFERRAL_DECLINE_REASON
TEXT_MAX = 2000
OPEN_STATUSES = frozenset(s for s in ReferralStatus if not REFERRAL_TRANSITIONS.terminal(s))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/r/{token}"


def required_text(raw: str, field: str, message: str) -> str:
    """Trimmed text of 1 to TEXT_MAX characters, or a FormInvalid on `field` (one message for both)."""
    errors: dict[str, str] = {}
    text = written_text(errors, field, raw, max_length=TEXT_MAX, missing=message, too_long=message)
    if errors:
        raise FormInvalid(errors)
    return text


@dataclass(frozen=True)
class ReferralForm:
    agency_id: int
    reason: str = ""
    request: str = ""
    urgency: str = "priority"
    share_caller_phone: bool = False  # the agency sees the caller's number only when ticked


@dataclass(frozen=True)
class StepForm:
    """The note of a "return for more" or the reason of a revocation."""

    text: str = ""


@dataclass(frozen=True)
class SentReferral:
    referral_id: int
    due_on: str  # ISO date
    # Only when the agency has no mobile: shown once, for the operator to pass on. When the link went by
    # SMS, staff never see it (they cannot act as the agency).
    link: str | None
    texted: bool  # False: the agency has no mobile, and the operator passes the link on


@dataclass(frozen=True)
class ReferralView:
    id: int
    agency_name: str
    status: str
    urgency: str
    sent_at: datetime
    due_on: str
    light: Light | None  # for open referrals only
    reason: str
    request: str
    acknowledged_by: str | None
    feedback: str | None
    decline_reason: str | None
    can_accept: bool
    can_return: bool
    can_revoke: bool


async def send_referral(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    case: ReferralCase,
    form: ReferralForm,
    actor: StaffUser,
    client_ip: str | None,
) -> SentReferral:
    """Refer `case` (found within the actor's scope) and commit: referral, SMS, check task, case status
    and timeline together, or nothing."""
    require_open(case)
    errors: dict[str, str] = {}
    reason = request = ""
    try:
        reason = required_text(
            form.reason, "reason", N_("Say why the case is referred (at most 2000 characters).")
        )
    except FormInvalid as exc:
        errors.update(exc.errors)
    try:
        request = required_text(
            form.request, "request", N_("Say what the agency is asked to do (at most 2000 characters).")
        )
    except FormInvalid as exc:
        errors.update(exc.errors)
    if form.urgency not in URGENCIES:
        errors["urgency"] = N_("Choose how urgent the referral is.")
    try:
        agency = await usable_agency(session, form.agency_id, case.unit_id)
    except NotFound:
        errors["agency_id"] = N_("Choose an agency from the list.")
    if errors:
        raise FormInvalid(errors)

    now = utcnow()
    sent_on = now.astimezone(ZoneInfo(settings.site_timezone)).date()
    due_on = add_working_days(sent_on, agency.feedback_days)
    due_at = end_of_local_day(due_on, settings.site_timezone)
    token = secrets.token_urlsafe(32)
    try:
        referral = Referral(
            case_id=case.id or 0,
            unit_id=case.unit_id,
            agency_id=agency.id or 0,
            status=ReferralStatus.SENT,
            urgency=form.urgency,
            reason_ciphertext=cipher.encrypt(reason, context=REASON_CONTEXT),
            request_ciphertext=cipher.encrypt(request, context=REQUEST_CONTEXT),
            share_caller_phone=bool(form.share_caller_phone),
            token_hash=token_digest(token),
            sent_by_id=actor.id or 0,
            sent_at=now,
            due_on=due_on,
            due_at=due_at,
            updated_at=now,
        )
        session.add(referral)
        await session.flush()
        referral_id = referral.id or 0
        mobile = agency_mobile(cipher, agency)
        if mobile is not None:
            unit_name = (await session.exec(select(OrgUnit.name).where(OrgUnit.id == case.unit_id))).one()
            await enqueue(
                session,
                cipher,
                kind=MessageKind.REFERRAL_LINK,
                to_e164=mobile,
                body=render_sms(
                    MessageKind.REFERRAL_LINK,
                    locale=settings.default_locale,
                    signature=settings.sms_signature,
                    unit_name=unit_name,
                    due_on=due_on.isoformat(),
                    url=link_url(settings, token),
                ),
                related_type="referral",
                related_id=referral_id,
            )
        await open_task(
            session,
            case_id=case.id or 0,
            unit_id=case.unit_id,
            kind=TaskKind.REFERRAL_CHECK,
            title=f"Check the feedback from {agency.name}"[:200],
            due_at=due_at,
            owner_id=case.owner_id,
            created_by_id=actor.id,
            rule_key=f"referral:{referral_id}",
            referral_id=referral_id,
        )
        record_event(
            session,
            cipher,
            case_id=case.id or 0,
            kind="referral.sent",
            actor=actor,
            detail={
                "referral": referral_id,
                "agency": agency.id,
                "due_on": due_on.isoformat(),
                "texted": mobile is not None,
                "shares_phone": referral.share_caller_phone,
            },
            at=now,
        )
        await move_case(session, cipher, case, CaseStatus.REFERRED, actor=actor, now=now)
        record_audit(
            session,
            actor_id=actor.id,
            actor_label=actor.username,
            action="referral.create",
            object_type="referral",
            object_id=referral_id,
            detail={"case": case.number, "agency": agency.id},
            client_ip=client_ip,
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return SentReferral(
        referral_id=referral_id,
        due_on=due_on.isoformat(),
        link=None if mobile is not None else link_url(settings, token),
        texted=mobile is not None,
    )


async def _referral_of_case(session: AsyncSession, case: ReferralCase, referral_id: int) -> Referral:
    referral = await get_by_outside_id(session, Referral, referral_id)
    if referral is None or referral.case_id != case.id:
        raise NotFound(N_("This case has no such referral."))
    return referral


async def _staff_step(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    referral_id: int,
    actor: StaffUser,
    target: ReferralStatus,
    event: str,
    text: str | None,
    task_to: TaskStatus | None,
    client_ip: str | None,
) -> None:
    require_open(case)
    referral = await _referral_of_case(session, case, referral_id)
    now = utcnow()
    values = {"closed_at": now} if target in (ReferralStatus.CLOSED, ReferralStatus.REVOKED) else {}
    try:
        if not await move_referral(session, referral.id or 0, target, now, **values):
            raise Conflict(N_("This referral cannot take that step now; reload the case page."))
        if task_to is not None:
            await settle_check_task(session, referral.id or 0, task_to, now, actor)
        record_event(
            session,
            cipher,
            case_id=case.id or 0,
            kind=event,
            actor=actor,
            detail={"referral": referral.id, "from": referral.status, "to": target},
            text=text,
            at=now,
        )
        record_audit(
            session,
            actor_id=actor.id,
            actor_label=actor.username,
            action=event,
            object_type="referral",
            object_id=referral.id or 0,
            detail={"case": case.number},
            client_ip=client_ip,
        )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


async def accept_feedback(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    referral_id: int,
    actor: StaffUser,
    client_ip: str | None,
) -> None:
    """The operator accepts the agency's feedback: the referral closes and its check task is done."""
    await _staff_step(
        session,
        cipher,
        case=case,
        referral_id=referral_id,
        actor=actor,
        target=ReferralStatus.CLOSED,
        event="referral.accepted",
        text=None,
        task_to=TaskStatus.DONE,
        client_ip=client_ip,
    )


async def return_for_more(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    referral_id: int,
    note: str,
    actor: StaffUser,
    client_ip: str | None,
) -> None:
    """The feedback is not enough: back to the agency, whose link takes new feedback again."""
    text = required_text(
        note, "text", N_("Say what more the agency should report (at most 2000 characters).")
    )
    await _staff_step(
        session,
        cipher,
        case=case,
        referral_id=referral_id,
        actor=actor,
        target=ReferralStatus.RETURNED,
        event="referral.returned",
        text=text,
        task_to=None,
        client_ip=client_ip,
    )


async def revoke_referral(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    referral_id: int,
    reason: str,
    actor: StaffUser,
    client_ip: str | None,
) -> None:
    """A supervisor (the route's guard) withdraws an open referral: the link dies, the check task is
    cancelled."""
    text = required_text(reason, "text", N_("Say why the referral is revoked (at most 2000 characters)."))
    await _staff_step(
        session,
        cipher,
        case=case,
        referral_id=referral_id,
        actor=actor,
        target=ReferralStatus.REVOKED,
        event="referral.revoked",
        text=text,
        task_to=TaskStatus.CANCELLED,
        client_ip=client_ip,
    )


async def read_case_referrals(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    case: ReferralCase,
    viewer: StaffUser,
    client_ip: str | None,
) -> list[ReferralView]:
    """The referrals of a case for the JSON API, with the `referral.list` audit row committed first."""
    now = utcnow()
    views = await case_referrals(
        session, cipher, case=case, viewer=viewer, now=now, amber=timedelta(hours=settings.light_amber_hours)
    )
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="referral.list",
        object_type="referral_case",
        object_id=case.number,
        detail={"via": "api"},
        client_ip=client_ip,
    )
    await session.commit()
    return views


async def case_referrals(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    case: ReferralCase,
    viewer: StaffUser,
    now: datetime,
    amber: timedelta,
) -> list[ReferralView]:
    """A case's referrals, newest first, decrypted for the case page (read under its `case.read` row)."""
    rows = await session.exec(
        select(Referral, Agency.name)
        .join(Agency, col(Agency.id) == Referral.agency_id)
        .where(Referral.case_id == case.id)
        .order_by(col(Referral.sent_at).desc(), col(Referral.id).desc())
    )
    supervisor = viewer.role == Role.SUPERVISOR
    is_open = case.status != CaseStatus.CLOSED
    views = []
    for referral, agency_name in rows.all():
        status = referral.status
        views.append(
            ReferralView(
                id=referral.id or 0,
                agency_name=agency_name,
                status=status,
                urgency=referral.urgency,
                sent_at=referral.sent_at,
                due_on=referral.due_on.isoformat(),
                light=light_of(referral.due_at, now, amber) if status in OPEN_STATUSES else None,
                reason=cipher.decrypt(referral.reason_ciphertext, context=REASON_CONTEXT),
                request=cipher.decrypt(referral.request_ciphertext, context=REQUEST_CONTEXT),
                acknowledged_by=referral.acknowledged_by,
                feedback=cipher.decrypt_optional(referral.feedback_ciphertext, context=FEEDBACK_CONTEXT),
                decline_reason=cipher.decrypt_optional(
                    referral.decline_reason_ciphertext, context=DECLINE_CONTEXT
                ),
                can_accept=is_open and REFERRAL_TRANSITIONS.allowed(status, ReferralStatus.CLOSED),
                can_return=is_open and REFERRAL_TRANSITIONS.allowed(status, ReferralStatus.RETURNED),
                can_revoke=is_open
                and supervisor
                and REFERRAL_TRANSITIONS.allowed(status, ReferralStatus.REVOKED),
            )
        )
    return views
