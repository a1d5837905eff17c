"""Tables of the quarterly report (季度报送): the draft a unit's supervisors write, and the versions they
sign. A signed version is frozen — figures and text as they stood — and the database refuses to change
or delete it (triggers, as on the audit log); a correction is a new version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow

__all__ = ["NARRATIVE_FIELDS", "ReportDraft", "ReportVersion"]

# The narrative sections every report has: 工作进展, 存在问题, 下步计划.
NARRATIVE_FIELDS = ("progress", "problems", "plans")


class ReportDraft(SQLModel, table=True):
    """The text being written for a unit's period report, before (and between) sign-offs."""

    __tablename__ = "report_draft"
    __table_args__ = (UniqueConstraint("unit_id", "period", name="uq_report_draft_unit_period"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    period: str = Field(max_length=30)  # reports.periods.Period.code: 2026-Q4, 2026-H2, 2026
    progress: str = ""
    problems: str = ""
    plans: str = ""
    updated_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportVersion(SQLModel, table=True):
    """A signed report: append-only (see the migration's triggers)."""

    __tablename__ = "report_version"
    __table_args__ = (
        UniqueConstraint("unit_id", "period", "version", name="uq_report_version"),
        Index("ix_report_version_period", "period", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="org_unit.id")
    unit_name: str = Field(max_length=120)  # as it was called when signed
    period: str = Field(max_length=30)
    version: int
    figures_json: str  # reports.figures: this period, the one before and the same one a year earlier
    progress: str = ""
    problems: str = ""
    plans: str = ""
    signed_by_id: int = Field(foreign_key="staff_user.id")
    signed_by_name: str = Field(max_length=120)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
