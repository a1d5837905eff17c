"""Pages of reports: the dashboard (/reports), the quarterly report with its sign-off and versions, and
its exports. Handlers parse, call the figures and the report service, and shape the answer; the rules
live in reports.figures, reports.quarterly and reports.panels."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, Router, get, post
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.audit import record_audit
from core.db import AsyncSession, DbSession, get_by_outside_id, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_, gettext
from core.security import requires_roles
from core.settings import Settings, SettingsDep
from core.units import OrgUnit, is_visible, units_within
from hotline.form_text import written_text
from reports.exports import ReportHeading, deidentified_csv, report_xlsx
from reports.figures import FigureScope, case_table, identified_cases
from reports.models import NARRATIVE_FIELDS, ReportVersion
from reports.panels import PERIOD_LABELS, PERIOD_NAMES, Panel, build_panels
from reports.periods import Period, PeriodKind, current_period, parse_period
from reports.quarterly import (
    Narrative,
    comparison,
    load_draft,
    report_period,
    save_draft,
    sign_off,
    versions_of,
)

__all__ = ["IdentifiedExport", "ReportPages", "router"]

StaffRequest = Request[StaffUser, Any, Any]
UnitId = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PRIVATE = {"Cache-Control": "no-store"}
NARRATIVE_LABELS = {
    "progress": N_("Work progress (工作进展)"),
    "problems": N_("Problems (存在问题)"),
    "plans": N_("Plans for the next period (下步计划)"),
}

dashboard_roles = requires_roles(Role.SUPERVISOR, Role.ADMIN, Role.COORDINATOR)
report_roles = requires_roles(Role.SUPERVISOR, Role.ADMIN)
supervisors_only = requires_roles(Role.SUPERVISOR)
admins_only = requires_roles(Role.ADMIN)
REASON_MAX = 300


def _today(settings: Settings) -> date:
    return utcnow().astimezone(ZoneInfo(settings.site_timezone)).date()


def _stamp(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.site_timezone)).strftime("%Y-%m-%d %H:%M")


async def _unit(db: AsyncSession, viewer: StaffUser, unit_id: int | None) -> OrgUnit:
    """The unit asked for, if it is the viewer's or below (else 404, as for any row outside scope)."""
    unit = await get_by_outside_id(db, OrgUnit, unit_id or viewer.unit_id)
    if unit is None or unit.id is None or not await is_visible(db, unit.id, viewer.unit_id):
        raise NotFound(N_("No such unit."))
    return unit


def _scope(viewer: StaffUser, unit: OrgUnit) -> FigureScope:
    assert unit.id is not None
    return FigureScope.of(viewer, unit.id, booking_only=viewer.role == Role.COORDINATOR)


def _period_links(today: date) -> list[tuple[str, str]]:
    quarter = current_period(PeriodKind.QUARTER, today)
    return [
        (current_period(PeriodKind.MONTH, today).code, gettext("This month")),
        (quarter.code, gettext("This quarter")),
        (quarter.previous().code, gettext("Last quarter")),
        (current_period(PeriodKind.HALF_YEAR, today).code, gettext("This half-year")),
        (current_period(PeriodKind.YEAR, today).code, gettext("This year")),
    ]


def _pick_period(period: str, date_from: str, date_to: str, today: date) -> Period:
    if date_from or date_to:
        return parse_period(f"{date_from}..{date_to}")
    if period:
        return parse_period(period)
    return current_period(PeriodKind.QUARTER, today)


async def _page_context(
    db: AsyncSession, viewer: StaffUser, unit: OrgUnit, period: Period, settings: Settings
) -> dict[str, Any]:
    three = await comparison(db, _scope(viewer, unit), period, timezone=settings.site_timezone, now=utcnow())
    viewer_unit = await db.get(OrgUnit, viewer.unit_id)
    return {
        "three": three,
        "panels": build_panels(three),
        "period": period,
        "previous": period.previous(),
        "year_before": period.year_before(),
        "unit": unit,
        "units": await units_within(db, viewer_unit.path) if viewer_unit else [unit],
        "period_labels": [gettext(PERIOD_LABELS[name]) for name in PERIOD_NAMES],
        "booking_only": viewer.role == Role.COORDINATOR,
        "line_limited": viewer.line,
    }


