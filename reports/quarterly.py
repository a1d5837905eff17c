"""The quarterly report (季度报送) and its half-year and year summaries: the draft's text, the figures it
reports (this period, the one before, the same one a year earlier), sign-off into a frozen version, and
the list of versions. A correction after sign-off is signed as the next version; none is ever changed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.units import OrgUnit
from hotline.form_text import written_text
from reports.figures import FigureScope, compute_periods
from reports.models import NARRATIVE_FIELDS, ReportDraft, ReportVersion
from reports.periods import Period, PeriodKind, parse_period

__all__ = [
    "NARRATIVE_MAX",
    "Narrative",
    "comparison",
    "latest_version",
    "load_draft",
    "report_period",
    "save_draft",
    "sign_off",
    "versions_of",
]

NARRATIVE_MAX = 5000  # characters per section: a page or two each, as the reports upward run
_NO_REPORT = N_("No such report: give a quarter, half-year or year, e.g. 2026-Q4, 2026-H2 or 2026.")
REPORT_KINDS = (PeriodKind.QUARTER, PeriodKind.HALF_YEAR, PeriodKind.YEAR)


@dataclass(frozen=True)
class Narrative:
    progress: str = ""
    problems: str = ""
    plans: str = ""


def report_period(code: str) -> Period:
    """The period of a report URL: a quarter, half-year or year; anything else is not a report (404)."""
    try:
        period = parse_period(code)
    except FormInvalid:
        raise NotFound(_NO_REPORT) from None
    if period.kind not in REPORT_KINDS:
        raise NotFound(_NO_REPORT)
    return period


async def comparison(
    session: AsyncSession, scope: FigureScope, period: Period, *, timezone: str, now: datetime
) -> dict[str, Any]:
    """The figures of the period, the period before and the same period a year before (counted together)."""
    periods = [period, period.previous(), period.year_before()]
    figures = await compute_periods(session, scope, periods, timezone=timezone, now=now)
    return dict(zip(("current", "previous", "year_before"), figures, strict=True))


async def load_draft(session: AsyncSession, unit_id: int, period: Period) -> ReportDraft | None:
    found = await session.exec(
        select(ReportDraft).where(col(ReportDraft.unit_id) == unit_id, col(ReportDraft.period) == period.code)
    )
    return found.first()


def _clean_narrative(narrative: Narrative) -> Narrative:
    errors: dict[str, str] = {}
    too_long = N_("At most 5000 characters in each section.")
    texts = {
        name: written_text(
            errors, name, getattr(narrative, name), max_length=NARRATIVE_MAX, missing=None, too_long=too_long
        )
        for name in NARRATIVE_FIELDS
    }
    if errors:
        raise FormInvalid(errors)
    return Narrative(**texts)


async def save_draft(
    session: AsyncSession, *, unit_id: int, period: Period, narrative: Narrative, actor: StaffUser
) -> ReportDraft:
    """Keep the report's text; audited (the text is the unit's account of its work, not personal data)."""
    clean = _clean_narrative(narrative)
    draft = await load_draft(session, unit_id, period) or ReportDraft(unit_id=unit_id, period=period.code)
    for name in NARRATIVE_FIELDS:
        setattr(draft, name, getattr(clean, name))
    draft.updated_by_id = actor.id
    draft.updated_at = utcnow()
    session.add(draft)
    record_audit(
        session,
        actor_id=actor.id,
        actor_label=actor.username,
        action="report.draft_saved",
        object_type="report",
        object_id=f"{unit_id}:{period.code}",
    )
    await session.commit()
    return draft


async def versions_of(session: AsyncSession, unit_id: int, period: Period) -> list[ReportVersion]:
    rows = await session.exec(
        select(ReportVersion)
        .where(col(ReportVersion.unit_id) == unit_id, col(ReportVersion.period) == period.code)
        .order_by(col(ReportVersion.version).desc())
    )
    return list(rows.all())


async def latest_version(session: AsyncSession, unit_id: int, period: Period) -> ReportVersion | None:
    versions = await versions_of(session, unit_id, period)
    return versions[0] if versions else None


async def sign_off(
    session: AsyncSession,
    *,
    unit: OrgUnit,
    period: Period,
    narrative: Narrative,
    figures: dict[str, Any],
    actor: StaffUser,
) -> ReportVersion:
    """Freeze the figures and text as the next version, and keep the text as the draft too; audited.
    Two supervisors signing at once: the unique (unit, period, version) lets one win, the other retries."""
    clean = _clean_narrative(narrative)
    if not any(getattr(clean, name) for name in NARRATIVE_FIELDS):
        raise FormInvalid({"progress": N_("Write at least one section before signing the report.")})
    assert unit.id is not None
    current = await session.exec(
        select(func.max(ReportVersion.version)).where(
            col(ReportVersion.unit_id) == unit.id, col(ReportVersion.period) == period.code
        )
    )
    version = ReportVersion(
        unit_id=unit.id,
        unit_name=unit.name,
        period=period.code,
        version=(current.one() or 0) + 1,
        figures_json=json.dumps(figures, ensure_ascii=False, sort_keys=True),
        progress=clean.progress,
        problems=clean.problems,
        plans=clean.plans,
        signed_by_id=actor.id or 0,
        signed_by_name=actor.display_name,
        signed_at=utcnow(),
    )
    session.add(version)
    record_audit(
        session,
        actor_id=actor.id,
        actor_label=actor.username,
        action="report.signed",
        object_type="report",
        object_id=f"{unit.id}:{period.code}",
        detail={"version": version.version},
    )
    await save_draft(session, unit_id=unit.id, period=period, narrative=clean, actor=actor)
    return version
