"""What a case says about itself beyond its calls: owner, risk, the child, closure and the help plan, as
the case page and the read API show them. Also the encryption contexts of those fields, so the modules
that write them and this one that reads them cannot drift apart.

Read only after the case was found within the reader's scope (and, for the full view, audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select

from core.accounts import StaffUser
from core.db import AsyncSession
from core.privacy import FieldCipher, mask_name
from hotline import cipher_contexts
from hotline.case_terms import CHILD_FLAGS
from hotline.casework_models import ChildFlag, HelpPlan
from hotline.models import ReferralCase

__all__ = [
    "CHILD_NAME_CONTEXT",
    "CLOSING_SUMMARY_CONTEXT",
    "PLAN_MEASURES_CONTEXT",
    "RISK_REASON_CONTEXT",
    "CaseFacts",
    "ChildView",
    "HelpPlanView",
    "StaffRef",
    "child_flags_of",
    "load_case_facts",
    "staff_refs",
]

# Associated data of each encrypted field (see core.privacy): a value copied into another column fails.
RISK_REASON_CONTEXT = cipher_contexts.CASE_RISK_REASON
CHILD_NAME_CONTEXT = cipher_contexts.CASE_CHILD_NAME
CLOSING_SUMMARY_CONTEXT = cipher_contexts.CASE_CLOSING_SUMMARY
PLAN_MEASURES_CONTEXT = cipher_contexts.HELP_PLAN_MEASURES


@dataclass(frozen=True)
class StaffRef:
    """A staff member as cases name them: no contact details."""

    id: int
    username: str
    display_name: str


@dataclass(frozen=True)
class ChildView:
    sex: str  # CHILD_SEXES
    age: int | None
    school_stage: str  # SCHOOL_STAGES
    district: str
    name_masked: str  # 张** (core.privacy.mask_name); "" when no name was given
    has_name: bool
    flags: list[str]  # CHILD_FLAGS codes, in the vocabulary's order


@dataclass(frozen=True)
class HelpPlanView:
    measures: str
    responsible: str
    review_on: date
    updated_at: datetime


@dataclass(frozen=True)
class CaseFacts:
    owner: StaffRef | None
    risk_level: str  # RiskLevel
    risk_reason: str | None
    child: ChildView
    outcome: str | None  # CASE_OUTCOMES, while closed
    closing_summary: str | None
    closed_at: datetime | None
    help_plan: HelpPlanView | None


async def staff_refs(session: AsyncSession, ids: set[int]) -> dict[int, StaffRef]:
    """Names of staff members by id, for owners and timelines (one query)."""
    if not ids:
        return {}
    rows = await session.exec(
        select(StaffUser.id, StaffUser.username, StaffUser.display_name).where(col(StaffUser.id).in_(ids))
    )
    return {uid: StaffRef(id=uid, username=name, display_name=shown) for uid, name, shown in rows if uid}


async def child_flags_of(session: AsyncSession, case_id: int) -> list[str]:
    # Shown in the vocabulary's order, whatever order they were ticked in.
    found = set((await session.exec(select(ChildFlag.flag).where(ChildFlag.case_id == case_id))).all())
    return [flag for flag in CHILD_FLAGS if flag in found]


async def load_case_facts(session: AsyncSession, cipher: FieldCipher, case: ReferralCase) -> CaseFacts:
    """Owner, triage, child, closure and plan of a case, personal fields decrypted (the name masked)."""
    case_id = case.id or 0
    owners = await staff_refs(session, {case.owner_id} if case.owner_id else set())
    name = cipher.decrypt_optional(case.child_name_ciphertext, context=CHILD_NAME_CONTEXT)
    plan = (await session.exec(select(HelpPlan).where(HelpPlan.case_id == case_id))).first()
    return CaseFacts(
        owner=owners.get(case.owner_id or 0),
        risk_level=case.risk_level,
        risk_reason=cipher.decrypt_optional(case.risk_reason_ciphertext, context=RISK_REASON_CONTEXT),
        child=ChildView(
            sex=case.child_sex,
            age=case.child_age,
            school_stage=case.child_school_stage,
            district=case.child_district,
            name_masked=mask_name(name),
            has_name=bool(name),
            flags=await child_flags_of(session, case_id),
        ),
        outcome=case.outcome,
        closing_summary=cipher.decrypt_optional(
            case.closing_summary_ciphertext, context=CLOSING_SUMMARY_CONTEXT
        ),
        closed_at=case.closed_at,
        help_plan=(
            HelpPlanView(
                measures=cipher.decrypt(plan.measures_ciphertext, context=PLAN_MEASURES_CONTEXT),
                responsible=plan.responsible,
                review_on=plan.review_on,
                updated_at=plan.updated_at,
            )
            if plan is not None
            else None
        ),
    )