@dataclass(frozen=True)
class NarrativeForm:
    progress: str = ""
    problems: str = ""
    plans: str = ""


async def _report_page(
    request: StaffRequest,
    db: AsyncSession,
    settings: Settings,
    unit: OrgUnit,
    period: Period,
    *,
    form: NarrativeForm | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    assert unit.id is not None
    draft = await load_draft(db, unit.id, period)
    text = form or NarrativeForm(*(getattr(draft, name) if draft else "" for name in NARRATIVE_FIELDS))
    return Template(
        template_name="reports/quarterly.html",
        context={
            **await _page_context(db, request.user, unit, period, settings),
            "form": text,
            "errors": errors or {},
            "versions": await versions_of(db, unit.id, period),
            "due": period.report_due(),
            "narrative_labels": {k: gettext(v) for k, v in NARRATIVE_LABELS.items()},
            "can_sign": request.user.role == Role.SUPERVISOR,
        },
        status_code=400 if errors else 200,
        headers=_PRIVATE,
    )


def _query(unit: OrgUnit) -> str:
    return f"?unit={unit.id}"


class ReportPages(Controller):
    path = "/reports"
    guards = (dashboard_roles,)
    include_in_schema = False

    @get("/", name="reports:dashboard")
    async def dashboard(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        unit: UnitId = None,
        period: FromQuery[str] = "",
        date_from: FromQuery[str] = "",
        date_to: FromQuery[str] = "",
    ) -> Template:
        picked = await _unit(db, request.user, unit)
        today = _today(settings)
        chosen = _pick_period(period, date_from, date_to, today)
        return Template(
            template_name="reports/dashboard.html",
            context={
                **await _page_context(db, request.user, picked, chosen, settings),
                "period_links": _period_links(today),
            },
            headers=_PRIVATE,
        )

    @get("/quarterly/{code:str}", name="reports:quarterly", guards=[report_roles])
    async def quarterly(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        code: FromPath[str],
        unit: UnitId = None,
    ) -> Template | Response[bytes]:
        picked = await _unit(db, request.user, unit)
        if code.endswith(".xlsx"):
            return await _xlsx(request, db, settings, picked, report_period(code.removesuffix(".xlsx")))
        return await _report_page(request, db, settings, picked, report_period(code))

    @get("/quarterly/{code:str}/print", name="reports:print", guards=[report_roles])
    async def printable(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        code: FromPath[str],
        unit: UnitId = None,
        version: Annotated[int | None, QueryParameter(ge=1, le=10_000)] = None,
    ) -> Template:
        picked = await _unit(db, request.user, unit)
        period = report_period(code)
        signed = await _version(db, picked, period, version)
        context = await _page_context(db, request.user, picked, period, settings)
        if signed is not None:
            three = json.loads(signed.figures_json)
            context.update(three=three, panels=build_panels(three))
            text = {name: getattr(signed, name) for name in NARRATIVE_FIELDS}
        else:
            draft = await load_draft(db, picked.id or 0, period)
            text = {name: getattr(draft, name) if draft else "" for name in NARRATIVE_FIELDS}
        return Template(
            template_name="reports/print.html",
            context={
                **context,
                "signed": signed,
                "text": text,
                "narrative_labels": {k: gettext(v) for k, v in NARRATIVE_LABELS.items()},
                "printed_by": request.user.display_name,
                "printed_at": _stamp(utcnow(), settings),
            },
            headers=_PRIVATE,
        )

    @post("/quarterly/{code:str}/draft", name="reports:save_draft", guards=[report_roles])
    async def save(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        code: FromPath[str],
        data: URLEncodedBody[NarrativeForm],
        unit: UnitId = None,
    ) -> Template | Redirect:
        picked = await _unit(db, request.user, unit)
        period = report_period(code)
        try:
            await save_draft(
                db,
                unit_id=picked.id or 0,
                period=period,
                narrative=Narrative(**vars(data)),
                actor=request.user,
            )
        except FormInvalid as exc:
            await db.rollback()  # expires what the session had loaded: read the unit again
            picked = await _unit(db, request.user, unit)
            errors = {k: gettext(v) for k, v in exc.errors.items()}
            return await _report_page(request, db, settings, picked, period, form=data, errors=errors)
        target = request.app.route_reverse("reports:quarterly", code=period.code) + _query(picked)
        return Redirect(target, status_code=303)

    @post("/quarterly/{code:str}/sign", name="reports:sign", guards=[supervisors_only])
    async def sign(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        code: FromPath[str],
        data: URLEncodedBody[NarrativeForm],
        unit: UnitId = None,
    ) -> Template | Redirect:
        picked = await _unit(db, request.user, unit)
        period = report_period(code)
        three = await comparison(
            db, _scope(request.user, picked), period, timezone=settings.site_timezone, now=utcnow()
        )
        try:
            await sign_off(
                db,
                unit=picked,
                period=period,
                narrative=Narrative(**vars(data)),
                figures=three,
                actor=request.user,
            )
        except FormInvalid as exc:
            await db.rollback()  # expires what the session had loaded: read the unit again
            picked = await _unit(db, request.user, unit)
            errors = {k: gettext(v) for k, v in exc.errors.items()}
            return await _report_page(request, db, settings, picked, period, form=data, errors=errors)
        target = request.app.route_reverse("reports:quarterly", code=period.code) + _query(picked)
        return Redirect(f"{target}#versions", status_code=303)

    @get("/cases.csv", name="reports:cases_csv", guards=[report_roles])
    async def cases_csv(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        unit: UnitId = None,
        period: FromQuery[str] = "",
    ) -> Response[str]:
        """Cases opened in the period, counted by category, age band and risk; no row names anyone, and
        groups of fewer than five are written "<5"."""
        picked = await _unit(db, request.user, unit)
        chosen = _pick_period(period, "", "", _today(settings))
        rows = await case_table(db, _scope(request.user, picked), chosen, timezone=settings.site_timezone)
        record_audit(
            db,
            actor_id=request.user.id,
            actor_label=request.user.username,
            action="report.cases_exported",
            object_type="unit",
            object_id=picked.id or 0,
            detail={"period": chosen.code, "identified": False},
        )
        await db.commit()
        header = [gettext("Category"), gettext("Child age band"), gettext("Risk"), gettext("Cases")]
        return Response(
            deidentified_csv(header, rows),
            media_type="text/csv; charset=utf-8",
            headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="cases-{chosen.code}.csv"'},
        )


@dataclass(frozen=True)
class IdentifiedExportForm:
    period: str = ""
    unit: str = ""
    reason: str = ""


class IdentifiedExport(Controller):
    """An administrator's list of cases by number: only with a stated reason, audited with it, and the
    file says who exported it, when and why. Separate path from any GET (see tests/test_api_fuzz.py)."""

    path = "/reports/identified"
    guards = (admins_only,)
    include_in_schema = False

    @post("/export", name="reports:identified_export", status_code=200)
    async def export(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        data: URLEncodedBody[IdentifiedExportForm],
    ) -> Response[str]:
        errors: dict[str, str] = {}
        reason = written_text(
            errors,
            "reason",
            data.reason,
            max_length=REASON_MAX,
            missing=N_("Say why the identified list is needed."),
            too_long=N_("At most 300 characters for the reason."),
        )
        if errors:
            raise FormInvalid(errors)
        try:
            unit_id = int(data.unit) if data.unit.strip() else None
        except ValueError:
            raise FormInvalid({"unit": N_("Choose a unit from the list.")}) from None
        picked = await _unit(db, request.user, unit_id)
        chosen = _pick_period(data.period, "", "", _today(settings))
        rows = await identified_cases(
            db, FigureScope(unit_id=picked.id or 0), chosen, timezone=settings.site_timezone
        )
        names = {u.id: u.name for u in await units_within(db, picked.path)}
        record_audit(
            db,
            actor_id=request.user.id,
            actor_label=request.user.username,
            action="report.cases_exported",
            object_type="unit",
            object_id=picked.id or 0,
            detail={"period": chosen.code, "identified": True, "reason": reason, "rows": len(rows)},
        )
        await db.commit()
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                gettext("Exported by"),
                request.user.display_name,
                gettext("Exported at"),
                _stamp(utcnow(), settings),
            ]
        )
        writer.writerow([gettext("Reason"), reason])
        writer.writerow([])
        writer.writerow(["number", "line", "unit", "category", "risk", "status", "opened", "closed"])
        for number, line, unit_of_case, category, risk, status, opened, closed in rows:
            writer.writerow(
                [
                    number,
                    line,
                    names.get(unit_of_case, ""),
                    category,
                    risk,
                    status,
                    _stamp(opened, settings),
                    _stamp(closed, settings) if closed else "",
                ]
            )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                **_PRIVATE,
                "Content-Disposition": f'attachment; filename="cases-identified-{chosen.code}.csv"',
            },
        )


