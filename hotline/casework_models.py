"""Tables of the work on a case after intake: its timeline, the child's flags, the mandatory report,
agencies and referrals, tasks, help plans and the alerts sent to staff.

Every row belongs to a unit (its case's), so scope is one `visible_to(unit_id, …)` away. Free text a
person writes (reasons, notes, feedback, contact details) is personal data: stored encrypted, each field
with its own context (see core.privacy). Timestamps are UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow
from hotline.case_terms import MandatoryReportStatus, ReferralStatus, TaskStatus
from hotline.open_row_indexes import open_rows_index, status_in

__all__ = [
    "OPEN_REFERRAL_STATUSES",
    "Agency",
    "CaseEvent",
    "ChildFlag",
    "HelpPlan",
    "MandatoryReport",
    "Referral",
    "StaffAlert",
    "Task",
]


class CaseEvent(SQLModel, table=True):
    """One entry on a case's timeline that is not a call or a booking (those have their own tables):
    a note, a status change, a risk change, a referral step, a task done, a mandatory report.
    Append-only, like the audit log: the timeline is the case's record of work."""

    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int | None = Field(default=None, foreign_key="staff_user.id")
    # Who, as shown: a staff username, or "agency:<name>" for a step taken through an agency link.
    actor_label: str = Field(max_length=120)
    kind: str = Field(max_length=40)  # e.g. note, status, risk, referral.sent, report.recorded
    detail: str = Field(default="{}")  # JSON of codes and numbers; never personal data in clear
    text_ciphertext: str | None = None  # the note or reason a person wrote, encrypted


class ChildFlag(SQLModel, table=True):
    """A 四失 or hardship flag on the child of a case (hotline.case_terms.CHILD_FLAGS), one row each, so
    cases can be searched by flag with an index."""

    __tablename__ = "child_flag"

    case_id: int = Field(foreign_key="referral_case.id", primary_key=True)
    flag: str = Field(max_length=30, primary_key=True, index=True)


# A referral is open while the agency or the operator still owes a step; its due date stands meanwhile.
OPEN_REFERRAL_STATUSES = (
    ReferralStatus.SENT,
    ReferralStatus.ACKNOWLEDGED,
    ReferralStatus.RETURNED,
    ReferralStatus.FEEDBACK,
)


