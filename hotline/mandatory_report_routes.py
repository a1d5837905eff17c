"""A case's mandatory report, from the case page and the JSON API: open one by hand ("suspected
infringement" found after intake), record it, add the police response later, read it. Operators and
supervisors of the case's scope; there is no route that deletes a report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from core.audit import record_audit
from core.db import AsyncSession, DbSession, utcnow
from core.errors import FormInvalid, error_responses
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep, FieldCipher
from core.settings import Settings, SettingsDep
from hotline.case_guard import require_open
from hotline.case_terms import MandatoryReportStatus
from hotline.case_views import find_case
from hotline.mandatory_report_views import MandatoryReportView, report_form_choices, report_view
from hotline.mandatory_reports import (
    ReportNeed,
    ReportRecord,
    clean_situations,
    open_report,
    record_report,
    report_for_case,
)
from hotline.models import ReferralCase
from hotline.page_helpers import StaffRequest, hotline_staff_only

__all__ = ["MandatoryReportApi", "MandatoryReportPages", "OpenReport"]


@dataclass(frozen=True)
class OpenReport:
    """Open the case's mandatory report by hand (suspected infringement found after intake), with the
    art. 4 situations found, if any; on a case that has one, the situations are added to it."""

    situations: list[str] | None = None


async def _open_by_hand(
    db: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    request: StaffRequest,
    case: ReferralCase,
    situations: list[str] | None,
) -> None:
    """The same opening as at intake, committed; FormInvalid (nothing saved) for a closed case or an
    unknown situation."""
    require_open(case)
    need = ReportNeed(trigger="ticked", situations=clean_situations(situations))
    try:
        await open_report(
            db, cipher, settings, case=case, need=need, actor=request.user, client_ip=client_ip(request)
        )
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


class MandatoryReportPages(Controller):
    path = "/hotline/cases/{number:str}/mandatory-report"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @post("", name="hotline:record_report")
    async def record(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: URLEncodedBody[ReportRecord],
    ) -> Template | Redirect:
        case = await find_case(db, number, request.user)
        case_id, case_number = case.id or 0, case.number  # a rollback expires the row
        try:
            await record_report(
                db,
                cipher,
                case=case,
                form=data,
                actor=request.user,
                timezone=settings.site_timezone,
                client_ip=client_ip(request),
            )
        except FormInvalid as exc:
            existing = await report_for_case(db, case_id)
            recorded = existing is not None and existing.status == MandatoryReportStatus.RECORDED
            kind = "response" if recorded else "record"
            return _form_page(settings, case_number, kind, asdict(data), exc.errors)
        return _back_to_case(request, case_number)

    @post("/open", name="hotline:open_report")
    async def open(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
    ) -> Template | Redirect:
        case = await find_case(db, number, request.user)
        case_number = case.number  # a rollback expires the row
        # A group of check boxes: read as a multi-dict (one ticked box would come as a plain string).
        situations = [str(value) for value in (await request.form()).getall("situations")]
        try:
            await _open_by_hand(db, cipher, settings, request, case, situations)
        except FormInvalid as exc:
            return _form_page(settings, case_number, "open", {"situations": situations}, exc.errors)
        return _back_to_case(request, case_number)


def _back_to_case(request: StaffRequest, number: str) -> Redirect:
    target = request.app.route_reverse("hotline:case", number=number)
    return Redirect(f"{target}#mandatory-report", status_code=303)


def _form_page(
    settings: Settings, number: str, kind: str, values: dict[str, Any], errors: dict[str, str]
) -> Template:
    return Template(
        template_name="hotline/mandatory_report_form.html",
        context={
            "number": number,
            "form_kind": kind,
            "mr": report_form_choices(settings, utcnow()),
            "values": {key: value for key, value in values.items() if value is not None},
            "errors": {field: gettext(message) for field, message in errors.items()},
        },
        status_code=400,
    )


async def _audited_view(
    db: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    request: StaffRequest,
    case: ReferralCase,
) -> MandatoryReportView:
    """The report as the API returns it, after a committed `case.read` row (it may hold the police
    response)."""
    now = utcnow()
    view = await report_view(
        db,
        cipher,
        await report_for_case(db, case.id or 0),
        now=now,
        amber_window=timedelta(hours=settings.light_amber_hours),
    )
    record_audit(
        db,
        actor_id=request.user.id,
        actor_label=request.user.username,
        action="case.read",
        object_type="referral_case",
        object_id=case.number,
        detail={"via": "api", "part": "mandatory_report"},
        client_ip=client_ip(request),
    )
    await db.commit()
    return view


class MandatoryReportApi(Controller):
    path = "/api/cases/{number:str}/mandatory-report"
    guards = (hotline_staff_only,)
    tags = ("hotline",)

    @get(
        "",
        name="api:mandatory_report",
        operation_id="ReadMandatoryReport",
        responses=error_responses(400, 401, 403, 404),
    )
    async def read(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
    ) -> MandatoryReportView:
        """The case's mandatory report: `state` none, pending, overdue or recorded, with its deadline's
        light while pending. Every read is audited."""
        case = await find_case(db, number, request.user)
        return await _audited_view(db, cipher, settings, request, case)

    # Its own path, not a POST beside the GET: Litestar 2.25 registers a controller's handlers one by one
    # and the OPTIONS answer of a path keeps the methods of its first handler, so `Allow` would leave
    # out POST (schemathesis checks `Allow` against the OpenAPI document).
    @post(
        "/record",
        name="api:record_mandatory_report",
        operation_id="RecordMandatoryReport",
        status_code=200,
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def record(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[ReportRecord],
    ) -> MandatoryReportView:
        """Record the report made to the police (pending → recorded; the logged-in user is the reporter),
        or, on a report already recorded, send only `police_response` to add it."""
        case = await find_case(db, number, request.user)
        await record_report(
            db,
            cipher,
            case=case,
            form=data,
            actor=request.user,
            timezone=settings.site_timezone,
            client_ip=client_ip(request),
        )
        return await _audited_view(db, cipher, settings, request, case)

    @post(
        "/open",
        name="api:open_mandatory_report",
        operation_id="OpenMandatoryReport",
        status_code=200,
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def open(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[OpenReport],
    ) -> MandatoryReportView:
        """Open the case's mandatory report by hand, as the "suspected infringement" tick does at intake
        (pending, supervisors alerted); a case that has one keeps it and gains the new situations."""
        case = await find_case(db, number, request.user)
        await _open_by_hand(db, cipher, settings, request, case, data.situations)
        return await _audited_view(db, cipher, settings, request, case)
