"""Reading cases: the masked list and its search, and the full case whose every read is written to the
audit log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from booking.models import Appointment, AppointmentStatus, Expert
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import MAX_ROW_ID, AsyncSession
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.privacy import FieldCipher, mask_name, mask_phone, phone_index
from core.vocabulary import CATEGORIES
from hotline.case_facts import (
    CHILD_NAME_CONTEXT,
    ChildView,
    HelpPlanView,
    StaffRef,
    load_case_facts,
    staff_refs,
)
from hotline.case_scope import case_in_scope
from hotline.case_terms import CHILD_FLAGS, RISK_LEVELS
from hotline.casework_models import ChildFlag
from hotline.intake import CALLER_PHONE_CONTEXT, SUMMARY_CONTEXT, normalize_case_number
from hotline.models import Call, ReferralCase
from hotline.repeat_callers import RelatedCase, cases_called_about_from
from hotline.taxonomy import CASE_STATUSES, LINES, URGENCIES, CaseStatus

__all__ = [
    "APPOINTMENT_STATUSES",
    "OPEN_CASES",
    "OWNER_ME",
    "OWNER_NONE",
    "PAGE_SIZE",
    "STATUS_FILTERS",
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


# The status filter's choices: each status, and "open" for every status but closed (the work in hand).
OPEN_CASES = "open"
STATUS_FILTERS: dict[str, str] = {OPEN_CASES: N_("Not closed"), **CASE_STATUSES}
# The owner filter: "me" (the reader), "none" (nobody yet: a case to take), or a staff member's id.
OWNER_ME = "me"
OWNER_NONE = "none"
_BLIND_INDEX = re.compile(r"[0-9a-f]{64}")
# Dates outside these years are typing slips, and the far ends of the calendar break date arithmetic.
_FIRST_DAY, _LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


@dataclass(frozen=True)
class CaseFilters:
    line: str | None = None
    urgency: str | None = None
    status: str | None = None  # a CaseStatus, or "open"
    number: str | None = None  # a whole case number
    # The blind index of a caller's number (core.privacy.phone_index), never the number itself: filters
    # travel in links and JSON.
    caller: str | None = None
    category: str | None = None
    risk: str | None = None
    owner: str | None = None  # "me", "none" or a staff id
    flag: str | None = None  # CHILD_FLAGS
    opened_from: date | None = None  # in the site's calendar, inclusive
    opened_to: date | None = None

    @classmethod
    def checked(
        cls,
        *,
        line: str | None = None,
        urgency: str | None = None,
        status: str | None = None,
        number: str | None = None,
        phone: str | None = None,
        caller: str | None = None,
        category: str | None = None,
        risk: str | None = None,
        owner: str | None = None,
        flag: str | None = None,
        opened_from: str | None = None,
        opened_to: str | None = None,
        cipher: FieldCipher | None = None,
    ) -> CaseFilters:
        """Refuse unknown filter values rather than silently showing every case under a filter.

        `phone` is turned into its blind index here (with `cipher`) and kept only as that. `owner=me`
        without any `status` (absent, not empty) means the reader's cases still open: "my cases"."""
        errors: dict[str, str] = {}
        for field, value, vocabulary in (
            ("line", line, LINES),
            ("urgency", urgency, URGENCIES),
            ("status", status, STATUS_FILTERS),
            ("category", category, CATEGORIES),
            ("risk", risk, RISK_LEVELS),
            ("flag", flag, CHILD_FLAGS),
        ):
            if value and value not in vocabulary:
                errors[field] = N_("This filter value is not one of the choices.")
        try:
            wanted_number = normalize_case_number(number)
        except InvalidFormat as exc:
            errors["number"] = str(exc)
            wanted_number = None
        if caller and not _BLIND_INDEX.fullmatch(caller):
            errors["caller"] = N_("This filter value is not one of the choices.")
        if (phone or "").strip():
            try:
                caller = _phone_filter(phone or "", cipher)
            except InvalidFormat as exc:
                errors["phone"] = str(exc)
        if owner and owner not in (OWNER_ME, OWNER_NONE) and not _is_row_id(owner):
            errors["owner"] = N_("This filter value is not one of the choices.")
        days = {}
        for field, raw in (("opened_from", opened_from), ("opened_to", opened_to)):
            days[field] = _filter_day(raw)
            if raw and days[field] is None:
                errors[field] = N_("Enter a date as YYYY-MM-DD, between 2000 and 2099.")
        first, last = days["opened_from"], days["opened_to"]
        if first and last and first > last:
            errors["opened_to"] = N_("The end of the date range is before its start.")
        if errors:
            raise FormInvalid(errors)
        if owner == OWNER_ME and status is None:
            status = OPEN_CASES
        return cls(
            line=line or None,
            urgency=urgency or None,
            status=status or None,
            number=wanted_number,
            caller=caller or None,
            category=category or None,
            risk=risk or None,
            owner=owner or None,
            flag=flag or None,
            opened_from=first,
            opened_to=last,
        )


def _phone_filter(raw: str, cipher: FieldCipher | None) -> str:
    if cipher is None:
        raise ValueError("a phone filter needs the cipher for its blind index")
    return phone_index(cipher, normalize_mainland_mobile(raw))


