"""Reading cases: the masked list, and the full case whose every read is written to the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from booking.models import Appointment, AppointmentStatus, Expert
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.mainland_formats import InvalidFormat
from core.privacy import FieldCipher, mask_phone
from core.units import visible_to
from hotline.intake import CALLER_PHONE_CONTEXT, SUMMARY_CONTEXT, normalize_case_number
from hotline.models import Call, ReferralCase
from hotline.repeat_callers import RelatedCase, cases_called_about_from
from hotline.taxonomy import CASE_STATUSES, LINES, URGENCIES

__all__ = [
    "APPOINTMENT_STATUSES",
    "PAGE_SIZE",
    "CallView",
    "CaseAppointment",
    "CaseDetail",
    "CaseFilters",
    "CasePage",
    "CaseRow",
    "find_case",
    "list_cases",
    "read_case",
]

PAGE_SIZE = 25

# How a consultation's state reads on the case page; booking's own pages word `held` for the parent.
APPOINTMENT_STATUSES: dict[str, str] = {
    AppointmentStatus.HELD: N_("Waiting for the SMS code"),
    AppointmentStatus.CONFIRMED: N_("Confirmed"),
    AppointmentStatus.CANCELLED: N_("Cancelled"),
    AppointmentStatus.EXPIRED: N_("Expired"),
}


@dataclass(frozen=True)
class CaseFilters:
    line: str | None = None
    urgency: str | None = None
    status: str | None = None

    @classmethod
    def checked(cls, *, line: str | None, urgency: str | None, status: str | None) -> CaseFilters:
        """Refuse unknown filter values rather than silently showing every case under a filter."""
        errors: dict[str, str] = {}
        for field, value, vocabulary in (
            ("line", line, LINES),
            ("urgency", urgency, URGENCIES),
            ("status", status, CASE_STATUSES),
        ):
            if value and value not in vocabulary:
                errors[field] = N_("This filter value is not one of the choices.")
        if errors:
            raise FormInvalid(errors)
        return cls(line=line or None, urgency=urgency or None, status=status or None)


@dataclass(frozen=True)
class CaseRow:
    number: str
    line: str
    category: str
    urgency: str
    status: str
    opened_at: datetime
    last_call_at: datetime | None
    caller_phone_masked: str  # 138****5678, or "" when every call was anonymous


@dataclass(frozen=True)
class CasePage:
    rows: list[CaseRow]
    page: int
    has_next: bool
    filters: CaseFilters


@dataclass(frozen=True)
class CallView:
    id: int
    received_at: datetime
    line: str
    channel: str
    caller_type: str
    category: str
    urgency: str
    summary: str
    caller_phone_masked: str
    operator_id: int
    # Only for the one call whose number a reader asked to see (e.g. to call back in a crisis).
    caller_phone_revealed: str | None = None


@dataclass(frozen=True)
class CaseAppointment:
    """A consultation booked for this case. No parent details: the case page shows who, when, how."""

    id: int
    expert_name: str
    starts_at: datetime
    ends_at: datetime
    mode: str
    status: str


@dataclass(frozen=True)
class CaseDetail:
    number: str
    line: str
    status: str
    category: str
    urgency: str
    child_age_band: str
    opened_at: datetime
    updated_at: datetime
    calls: list[CallView]
    same_number_cases: list[RelatedCase]  # other cases a number heard on this case called about
    appointments: list[CaseAppointment]  # consultations booked from this case, soonest first


async def list_cases(
    session: AsyncSession, cipher: FieldCipher, *, viewer: StaffUser, filters: CaseFilters, page: int = 1
) -> CasePage:
    """Newest cases first, of the viewer's unit and below. Summaries are never read; phones are
    decrypted only to be masked here."""
    query = select(ReferralCase).where(visible_to(ReferralCase.unit_id, viewer.unit_id))
    if filters.line:
        query = query.where(ReferralCase.line == filters.line)
    if filters.urgency:
        query = query.where(ReferralCase.urgency == filters.urgency)
    if filters.status:
        query = query.where(ReferralCase.status == filters.status)
    query = query.order_by(col(ReferralCase.created_at).desc(), col(ReferralCase.id).desc())
    # One row more than a page tells whether a next page exists without counting the whole table.
    cases = list((await session.exec(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).all())
    has_next = len(cases) > PAGE_SIZE
    cases = cases[:PAGE_SIZE]

    last_call_at: dict[int, datetime] = {}
    last_phone: dict[int, str] = {}
    if cases:
        calls = await session.exec(
            select(Call.case_id, Call.received_at, Call.caller_phone_ciphertext)
            .where(col(Call.case_id).in_([case.id for case in cases]))
            .order_by(col(Call.received_at), col(Call.id))
        )
        for case_id, received_at, phone_ciphertext in calls:
            last_call_at[case_id] = received_at
            if phone_ciphertext:
                last_phone[case_id] = phone_ciphertext

    rows = [
        CaseRow(
            number=case.number,
            line=case.line,
            category=case.category,
            urgency=case.urgency,
            status=case.status,
            opened_at=case.created_at,
            last_call_at=last_call_at.get(case.id or 0),
            caller_phone_masked=_masked(cipher, last_phone.get(case.id or 0)),
        )
        for case in cases
    ]
    return CasePage(rows=rows, page=page, has_next=has_next, filters=filters)


def _masked(cipher: FieldCipher, phone_ciphertext: str | None) -> str:
    # The full number lives only inside this function; templates and JSON get the masked form.
    return mask_phone(cipher.decrypt_optional(phone_ciphertext, context=CALLER_PHONE_CONTEXT))


async def find_case(session: AsyncSession, number: str, viewer: StaffUser) -> ReferralCase:
    """The case row alone (number, line, category, urgency: what the unaudited list shows too); NotFound,
    also for a case outside the viewer's unit and the units below it."""
    # Only a well-formed number is looked up: any text can arrive in a URL, and PostgreSQL refuses some
    # (a NUL byte is an error there, a 500, not "no such case").
    try:
        wanted = normalize_case_number(number)
    except InvalidFormat:
        wanted = None
    case = (
        (
            await session.exec(
                select(ReferralCase).where(
                    ReferralCase.number == wanted, visible_to(ReferralCase.unit_id, viewer.unit_id)
                )
            )
        ).first()
        if wanted
        else None
    )
    if case is None:
        raise NotFound(N_("No case has this number."))
    return case


