"""The supervision board (督办): within a supervisor's scope, what is late and what soon will be.

Everything is counted in the database, from the open items alone (pending mandatory reports, open
referrals, open tasks — hotline.open_items), each kind read from its partial index of open rows
(hotline.open_row_indexes; index-only on PostgreSQL). Two statements: each kind grouped by the person
responsible, the agency and the light (hotline.lights.light_column), so a few rows per person come back;
and open cases by line and their worst light, from one due time per case joined to the open-case index.
No query reads all cases. The lists (red and amber items, pending reports) are ordered by `due_at` and
limited, each kind stopping at the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal, null, union_all
from sqlalchemy import select as sql_select
from sqlalchemy.sql import Select, Subquery
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from core.accounts import StaffUser
from core.db import AsyncSession
from core.errors import FormInvalid
from core.i18n import N_
from core.units import visible_to
from hotline.case_scope import line_in_scope
from hotline.case_terms import Light, MandatoryReportStatus, TaskKind
from hotline.casework_models import Agency, MandatoryReport, Referral, Task
from hotline.lights import light_column, light_of
from hotline.models import OPEN_CASE_STATUSES, ReferralCase
from hotline.open_items import ITEM_KINDS, OPEN_ITEMS, ItemKind, OpenItemKind
from hotline.taxonomy import LINES
from hotline.voice_board import VoiceLineFigures

__all__ = [
    "Board",
    "BoardFilters",
    "BoardItem",
    "CountRow",
    "LightCounts",
    "ReportRow",
    "supervision_board",
]

# The board lists at most this many late or nearly late items, and this many pending reports.
ITEMS_LIMIT = 100
REPORTS_LIMIT = 100


@dataclass(frozen=True)
class BoardFilters:
    line: str | None = None
    operator: int | None = None  # the person responsible: a task's owner, a referral's or report's case owner
    agency: int | None = None
    kind: str | None = None

    @classmethod
    def checked(
        cls, *, line: str | None, operator: int | None, agency: int | None, kind: str | None
    ) -> BoardFilters:
        errors: dict[str, str] = {}
        if line and line not in LINES:
            errors["line"] = N_("This filter value is not one of the choices.")
        if kind and kind not in ITEM_KINDS:
            errors["kind"] = N_("This filter value is not one of the choices.")
        if errors:
            raise FormInvalid(errors)
        return cls(line=line or None, operator=operator, agency=agency, kind=kind or None)

    @property
    def any(self) -> bool:
        return any(value is not None for value in (self.line, self.operator, self.agency, self.kind))


@dataclass
class LightCounts:
    red: int = 0
    amber: int = 0
    green: int = 0

    def add(self, light: str, count: int) -> None:
        setattr(self, Light(light).value, getattr(self, Light(light).value) + count)

    @property
    def total(self) -> int:
        return self.red + self.amber + self.green


@dataclass
class CountRow:
    key: str  # an operator's or agency's id, a line's code; "" for items nobody owns
    label: str  # a display name, an agency name; a line's code is translated by the page
    counts: LightCounts = field(default_factory=LightCounts)


@dataclass(frozen=True)
class BoardItem:
    kind: str  # ItemKind
    item_id: int
    case_number: str
    what: str  # a hand-written task's title, a rule task's kind code, the agency's name; "" for a report
    owner_name: str
    due_at: datetime
    light: Light
    overdue_minutes: int  # 0 unless red


@dataclass(frozen=True)
class ReportRow:
    case_number: str
    owner_name: str
    created_at: datetime
    due_at: datetime
    light: Light
    overdue_minutes: int


@dataclass(frozen=True)
class Board:
    now: datetime
    filters: BoardFilters
    totals: LightCounts  # the open items, filtered
    by_operator: list[CountRow]
    by_line: list[CountRow]  # open cases, by the worst light of their open items
    by_agency: list[CountRow]
    items: list[BoardItem]  # red, then amber, earliest due first
    reports_pending: int  # mandatory reports not yet recorded, whatever the filters
    reports_overdue: int
    reports: list[ReportRow]
    # Phone calls per line (hotline.voice_board); filled by the routes beside the items.
    voice: list[VoiceLineFigures] = field(default_factory=list)


def _item_select(
    item: OpenItemKind, viewer: StaffUser, filters: BoardFilters, *, slim: bool = False
) -> Select[Any] | None:
    """One kind's open items as (kind, item_id, case_id, due_at, responsible_id, agency_id, what); `slim`:
    only (case_id, due_at), for a case's light, joining the case only when a filter needs it."""
    if filters.kind and filters.kind != item.kind:
        return None
    if filters.agency is not None and item.kind != ItemKind.REFERRAL:
        return None
    text_type = String(200)
    if item.kind == ItemKind.TASK:
        responsible: Any = col(Task.owner_id)
        agency: Any = cast(null(), Integer)
        # A rule task is named by its kind (the page translates the code), as on "my tasks": its stored
        # title is only a note for the log. A hand-written task is its title.
        what: Any = cast(
            case((col(Task.kind) == TaskKind.MANUAL, col(Task.title)), else_=col(Task.kind)), text_type
        )
    elif item.kind == ItemKind.REFERRAL:
        responsible = col(ReferralCase.owner_id)
        agency = col(Referral.agency_id)
        what = cast(literal(""), text_type)
    else:
        responsible = col(ReferralCase.owner_id)
        agency = cast(null(), Integer)
        what = cast(literal(""), text_type)
    columns = (
        [item.column("case_id").label("case_id"), item.column("due_at").label("due_at")]
        if slim
        else [
            cast(literal(item.kind.value), String(20)).label("kind"),
            item.column("id").label("item_id"),
            item.column("case_id").label("case_id"),
            item.column("due_at").label("due_at"),
            responsible.label("responsible_id"),
            agency.label("agency_id"),
            what.label("what"),
        ]
    )
    query = sql_select(*columns).where(item.still_open(), visible_to(item.column("unit_id"), viewer.unit_id))
    # Tasks carry their own owner; the others' person is their case's owner, so they join it when the
    # person is wanted (selected or filtered on).
    # Someone limited to one line (StaffUser.line) sees only that line's items: the case is joined by its
    # key for its line, as for the line filter.
    wants_owner = not slim or filters.operator is not None
    if filters.line or viewer.line or (item.kind != ItemKind.TASK and wants_owner):
        query = query.join(ReferralCase, col(ReferralCase.id) == item.column("case_id"))
    if viewer.line:
        query = query.where(line_in_scope(viewer))
    if filters.line:
        query = query.where(col(ReferralCase.line) == filters.line)
    if filters.operator is not None:
        query = query.where(responsible == filters.operator)
    if filters.agency is not None:
        query = query.where(col(Referral.agency_id) == filters.agency)
    return query