def _is_row_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ROW_ID


def _filter_day(raw: str | None) -> date | None:
    try:
        day = date.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return day if _FIRST_DAY <= day <= _LAST_DAY else None


def _local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


@dataclass(frozen=True)
class CaseRow:
    number: str
    line: str
    category: str
    urgency: str
    status: str
    risk_level: str
    owner: StaffRef | None
    child_name_masked: str  # 张**, or "" when no name was given
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
    booked_at: datetime
    booked_by: str  # the staff member's username; "" for a booking made before bookings were attributed


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
    owner: StaffRef | None  # who carries the case
    risk_level: str  # RiskLevel: the child's risk, apart from a call's urgency
    risk_reason: str | None
    child: ChildView  # the name masked
    outcome: str | None  # CASE_OUTCOMES, while the case is closed
    closing_summary: str | None
    closed_at: datetime | None
    help_plan: HelpPlanView | None  # 一人一策, for a child at high or critical risk


def _filtered(
    query: SelectOfScalar[ReferralCase], filters: CaseFilters, viewer: StaffUser, timezone: str
) -> SelectOfScalar[ReferralCase]:
    for column, value in (
        (ReferralCase.line, filters.line),
        (ReferralCase.urgency, filters.urgency),
        (ReferralCase.number, filters.number),
        (ReferralCase.category, filters.category),
        (ReferralCase.risk_level, filters.risk),
    ):
        if value:
            query = query.where(col(column) == value)
    if filters.status == OPEN_CASES:
        query = query.where(col(ReferralCase.status) != CaseStatus.CLOSED)
    elif filters.status:
        query = query.where(col(ReferralCase.status) == filters.status)
    if filters.owner == OWNER_ME:
        query = query.where(col(ReferralCase.owner_id) == viewer.id)
    elif filters.owner == OWNER_NONE:
        query = query.where(col(ReferralCase.owner_id).is_(None))
    elif filters.owner:
        query = query.where(col(ReferralCase.owner_id) == int(filters.owner))
    if filters.caller:
        # The blind index alone: no stored number is decrypted to find the caller's cases.
        called = select(Call.case_id).where(col(Call.caller_phone_index) == filters.caller)
        query = query.where(col(ReferralCase.id).in_(called))
    if filters.flag:
        flagged = select(ChildFlag.case_id).where(col(ChildFlag.flag) == filters.flag)
        query = query.where(col(ReferralCase.id).in_(flagged))
    if filters.opened_from:
        query = query.where(col(ReferralCase.created_at) >= _local_midnight(filters.opened_from, timezone))
    if filters.opened_to:
        next_day = filters.opened_to + timedelta(days=1)
        query = query.where(col(ReferralCase.created_at) < _local_midnight(next_day, timezone))
    return query


async def list_cases(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    viewer: StaffUser,
    filters: CaseFilters,
    timezone: str,
    page: int = 1,
) -> CasePage:
    """Newest cases first, of the viewer's unit and below. Summaries are never read; phones and the
    child's name are decrypted only to be masked here. Date filters are days in `timezone`."""
    query = _filtered(
        select(ReferralCase).where(case_in_scope(viewer)),
        filters,
        viewer,
        timezone,
    )
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
    owners = await staff_refs(session, {case.owner_id for case in cases if case.owner_id})

    rows = [
        CaseRow(
            number=case.number,
            line=case.line,
            category=case.category,
            urgency=case.urgency,
            status=case.status,
            risk_level=case.risk_level,
            owner=owners.get(case.owner_id or 0),
            child_name_masked=mask_name(
                cipher.decrypt_optional(case.child_name_ciphertext, context=CHILD_NAME_CONTEXT)
            ),
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
    also for a case outside the viewer's unit and the units below it, or of a line they are not on."""
    # Only a well-formed number is looked up: any text can arrive in a URL, and PostgreSQL refuses some
    # (a NUL byte is an error there, a 500, not "no such case").
    try:
        wanted = normalize_case_number(number)
    except InvalidFormat:
        wanted = None
    case = (
        (
            await session.exec(
                select(ReferralCase)
                .where(ReferralCase.number == wanted, case_in_scope(viewer))
                # A row this session loaded before is read afresh: acts decide on its current status.
                .execution_options(populate_existing=True)
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
        select(Appointment, Expert.name, StaffUser.username)
        .join(Expert, col(Expert.id) == Appointment.expert_id)
        .outerjoin(StaffUser, col(StaffUser.id) == Appointment.booked_by_id)
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
            booked_at=appointment.created_at,
            booked_by=booked_by or "",
        )
        for appointment, expert_name, booked_by in rows.all()
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
            session, phone_indexes, viewer=actor, excluding_case_id=case.id
        )
        appointments = await _case_appointments(session, case.id or 0)
        facts = await load_case_facts(session, cipher, case)
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
        owner=facts.owner,
        risk_level=facts.risk_level,
        risk_reason=facts.risk_reason,
        child=facts.child,
        outcome=facts.outcome,
        closing_summary=facts.closing_summary,
        closed_at=facts.closed_at,
        help_plan=facts.help_plan,
    )
