"""Tables of the hotline: referral cases, the calls (contacts) gathered in them, and case numbering."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from hotline.case_terms import RiskLevel
from hotline.open_row_indexes import open_rows_index, status_in
from hotline.taxonomy import CaseStatus

__all__ = ["OPEN_CASE_STATUSES", "Call", "CaseNumberCounter", "ReferralCase"]


class CaseNumberCounter(SQLModel, table=True):
    """Per line and year, so numbers read 12355-2026-000001 and restart each January."""

    __tablename__ = "case_number_counter"

    prefix: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    last_value: int = 0


# A case is open until it is closed (办结); reopening makes it open again.
OPEN_CASE_STATUSES = tuple(status for status in CaseStatus if status != CaseStatus.CLOSED)


class ReferralCase(SQLModel, table=True):
    __tablename__ = "referral_case"
    # The open cases with their owner and line: the board's count by line joins its open items to these
    # (a tenth of the table), answered from the index alone on PostgreSQL.
    __table_args__ = (
        open_rows_index(
            "ix_referral_case_open",
            "id",
            where=status_in(OPEN_CASE_STATUSES),
            include=("owner_id", "line", "status"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    line: str = Field(max_length=20, index=True)  # Line
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit it belongs to (core.units)
    status: str = Field(default=CaseStatus.ACCEPTED, max_length=20, index=True)  # CaseStatus
    category: str = Field(max_length=40, index=True)
    urgency: str = Field(max_length=20, index=True)
    child_age_band: str = Field(default="unknown", max_length=10)
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The operator who carries the case; a supervisor reassigns. None only for cases from before owners.
    owner_id: int | None = Field(default=None, foreign_key="staff_user.id", index=True)
    # Triage (hotline.case_terms): the child's risk, apart from one call's urgency, and why.
    risk_level: str = Field(default=RiskLevel.UNASSESSED, max_length=20, index=True)
    risk_reason_ciphertext: str | None = None
    # The child, to the minimum the work needs (PIPL): no name unless given, and then encrypted.
    child_sex: str = Field(default="unknown", max_length=10)
    child_age: int | None = None
    child_school_stage: str = Field(default="unknown", max_length=20)
    child_district: str = Field(default="", max_length=60)
    child_name_ciphertext: str | None = None
    # Closure (办结): an outcome and a summary; a closed case is read-only until a supervisor reopens it.
    outcome: str | None = Field(default=None, max_length=30)
    closing_summary_ciphertext: str | None = None
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Call(SQLModel, table=True):
    """One contact. Summary and phone are personal data: stored encrypted, phone also as a blind index
    so repeat callers are recognised without decrypting every row."""

    __tablename__ = "hotline_call"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit it belongs to (core.units)
    line: str = Field(max_length=20)
    channel: str = Field(default="phone", max_length=20)  # phone (logged by operator) | voice (Twilio)
    caller_type: str = Field(max_length=20)
    category: str = Field(max_length=40)
    urgency: str = Field(max_length=20)
    summary_ciphertext: str
    caller_phone_ciphertext: str | None = None
    caller_phone_index: str | None = Field(default=None, max_length=64, index=True)
    operator_id: int = Field(foreign_key="staff_user.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