class MandatoryReport(SQLModel, table=True):
    """The duty to report to the police (强制报告), one per case, created in the same transaction as the
    call that showed it. Never deleted: it is evidence that the duty was met, or when it was not."""

    __tablename__ = "mandatory_report"
    __table_args__ = (
        Index("ix_mandatory_report_status_due", "status", "due_at"),
        # The board's and the red-alert job's reads of pending reports (hotline.open_row_indexes).
        open_rows_index(
            "ix_mandatory_report_pending_due",
            "due_at",
            "id",
            where=status_in([MandatoryReportStatus.PENDING]),
            include=("unit_id", "case_id"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", unique=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    status: str = Field(default=MandatoryReportStatus.PENDING, max_length=20)
    situations: str = Field(default="", max_length=400)  # comma-separated MANDATORY_REPORT_SITUATIONS
    trigger: str = Field(max_length=40)  # "category:violence" or "ticked"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    # Filled when recorded:
    police_unit: str | None = Field(default=None, max_length=120)
    channel: str | None = Field(default=None, max_length=30)  # REPORT_CHANNELS
    reported_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    receipt_number: str | None = Field(default=None, max_length=60)
    police_response_ciphertext: str | None = None
    recorded_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set once, by the job that saw it turn red, in the same UPDATE that claims the alert.
    red_alerted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Agency(SQLModel, table=True):
    """A body cases are referred to (转介), kept by a unit's supervisors and administrators."""

    __tablename__ = "agency"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    name: str = Field(max_length=120)
    kind: str = Field(max_length=30)  # AGENCY_KINDS
    district: str = Field(default="", max_length=60)
    contact_name_ciphertext: str | None = None
    contact_phone_ciphertext: str | None = None
    feedback_days: int = 5  # working days the agency is expected to take to report back
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Referral(SQLModel, table=True):
    """A case referred to an agency. The agency answers through a secret link (only its hash is stored):
    acknowledge, then feedback or a refusal. The link dies when the referral is closed or revoked."""

    __tablename__ = "referral"
    __table_args__ = (
        Index("ix_referral_status_due", "status", "due_at"),
        Index("ix_referral_agency_status", "agency_id", "status"),
        open_rows_index(
            "ix_referral_open_due",
            "due_at",
            "id",
            where=status_in(OPEN_REFERRAL_STATUSES),
            include=("unit_id", "case_id", "agency_id"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    agency_id: int = Field(foreign_key="agency.id")
    status: str = Field(default=ReferralStatus.SENT, max_length=20)
    urgency: str = Field(max_length=20)  # hotline.taxonomy.Urgency
    reason_ciphertext: str
    request_ciphertext: str  # what the agency is asked to do
    share_caller_phone: bool = False  # the agency page shows the caller's number only when ticked
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    sent_by_id: int = Field(foreign_key="staff_user.id")
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    due_on: date  # the working day feedback is expected by
    due_at: datetime = Field(sa_type=UTCDateTime)  # the end of that day, in UTC, for lights and sorting
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=60)  # the name the agency gave
    feedback_ciphertext: str | None = None
    feedback_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decline_reason_ciphertext: str | None = None
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    red_alerted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Task(SQLModel, table=True):
    """Something a person must do on a case by a time: a call-back, a referral check, a satisfaction
    follow-up, a plan review, or a task written by hand. Rules name their task with `rule_key`, unique
    per case, so a rule that fires twice makes one task."""

    __tablename__ = "case_task"
    __table_args__ = (
        UniqueConstraint("case_id", "rule_key", name="uq_case_task_rule"),
        Index("ix_case_task_status_due", "status", "due_at"),
        Index("ix_case_task_owner_status_due", "owner_id", "status", "due_at"),
        # The board counts and lists open tasks by due time; "my tasks" reads one owner's in due order.
        open_rows_index(
            "ix_case_task_open_due",
            "due_at",
            "id",
            where=status_in([TaskStatus.OPEN]),
            include=("unit_id", "owner_id", "case_id"),
        ),
        open_rows_index(
            "ix_case_task_open_owner_due",
            "owner_id",
            "due_at",
            "id",
            where=status_in([TaskStatus.OPEN]),
            include=("unit_id", "case_id"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", index=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    kind: str = Field(max_length=20)  # TaskKind
    title: str = Field(max_length=200)  # no personal data: "Call back", "Check feedback from …"
    owner_id: int | None = Field(default=None, foreign_key="staff_user.id")
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=TaskStatus.OPEN, max_length=20)
    rule_key: str | None = Field(default=None, max_length=60)
    referral_id: int | None = Field(default=None, foreign_key="referral.id")
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    done_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    result: str | None = Field(default=None, max_length=30)  # e.g. SATISFACTION for a satisfaction call
    note_ciphertext: str | None = None
    red_alerted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HelpPlan(SQLModel, table=True):
    """一人一策: the plan for a high-risk child. Each review date is a task."""

    __tablename__ = "help_plan"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="referral_case.id", unique=True)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    measures_ciphertext: str
    responsible: str = Field(max_length=120)  # the lead helper (主帮扶人) or responsible unit
    review_on: date
    created_by_id: int = Field(foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StaffAlert(SQLModel, table=True):
    """An alert on a staff member's home page (and, for the on-duty, by SMS). The text names a case
    number and what is needed, never a person. `dedupe_key` makes "alert once" a database fact."""

    __tablename__ = "staff_alert"
    __table_args__ = (
        UniqueConstraint("recipient_id", "dedupe_key", name="uq_staff_alert_once"),
        Index("ix_staff_alert_recipient_read", "recipient_id", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    recipient_id: int = Field(foreign_key="staff_user.id")
    case_id: int | None = Field(default=None, foreign_key="referral_case.id")
    kind: str = Field(max_length=40)  # mandatory_report.new, *.red
    message: str = Field(max_length=300)  # an English gettext id, formatted with `params`
    params: str = Field(default="{}")  # JSON: case number, what is late
    dedupe_key: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