async def _case_appointments(session: AsyncSession, case_id: int) -> list[CaseAppointment]:
    rows = await session.exec(
        select(Appointment, Expert.name)
        .join(Expert, col(Expert.id) == Appointment.expert_id)
        .where(Appointment.case_id == case_id)
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    return [
        CaseAppointment(
            id=appointment.id or 0,
            expert_name=expert_name,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            mode=appointment.mode,
            status=appointment.status,
        )
        for appointment, expert_name in rows.all()
    ]


async def read_case(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    actor: StaffUser,
    client_ip: str | None,
    via: str,
    reveal_phone_of_call: int | None = None,
) -> CaseDetail:
    """The case with its calls' summaries decrypted and phones masked.

    The `case.read` audit row is committed before anything is returned: no case content reaches a
    reader without a record of who read it. `reveal_phone_of_call` shows that one call's full number
    and records a separate `call.phone_reveal` row, so unmasking is never silent.
    """
    case = await find_case(session, number, actor)
    calls = (
        await session.exec(
            select(Call).where(Call.case_id == case.id).order_by(col(Call.received_at), col(Call.id))
        )
    ).all()
    if reveal_phone_of_call is not None and not any(
        call.id == reveal_phone_of_call and call.caller_phone_ciphertext for call in calls
    ):
        raise NotFound(N_("This case has no call with a number to show."))
    try:
        call_views = [
            CallView(
                id=call.id or 0,
                received_at=call.received_at,
                line=call.line,
                channel=call.channel,
                caller_type=call.caller_type,
                category=call.category,
                urgency=call.urgency,
                summary=cipher.decrypt(call.summary_ciphertext, context=SUMMARY_CONTEXT),
                caller_phone_masked=_masked(cipher, call.caller_phone_ciphertext),
                operator_id=call.operator_id,
                caller_phone_revealed=(
                    cipher.decrypt(call.caller_phone_ciphertext or "", context=CALLER_PHONE_CONTEXT)
                    if call.id == reveal_phone_of_call
                    else None
                ),
            )
            for call in calls
        ]
        phone_indexes = {call.caller_phone_index for call in calls if call.caller_phone_index}
        same_number = await cases_called_about_from(
            session, phone_indexes, viewer_unit_id=actor.unit_id, excluding_case_id=case.id
        )
        appointments = await _case_appointments(session, case.id or 0)
        record_audit(
            session,
            actor_id=actor.id,
            actor_label=actor.username,
            action="case.read",
            object_type="referral_case",
            object_id=case.number,
            detail={"via": via},
            client_ip=client_ip,
        )
        if reveal_phone_of_call is not None:
            record_audit(
                session,
                actor_id=actor.id,
                actor_label=actor.username,
                action="call.phone_reveal",
                object_type="hotline_call",
                object_id=reveal_phone_of_call,
                detail={"case": case.number, "via": via},
                client_ip=client_ip,
            )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return CaseDetail(
        number=case.number,
        line=case.line,
        status=case.status,
        category=case.category,
        urgency=case.urgency,
        child_age_band=case.child_age_band,
        opened_at=case.created_at,
        updated_at=case.updated_at,
        calls=call_views,
        same_number_cases=same_number,
        appointments=appointments,
    )
