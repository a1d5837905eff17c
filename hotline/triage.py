"""Triage of a case: the child's risk level with its reason, and the child's details kept to the minimum
the work needs (sex, age, school stage, district, 四失 and hardship flags; a name only if given, and then
encrypted).

Risk is apart from a call's urgency: urgency says how fast one call needed an answer, risk says how the
child stands. Raising it to high or critical opens a call-back within 24 hours, once per case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, delete

from core.accounts import StaffUser
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid
from core.i18n import N_
from core.privacy import FieldCipher
from hotline.case_acts import (
    CHANGED_MEANWHILE,
    audit_case_act,
    open_case_for_change,
    transaction,
    update_case_row,
)
from hotline.case_events import record_event
from hotline.case_facts import CHILD_NAME_CONTEXT, RISK_REASON_CONTEXT, child_flags_of
from hotline.case_terms import CHILD_FLAGS, CHILD_SEXES, SCHOOL_STAGES, TASK_KINDS, RiskLevel, TaskKind
from hotline.casework_models import ChildFlag
from hotline.form_text import clean_text, written_text
from hotline.models import ReferralCase
from hotline.tasks import open_task

__all__ = [
    "ASSESSED_RISK_LEVELS",
    "CALLBACK_HOURS",
    "CALLBACK_RULE",
    "HIGH_RISK_LEVELS",
    "ChildDetails",
    "RiskAssessment",
    "age_band_of",
    "assess_risk",
    "child_details_from_form",
    "update_child",
]

CALLBACK_HOURS = 24
CALLBACK_RULE = "callback:risk"
# The levels a person can choose; "not assessed" is only where every case starts.
ASSESSED_RISK_LEVELS = (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL)
HIGH_RISK_LEVELS = frozenset({RiskLevel.HIGH, RiskLevel.CRITICAL})
RISK_REASON_MAX_LENGTH = 1000
NAME_MAX_LENGTH = 40
DISTRICT_MAX_LENGTH = 60
OLDEST_CHILD = 17  # the hotline's children are minors


@dataclass(frozen=True)
class RiskAssessment:
    risk_level: str | None = None  # RiskLevel, not "unassessed"
    reason: str | None = None


@dataclass(frozen=True)
class ChildDetails:
    """The child's details as a whole: what is not given is stored as not known."""

    sex: str = "unknown"  # CHILD_SEXES
    age: int | None = None  # 0–17, or not known
    school_stage: str = "unknown"  # SCHOOL_STAGES
    district: str = ""  # free short text: 区/县, 街道
    name: str | None = None  # empty keeps the name on file (it is never shown in full to re-edit)
    remove_name: bool = False
    flags: list[str] = field(default_factory=list)  # CHILD_FLAGS


def age_band_of(age: int) -> str:
    """The intake age band (hotline.taxonomy.AGE_BANDS) an exact age falls in."""
    for low, high, band in ((0, 5, "0-5"), (6, 11, "6-11"), (12, 14, "12-14"), (15, 17, "15-17")):
        if low <= age <= high:
            return band
    return "18+"