def _item_parts(viewer: StaffUser, filters: BoardFilters, *, slim: bool = False) -> list[Select[Any]]:
    return [
        part for item in OPEN_ITEMS if (part := _item_select(item, viewer, filters, slim=slim)) is not None
    ]


@dataclass
class _Counts:
    by_operator: dict[int | None, LightCounts] = field(default_factory=dict)
    by_agency: dict[int, LightCounts] = field(default_factory=dict)
    by_line: dict[str, LightCounts] = field(default_factory=dict)


async def _item_counts(
    session: AsyncSession, parts: list[Select[Any]], now: datetime, amber: timedelta, counts: _Counts
) -> None:
    """Open items by (person responsible, agency, light), each kind grouped in the database on its own:
    a few rows per person and agency come back, never the items; no kind is read twice."""
    grouped = []
    for part in parts:
        item = part.subquery()
        lit = sql_select(
            item.c.responsible_id, item.c.agency_id, light_column(item.c.due_at, now, amber).label("light")
        ).subquery("lit")
        grouped.append(
            sql_select(lit.c.responsible_id, lit.c.agency_id, lit.c.light, func.count()).group_by(
                lit.c.responsible_id, lit.c.agency_id, lit.c.light
            )
        )
    rows = await session.exec(union_all(*grouped))  # type: ignore[call-overload]
    for responsible, agency, light, count in rows.all():
        counts.by_operator.setdefault(responsible, LightCounts()).add(light, count)
        if agency is not None:
            counts.by_agency.setdefault(agency, LightCounts()).add(light, count)


