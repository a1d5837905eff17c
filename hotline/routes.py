"""Hotline pages and JSON API: log a call, list and read cases.
Operators and supervisors only.

Handlers parse the request, pass the logged-in staff user to one service function and shape the
answer; the rules live in hotline.intake and hotline.case_views. Booking an expert for a caller has
its own pages in hotline.case_booking_routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from core.accounts import Role
from core.db import AsyncSession, DbSession, utcnow
from core.errors import FormInvalid, error_responses
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep, FieldCipher
from core.settings import Settings, SettingsDep
from hotline.agency_link_routes import AgencyLinkPages
from hotline.agency_pages import AgencyPages
from hotline.alert_routes import AlertPages
from hotline.case_booking_routes import CaseBookingPages
from hotline.case_history import case_history
from hotline.case_sections import SectionContext, load_case_sections
from hotline.case_terms import MANDATORY_REPORT_SITUATIONS
from hotline.case_views import CaseDetail, CaseFilters, CasePage, find_case, list_cases, read_case
from hotline.intake import CallIntake, call_intake_from_form, log_call
from hotline.mandatory_report_routes import MandatoryReportApi, MandatoryReportPages
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.referral_routes import ReferralApi, ReferralPages
from hotline.repeat_callers import RelatedCase

__all__ = ["HotlineApi", "HotlinePages", "LoggedCallResponse", "router"]

PageNumber = Annotated[int, QueryParameter(ge=1, le=100_000)]


def _call_form(intake: CallIntake, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="hotline/call_form.html",
        context={
            **page_helpers(),
            "form": intake,
            "errors": {field: gettext(message) for field, message in errors.items()},
            "situation_choices": [
                (code, gettext(text)) for code, text in MANDATORY_REPORT_SITUATIONS.items()
            ],
        },
        status_code=status_code,
    )


class HotlinePages(Controller):
    path = "/hotline"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/calls/new", name="hotline:call_form")
    async def call_form(self, case: FromQuery[str | None] = None) -> Template:
        # `?case=` pre-fills the case number when an operator logs a follow-up call from a case page.
        return _call_form(CallIntake(case_number=case), {})

    @post("/calls/new", name="hotline:log_call")
    async def submit_call(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, cipher: CipherDep
    ) -> Template | Redirect:
        # Read as a multi-dict: the art. 4 situations are a group of check boxes (see
        # hotline.intake.call_intake_from_form).
        form = await request.form()
        data = call_intake_from_form({key: [str(value) for value in form.getall(key)] for key in form})
        try:
            logged = await log_call(
                db,
                cipher,
                intake=data,
                actor=request.user,
                timezone=settings.site_timezone,
                client_ip=client_ip(request),
                settings=settings,
            )
        except FormInvalid as exc:
            return _call_form(data, exc.errors, status_code=400)
        target = request.app.route_reverse("hotline:case", number=logged.case_number)
        return Redirect(f"{target}?logged={logged.call_id}", status_code=303)

    @get("/cases", name="hotline:cases")
    async def cases(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        line: FromQuery[str | None] = None,
        urgency: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        page: PageNumber = 1,
    ) -> Template:
        filters = CaseFilters.checked(line=line, urgency=urgency, status=status)
        listing = await list_cases(db, cipher, viewer=request.user, filters=filters, page=page)
        return Template(template_name="hotline/cases.html", context={**page_helpers(), "listing": listing})

    @get("/cases/{number:str}", name="hotline:case")
    async def case(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        logged: FromQuery[int | None] = None,
        booked: FromQuery[int | None] = None,
    ) -> Template:
        detail = await read_case(
            db, cipher, number=number, actor=request.user, client_ip=client_ip(request), via="page"
        )
        return await _case_page(request, db, settings, cipher, detail, just_logged=logged, just_booked=booked)

    @post("/cases/{number:str}/reveal-phone", name="hotline:reveal_phone", status_code=200)
    async def reveal_phone(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: URLEncodedBody[RevealPhone],
    ) -> Template:
        # A POST (with CSRF token), not a link: a full number must not sit in browser history or be
        # fetched by a link prefetcher, and each reveal is audited.
        detail = await read_case(
            db,
            cipher,
            number=number,
            actor=request.user,
            client_ip=client_ip(request),
            via="page",
            reveal_phone_of_call=data.call_id,
        )
        return await _case_page(request, db, settings, cipher, detail)


async def _case_page(
    request: StaffRequest,
    db: AsyncSession,
    settings: Settings,
    cipher: FieldCipher,
    detail: CaseDetail,
    *,
    just_logged: int | None = None,
    just_booked: int | None = None,
) -> Template:
    """The case page around a case already read (and audited): its sections, and for supervisors who
    read or changed the case (the reading just recorded included)."""
    history = await case_history(db, detail.number) if request.user.role == Role.SUPERVISOR else None
    context = SectionContext(
        session=db,
        cipher=cipher,
        settings=settings,
        case=await find_case(db, detail.number, request.user),
        viewer=request.user,
        now=utcnow(),
    )
    return Template(
        template_name="hotline/case.html",
        context={
            **page_helpers(),
            **await load_case_sections(context),
            "case": detail,
            "just_logged": just_logged,
            "just_booked": just_booked,
            "history": history,
        },
    )


@dataclass(frozen=True)
class RevealPhone:
    call_id: int


@dataclass(frozen=True)
class LoggedCallResponse:
    case_number: str
    call_id: int
    opened_new_case: bool
    # Other cases this caller's number called about: a repeat caller, shown without decrypting them.
    earlier_cases: list[RelatedCase]
    # The call indicated harm and opened the case's mandatory report (pending; supervisors alerted).
    mandatory_report_opened: bool


class HotlineApi(Controller):
    path = "/api"
    guards = (hotline_staff_only,)
    tags = ("hotline",)

    @post(
        "/calls",
        name="api:log_call",
        operation_id="LogCall",
        status_code=201,
        responses=error_responses(400, 401, 403),
    )
    async def create_call(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: JSONBody[CallIntake],
    ) -> LoggedCallResponse:
        """Log a call into a new case, or into the case named by `case_number`. A call in a harm category,
        or with `suspected_infringement` or any `situations` (art. 4 codes), opens the case's mandatory
        report in the same transaction."""
        logged = await log_call(
            db,
            cipher,
            intake=data,
            actor=request.user,
            timezone=settings.site_timezone,
            client_ip=client_ip(request),
            settings=settings,
        )
        return LoggedCallResponse(
            case_number=logged.case_number,
            call_id=logged.call_id,
            opened_new_case=logged.opened_new_case,
            earlier_cases=logged.earlier_cases,
            mandatory_report_opened=logged.mandatory_report_opened,
        )

    @get("/cases", name="api:cases", operation_id="ListCases", responses=error_responses(400, 401, 403))
    async def cases(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        line: FromQuery[str | None] = None,
        urgency: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        page: PageNumber = 1,
    ) -> CasePage:
        """Newest cases first, caller phones masked, no summaries."""
        filters = CaseFilters.checked(line=line, urgency=urgency, status=status)
        return await list_cases(db, cipher, viewer=request.user, filters=filters, page=page)

    @get(
        "/cases/{number:str}",
        name="api:case",
        operation_id="ReadCase",
        responses=error_responses(400, 401, 403, 404),
    )
    async def case(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, number: FromPath[str]
    ) -> CaseDetail:
        """One case with its calls' summaries; phones masked. Every read is audited."""
        return await read_case(
            db, cipher, number=number, actor=request.user, client_ip=client_ip(request), via="api"
        )


router = Router(
    path="/",
    route_handlers=[
        HotlinePages,
        CaseBookingPages,
        MandatoryReportPages,
        AlertPages,
        HotlineApi,
        MandatoryReportApi,
        AgencyPages,
        ReferralPages,
        ReferralApi,
        AgencyLinkPages,
    ],
)