async def assess_risk(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    assessment: RiskAssessment,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """Set the risk level and its reason. A change of level is a "risk" event on the timeline; a level
    raised to high or critical opens the call-back task (rule `callback:risk`, due in 24 hours, for the
    case's owner) unless this case already had it."""
    now = now or utcnow()
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        errors: dict[str, str] = {}
        level = clean_text(assessment.risk_level)
        if level not in ASSESSED_RISK_LEVELS:
            errors["risk_level"] = N_("Choose a risk level.")
        reason = written_text(
            errors,
            "reason",
            assessment.reason,
            max_length=RISK_REASON_MAX_LENGTH,
            missing=N_("Write why you judge the risk so."),
            too_long=N_("The reason is too long: at most 1000 characters."),
        )
        if errors:
            raise FormInvalid(errors)
        previous = case.risk_level
        # Compare-and-set on the level read: the "from" of the event is the level that was replaced.
        if not await update_case_row(
            session,
            case,
            {
                "risk_level": level,
                "risk_reason_ciphertext": cipher.encrypt(reason, context=RISK_REASON_CONTEXT),
                "updated_at": now,
            },
            col(ReferralCase.risk_level) == previous,
        ):
            raise FormInvalid({"case": CHANGED_MEANWHILE})
        detail = {"from": previous, "to": level}
        record_event(
            session,
            cipher,
            case_id=case.id or 0,
            kind="risk",
            actor=actor,
            detail=detail,
            text=reason,
            at=now,
        )
        audit_case_act(session, actor, "case.risk", case, client_ip=client_ip, detail=detail)
        if level in HIGH_RISK_LEVELS and previous not in HIGH_RISK_LEVELS:
            await open_task(
                session,
                case_id=case.id or 0,
                unit_id=case.unit_id,
                kind=TaskKind.CALLBACK,
                title=TASK_KINDS[TaskKind.CALLBACK],
                due_at=now + timedelta(hours=CALLBACK_HOURS),
                owner_id=case.owner_id or actor.id,
                created_by_id=actor.id,
                rule_key=CALLBACK_RULE,
            )
    return case


def child_details_from_form(form: dict[str, list[str]]) -> ChildDetails:
    """The child form as the browser posts it. Read as lists, not as a dataclass body: the flags are
    repeated check boxes, and Litestar's URL-encoded parser makes a field sent once a plain string."""

    def first(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    age_text = first("age")
    age: int | None = None
    if age_text:
        if not age_text.isascii() or not age_text.isdigit() or len(age_text) > 3:
            raise FormInvalid({"age": N_("Enter the child's age in years, 0 to 17, or leave it empty.")})
        age = int(age_text)
    return ChildDetails(
        sex=first("sex") or "unknown",
        age=age,
        school_stage=first("school_stage") or "unknown",
        district=first("district"),
        name=first("name") or None,
        remove_name=bool(first("remove_name")),
        flags=[flag for flag in form.get("flags", []) if flag],
    )


def _checked_child(details: ChildDetails) -> ChildDetails:
    errors: dict[str, str] = {}
    if details.sex not in CHILD_SEXES:
        errors["sex"] = N_("Choose the child's sex from the list.")
    if details.age is not None and not 0 <= details.age <= OLDEST_CHILD:
        errors["age"] = N_("Enter the child's age in years, 0 to 17, or leave it empty.")
    if details.school_stage not in SCHOOL_STAGES:
        errors["school_stage"] = N_("Choose the school stage from the list.")
    district = " ".join(details.district.split())
    if len(district) > DISTRICT_MAX_LENGTH:
        errors["district"] = N_("The district can have at most 60 characters.")
    name = " ".join(clean_text(details.name).split())
    if len(name) > NAME_MAX_LENGTH:
        errors["name"] = N_("The name can have at most 40 characters.")
    if any(flag not in CHILD_FLAGS for flag in details.flags):
        errors["flags"] = N_("Tick only flags from the list.")
    if errors:
        raise FormInvalid(errors)
    return ChildDetails(
        sex=details.sex,
        age=details.age,
        school_stage=details.school_stage,
        district=district,
        name=name or None,
        remove_name=details.remove_name and not name,
        flags=[flag for flag in CHILD_FLAGS if flag in details.flags],
    )


async def update_child(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    number: str,
    details: ChildDetails,
    actor: StaffUser,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> ReferralCase:
    """Replace the child's details and flags. The timeline event and the audit row name which fields
    changed, never their values. An exact age also sets the case's age band."""
    now = now or utcnow()
    async with transaction(session):
        case = await open_case_for_change(session, number, actor)
        child = _checked_child(details)
        values: dict[str, object] = {
            "child_sex": child.sex,
            "child_age": child.age,
            "child_school_stage": child.school_stage,
            "child_district": child.district,
        }
        if child.age is not None:
            values["child_age_band"] = age_band_of(child.age)
        if child.name is not None:
            values["child_name_ciphertext"] = cipher.encrypt(child.name, context=CHILD_NAME_CONTEXT)
        elif child.remove_name:
            values["child_name_ciphertext"] = None
        changed = sorted(
            name.removeprefix("child_").removesuffix("_ciphertext")
            for name, value in values.items()
            # A name is encrypted afresh each time: any name given counts as a change.
            if name == "child_name_ciphertext" or getattr(case, name) != value
        )
        flags_before = await child_flags_of(session, case.id or 0)
        if flags_before != child.flags:
            changed.append("flags")
        if not await update_case_row(session, case, {**values, "updated_at": now}):
            raise FormInvalid({"case": CHANGED_MEANWHILE})
        await session.exec(delete(ChildFlag).where(col(ChildFlag.case_id) == case.id))
        session.add_all([ChildFlag(case_id=case.id or 0, flag=flag) for flag in child.flags])
        detail = {"changed": sorted(changed)}
        record_event(session, cipher, case_id=case.id or 0, kind="child", actor=actor, detail=detail, at=now)
        audit_case_act(session, actor, "case.child", case, client_ip=client_ip, detail=detail)
    return case