async def _line_counts(
    session: AsyncSession, parts: list[Select[Any]], now: datetime, amber: timedelta, counts: _Counts
) -> None:
    """Open cases by line and the light of their earliest-due open item (their worst): the items are
    reduced to one due time per case first, and only those cases are joined, through the index of open
    cases (ix_referral_case_open) — never the whole case table."""
    items = union_all(*parts).subquery("open_item")
    per_case = (
        sql_select(items.c.case_id, func.min(items.c.due_at).label("due_at"))
        .group_by(items.c.case_id)
        .subquery("per_case")
    )
    lit_case = (
        sql_select(
            col(ReferralCase.line).label("line"), light_column(per_case.c.due_at, now, amber).label("light")
        )
        .join(ReferralCase, col(ReferralCase.id) == per_case.c.case_id)
        .where(col(ReferralCase.status).in_(OPEN_CASE_STATUSES))
        .subquery("lit_case")
    )
    rows = await session.exec(  # type: ignore[call-overload]
        sql_select(lit_case.c.line, lit_case.c.light, func.count()).group_by(
            lit_case.c.line, lit_case.c.light
        )
    )
    for line, light, count in rows.all():
        counts.by_line.setdefault(line, LightCounts()).add(light, count)


async def _names(session: AsyncSession, model: Any, label: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.exec(select(col(model.id), label).where(col(model.id).in_(ids)))
    return {row_id: name for row_id, name in rows.all()}


def _ranked(counts: dict[Any, LightCounts], names: dict[int, str], unowned: str) -> list[CountRow]:
    rows = [
        CountRow(
            key="" if key is None else str(key),
            label=names.get(key, unowned) if key is not None else unowned,
            counts=c,
        )
        for key, c in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row.counts.red, -row.counts.amber, -row.counts.total, row.label))


