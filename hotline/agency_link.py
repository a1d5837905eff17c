"""The agency's side of a referral, through its secret link (`/r/<token>`), without an account.

The token is the credential: only its SHA-256 is stored. The page shows what the agency needs and no
more (DOMAIN-SOURCES, minimum necessary): the referring unit, the case number, category, urgency, the
child's age band, sex, school stage and district, the reason and the request, the due date — never a
call summary, and the caller's number only when the operator ticked "share". Every open and every step
is audited (`agency:<name>`) and put on the case timeline, committed before the page is returned.

A link is dead (the same "no longer valid" page, never saying why) when the token is unknown, the
referral is closed, revoked or declined, its case is closed, or it was sent more than
`settings.agency_link_days` ago. Unknown tokens are guessing: each one writes an audit row keyed by the
client's address, and too many within the window answer 429 before any look-up (the approach of
app.login_throttle, counted from the audit log, so there is no second record to keep in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from core.audit import AuditEvent, record_audit
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import OrgUnit
from hotline.case_events import record_event
from hotline.case_lifecycle import move_case
from hotline.case_terms import ReferralStatus
from hotline.casework_models import Agency, Referral
from hotline.intake import CALLER_PHONE_CONTEXT
from hotline.models import Call, ReferralCase
from hotline.referral_steps import move_referral
from hotline.referrals import (
    DECLINE_CONTEXT,
    FEEDBACK_CONTEXT,
    REASON_CONTEXT,
    REQUEST_CONTEXT,
    required_text,
    token_digest,
)
from hotline.taxonomy import CaseStatus

__all__ = [
    "BAD_TOKEN_LIMIT",
    "BAD_TOKEN_WINDOW",
    "AgencyAnswer",
    "AgencyPage",
    "LinkDead",
    "LinkThrottled",
    "StepRefused",
    "acknowledge",
    "decline",
    "give_feedback",
    "open_link",
]

BAD_TOKEN_LIMIT = 10
BAD_TOKEN_WINDOW = timedelta(minutes=15)
BAD_TOKEN_ACTION = "referral.bad_token"  # noqa: S105 - an audit action name, not a secret
_DEAD = frozenset({ReferralStatus.CLOSED, ReferralStatus.REVOKED, ReferralStatus.DECLINED})
_TOKEN_MAX = 100  # ours are 43 characters; anything much longer is not worth hashing


class LinkDead(Exception):
    """Unknown, finished or expired: the agency sees one page that does not say which."""


class LinkThrottled(Exception):
    """Too many unknown tokens from this address lately."""


class StepRefused(Exception):
    """The referral is no longer where that step starts (e.g. acknowledged twice)."""


@dataclass(frozen=True)
class AgencyAnswer:
    text: str = ""  # the signer's name, the feedback, or the reason for declining


@dataclass(frozen=True)
class AgencyPage:
    """Everything the agency page shows; nothing else about the case is read."""

    agency_name: str
    unit_name: str
    case_number: str
    category: str
    urgency: str
    child_age_band: str
    child_sex: str
    child_school_stage: str
    child_district: str
    reason: str
    request: str
    due_on: str
    status: str
    acknowledged_by: str | None
    feedback: str | None
    caller_phone: str | None  # only when the operator ticked "share"
    can_acknowledge: bool
    can_give_feedback: bool
    can_decline: bool


@dataclass(frozen=True)
class _Live:
    referral: Referral
    case: ReferralCase
    agency: Agency

    @property
    def label(self) -> str:
        return f"agency:{self.agency.name}"[:120]


async def _throttled(session: AsyncSession, client_ip: str | None, now: datetime) -> bool:
    bad = (
        await session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                col(AuditEvent.action) == BAD_TOKEN_ACTION,
                col(AuditEvent.client_ip) == (client_ip or "?"),
                col(AuditEvent.at) > now - BAD_TOKEN_WINDOW,
            )
        )
    ).one()
    return bad >= BAD_TOKEN_LIMIT


async def _live(
    session: AsyncSession, settings: Settings, token: str, client_ip: str | None, now: datetime
) -> _Live:
    """The referral behind a live link; LinkThrottled or LinkDead otherwise."""
    if await _throttled(session, client_ip, now):
        raise LinkThrottled
    found = (
        (
            await session.exec(
                select(Referral, ReferralCase, Agency)
                .join(ReferralCase, col(ReferralCase.id) == Referral.case_id)
                .join(Agency, col(Agency.id) == Referral.agency_id)
                .where(Referral.token_hash == token_digest(token))
            )
        ).first()
        if 0 < len(token) <= _TOKEN_MAX
        else None
    )
    if found is None:
        record_audit(
            session,
            actor_id=None,
            actor_label="agency:?",
            action=BAD_TOKEN_ACTION,
            object_type="referral",
            object_id="?",
            client_ip=client_ip or "?",
        )
        await session.commit()
        raise LinkDead
    referral, case, agency = found
    expired = referral.sent_at + timedelta(days=settings.agency_link_days) < now
    if referral.status in _DEAD or case.status == CaseStatus.CLOSED or expired:
        raise LinkDead
    return _Live(referral=referral, case=case, agency=agency)


def _record(
    session: AsyncSession,
    cipher: FieldCipher,
    live: _Live,
    action: str,
    client_ip: str | None,
    now: datetime,
    text: str | None = None,
) -> None:
    """The audit row and the timeline entry of one open or step through the link."""
    record_audit(
        session,
        actor_id=None,
        actor_label=live.label,
        action=action,
        object_type="referral",
        object_id=live.referral.id or 0,
        detail={"case": live.case.number},
        client_ip=client_ip,
    )
    record_event(
        session,
        cipher,
        case_id=live.case.id or 0,
        kind=action,
        actor_label=live.label,
        detail={"referral": live.referral.id, "status": live.referral.status},
        text=text,
        at=now,
    )


async def _shared_phone(session: AsyncSession, cipher: FieldCipher, live: _Live) -> str | None:
    if not live.referral.share_caller_phone:
        return None
    ciphertext = (
        await session.exec(
            select(Call.caller_phone_ciphertext)
            .where(Call.case_id == live.case.id, col(Call.caller_phone_ciphertext).is_not(None))
            .order_by(col(Call.received_at).desc(), col(Call.id).desc())
        )
    ).first()
    phone = cipher.decrypt_optional(ciphertext, context=CALLER_PHONE_CONTEXT)
    # The agency calls back: the national form of the number, as people dial it.
    return phone[3:] if phone and phone.startswith("+86") else phone


async def open_link(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, *, token: str, client_ip: str | None
) -> AgencyPage:
    """The page of a live link, audited and on the timeline (committed) before it is returned."""
    now = utcnow()
    live = await _live(session, settings, token, client_ip, now)
    referral, case = live.referral, live.case
    unit_name = (await session.exec(select(OrgUnit.name).where(OrgUnit.id == referral.unit_id))).one()
    try:
        page = AgencyPage(
            agency_name=live.agency.name,
            unit_name=unit_name,
            case_number=case.number,
            category=case.category,
            urgency=referral.urgency,
            child_age_band=case.child_age_band,
            child_sex=case.child_sex,
            child_school_stage=case.child_school_stage,
            child_district=case.child_district,
            reason=cipher.decrypt(referral.reason_ciphertext, context=REASON_CONTEXT),
            request=cipher.decrypt(referral.request_ciphertext, context=REQUEST_CONTEXT),
            due_on=referral.due_on.isoformat(),
            status=referral.status,
            acknowledged_by=referral.acknowledged_by,
            feedback=cipher.decrypt_optional(referral.feedback_ciphertext, context=FEEDBACK_CONTEXT),
            caller_phone=await _shared_phone(session, cipher, live),
            can_acknowledge=referral.status == ReferralStatus.SENT,
            can_give_feedback=referral.status in (ReferralStatus.ACKNOWLEDGED, ReferralStatus.RETURNED),
            can_decline=referral.status
            in (ReferralStatus.SENT, ReferralStatus.ACKNOWLEDGED, ReferralStatus.RETURNED),
        )
        _record(session, cipher, live, "referral.link_open", client_ip, now)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return page


async def _step(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    token: str,
    client_ip: str | None,
    target: ReferralStatus,
    action: str,
    text: str | None,
    values: dict[str, object],
) -> None:
    now = utcnow()
    live = await _live(session, settings, token, client_ip, now)
    try:
        if not await move_referral(session, live.referral.id or 0, target, now, **values):
            raise StepRefused
        _record(session, cipher, live, action, client_ip, now, text=text)
        if target == ReferralStatus.FEEDBACK:
            await move_case(session, cipher, live.case, CaseStatus.FOLLOW_UP, actor_label=live.label, now=now)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise


async def acknowledge(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    token: str,
    name: str,
    client_ip: str | None,
) -> None:
    """签收: the agency has it, and says who signed for it."""
    signer = " ".join((name or "").split())
    if not signer or len(signer) > 60:
        raise FormInvalid({"text": N_("Enter the name of the person who signs for the referral.")})
    now = utcnow()
    await _step(
        session,
        cipher,
        settings,
        token=token,
        client_ip=client_ip,
        target=ReferralStatus.ACKNOWLEDGED,
        action="referral.acknowledged",
        text=None,
        values={"acknowledged_at": now, "acknowledged_by": signer},
    )


async def give_feedback(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    token: str,
    text: str,
    client_ip: str | None,
) -> None:
    """处理结果: what the agency did; the case moves to follow-up when that is a legal step."""
    feedback = required_text(text, "text", N_("Say what your agency did (at most 2000 characters)."))
    await _step(
        session,
        cipher,
        settings,
        token=token,
        client_ip=client_ip,
        target=ReferralStatus.FEEDBACK,
        action="referral.feedback",
        text=None,
        values={
            "feedback_ciphertext": cipher.encrypt(feedback, context=FEEDBACK_CONTEXT),
            "feedback_at": utcnow(),
        },
    )


async def decline(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    *,
    token: str,
    reason: str,
    client_ip: str | None,
) -> None:
    """The agency will not take the case, and says why; the link dies."""
    why = required_text(
        reason, "text", N_("Say why your agency cannot take this referral (at most 2000 characters).")
    )
    await _step(
        session,
        cipher,
        settings,
        token=token,
        client_ip=client_ip,
        target=ReferralStatus.DECLINED,
        action="referral.declined",
        text=None,
        values={
            "decline_reason_ciphertext": cipher.encrypt(why, context=DECLINE_CONTEXT),
            "closed_at": utcnow(),
        },
    )