async def _version(
    db: AsyncSession, unit: OrgUnit, period: Period, number: int | None
) -> ReportVersion | None:
    if number is None:
        return None
    found = await db.exec(
        select(ReportVersion).where(
            col(ReportVersion.unit_id) == unit.id,
            col(ReportVersion.period) == period.code,
            col(ReportVersion.version) == number,
        )
    )
    version = found.first()
    if version is None:
        raise NotFound(N_("No such version of the report."))
    return version


async def _xlsx(
    request: StaffRequest, db: AsyncSession, settings: Settings, unit: OrgUnit, period: Period
) -> Response[bytes]:
    """The latest signed version if there is one, else the draft with today's figures."""
    versions = await versions_of(db, unit.id or 0, period)
    panels: list[Panel]
    if versions:
        signed = versions[0]
        panels = build_panels(json.loads(signed.figures_json))
        text = {name: getattr(signed, name) for name in NARRATIVE_FIELDS}
        status = gettext("Version %(n)s, signed by %(name)s at %(at)s") % {
            "n": signed.version,
            "name": signed.signed_by_name,
            "at": _stamp(signed.signed_at, settings),
        }
    else:
        three = await comparison(
            db, _scope(request.user, unit), period, timezone=settings.site_timezone, now=utcnow()
        )
        panels = build_panels(three)
        draft = await load_draft(db, unit.id or 0, period)
        text = {name: getattr(draft, name) if draft else "" for name in NARRATIVE_FIELDS}
        status = gettext("Draft, not signed")
    heading = ReportHeading(
        unit_name=unit.name,
        period=period.code,
        status=status,
        exported_by=request.user.display_name,
        exported_at=_stamp(utcnow(), settings),
    )
    narrative = {gettext(NARRATIVE_LABELS[name]): text[name] for name in NARRATIVE_FIELDS}
    record_audit(
        db,
        actor_id=request.user.id,
        actor_label=request.user.username,
        action="report.exported",
        object_type="report",
        object_id=f"{unit.id}:{period.code}",
        detail={"format": "xlsx", "version": versions[0].version if versions else None},
    )
    await db.commit()
    return Response(
        report_xlsx(heading, narrative, panels),
        media_type=XLSX,
        headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="report-{period.code}.xlsx"'},
    )


router = Router(path="/", route_handlers=[ReportPages, IdentifiedExport])