def _overdue_minutes(due_at: datetime, now: datetime) -> int:
    return max(int((now - due_at).total_seconds() // 60), 0)


def _late_candidates(viewer: StaffUser, filters: BoardFilters, now: datetime, amber: timedelta) -> Subquery:
    """Each kind's earliest-due red or amber items, at most ITEMS_LIMIT of each: every kind is read in
    `due_at` order through its partial index of open rows and stops at the limit, so the list costs the
    same whether a hundred or a hundred thousand items are late."""
    parts = []
    for item in OPEN_ITEMS:
        query = _item_select(item, viewer, filters)
        if query is None:
            continue
        due = item.column("due_at")
        limited = (
            query.where(due <= now + amber).order_by(due, item.column("id")).limit(ITEMS_LIMIT).subquery()
        )
        parts.append(sql_select(limited))
    return union_all(*parts).subquery("late_candidates")


async def _late_items(
    session: AsyncSession, viewer: StaffUser, filters: BoardFilters, now: datetime, amber: timedelta
) -> list[BoardItem]:
    """The red and amber items, earliest due first. The limit is taken on the items alone, so cases,
    people and agencies are looked up by key for those few rows, never joined to every open item."""
    candidates = _late_candidates(viewer, filters, now, amber)
    late = (
        sql_select(candidates)
        .order_by(candidates.c.due_at, candidates.c.kind, candidates.c.item_id)
        .limit(ITEMS_LIMIT)
        .subquery("late")
    )
    # Seven columns: more than sqlmodel's typed `select` takes, so SQLAlchemy's, which `exec` runs alike.
    rows = await session.exec(  # type: ignore[call-overload]
        sql_select(
            late.c.kind,
            late.c.item_id,
            late.c.due_at,
            late.c.what,
            late.c.agency_id,
            col(ReferralCase.number),
            col(StaffUser.display_name),
        )
        .join(ReferralCase, col(ReferralCase.id) == late.c.case_id)
        .outerjoin(StaffUser, col(StaffUser.id) == late.c.responsible_id)
        .order_by(late.c.due_at, late.c.kind, late.c.item_id)
    )
    found = rows.all()
    agencies = await _names(
        session, Agency, col(Agency.name), {row[4] for row in found if row[4] is not None}
    )
    return [
        BoardItem(
            kind=kind,
            item_id=item_id,
            case_number=number,
            what=agencies.get(agency_id, "") if agency_id is not None else what,
            owner_name=owner or "",
            due_at=due_at,
            light=light_of(due_at, now, amber),
            overdue_minutes=_overdue_minutes(due_at, now),
        )
        for kind, item_id, due_at, what, agency_id, number, owner in found
    ]


async def _pending_reports(
    session: AsyncSession, viewer: StaffUser, now: datetime, amber: timedelta
) -> tuple[int, int, list[ReportRow]]:
    """Mandatory reports not yet recorded, in scope: never filtered away, so none can be overlooked."""
    pending: list[ColumnElement[bool]] = [
        col(MandatoryReport.status) == MandatoryReportStatus.PENDING,
        visible_to(MandatoryReport.unit_id, viewer.unit_id),
    ]
    counted = (
        select(func.count(), func.count().filter(col(MandatoryReport.due_at) <= now))
        .select_from(MandatoryReport)
        .where(*pending)
    )
    if viewer.line:
        pending.append(line_in_scope(viewer))
        counted = counted.join(ReferralCase, col(ReferralCase.id) == MandatoryReport.case_id).where(
            line_in_scope(viewer)
        )
    total, overdue = (await session.exec(counted)).one()
    # The columns shown, not the whole report: no entity to build and track per row.
    rows = await session.exec(
        select(
            col(MandatoryReport.created_at),
            col(MandatoryReport.due_at),
            col(ReferralCase.number),
            col(StaffUser.display_name),
        )
        .join(ReferralCase, col(ReferralCase.id) == MandatoryReport.case_id)
        .outerjoin(StaffUser, col(StaffUser.id) == ReferralCase.owner_id)
        .where(*pending)
        .order_by(col(MandatoryReport.due_at), col(MandatoryReport.id))
        .limit(REPORTS_LIMIT)
    )
    reports = [
        ReportRow(
            case_number=number,
            owner_name=owner or "",
            created_at=created_at,
            due_at=due_at,
            light=light_of(due_at, now, amber),
            overdue_minutes=_overdue_minutes(due_at, now),
        )
        for created_at, due_at, number, owner in rows.all()
    ]
    return int(total), int(overdue or 0), reports


async def supervision_board(
    session: AsyncSession, *, viewer: StaffUser, filters: BoardFilters, now: datetime, amber: timedelta
) -> Board:
    reports_pending, reports_overdue, reports = await _pending_reports(session, viewer, now, amber)
    parts = _item_parts(viewer, filters)
    if not parts:
        return Board(now, filters, LightCounts(), [], [], [], [], reports_pending, reports_overdue, reports)
    counts = _Counts()
    await _item_counts(session, parts, now, amber, counts)
    await _line_counts(session, _item_parts(viewer, filters, slim=True), now, amber, counts)
    by_operator, by_agency, by_line = counts.by_operator, counts.by_agency, counts.by_line
    totals = LightCounts()
    for light_counts in by_operator.values():
        for light in Light:
            totals.add(light, getattr(light_counts, light.value))
    people = await _names(
        session, StaffUser, col(StaffUser.display_name), {k for k in by_operator if k is not None}
    )
    agencies = await _names(session, Agency, col(Agency.name), {k for k in by_agency if k is not None})
    return Board(
        now=now,
        filters=filters,
        totals=totals,
        by_operator=_ranked(by_operator, people, ""),
        by_line=sorted(
            (CountRow(key=line, label=line, counts=c) for line, c in by_line.items()),
            key=lambda row: (-row.counts.red, -row.counts.amber, row.key),
        ),
        by_agency=_ranked(by_agency, agencies, ""),
        items=await _late_items(session, viewer, filters, now, amber),
        reports_pending=reports_pending,
        reports_overdue=reports_overdue,
        reports=reports,
    )
