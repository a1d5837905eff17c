"""Hotline pages and JSON API: log a call, list and read cases.
Operators and supervisors only.

Handlers parse the request, pass the logged-in staff user to one service function and shape the
answer; the rules live in hotline.intake and hotline.case_views. Booking an expert for a caller has
its own pages in hotline.case_booking_routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Router, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template

from core.db import DbSession
from core.errors import FormInvalid, error_responses
from core.http import client_ip
from core.i18n import N_, gettext
from core.privacy import CipherDep
from core.settings import SettingsDep
from hotline.agency_link_routes import AgencyLinkPages
from hotline.agency_pages import AgencyPages
from hotline.alert_routes import AlertPages
from hotline.case_booking_routes import CaseBookingPages
from hotline.case_owner import assignable_staff
from hotline.case_page import render_case_page
from hotline.case_reschedule_routes import CaseReschedulePages
from hotline.case_search import CASE_FILTERS, CaseQuery, listing_query
from hotline.case_terms import MANDATORY_REPORT_SITUATIONS
from hotline.case_views import OWNER_ME, OWNER_NONE, CaseDetail, CaseFilters, CasePage, list_cases, read_case
from hotline.case_work_routes import CaseWorkApi, CaseWorkPages
from hotline.intake import CallIntake, call_intake_from_form, log_call
from hotline.mandatory_report_routes import MandatoryReportApi, MandatoryReportPages
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.referral_routes import ReferralApi, ReferralPages
from hotline.repeat_callers import RelatedCase

__all__ = ["HotlineApi", "HotlinePages", "LoggedCallResponse", "call_form_context", "router"]

PageNumber = Annotated[int, QueryParameter(ge=1, le=100_000)]


def call_form_context(intake: CallIntake, errors: dict[str, str], *, voice: Any = None) -> dict[str, Any]:
    """The call form's context; `voice` (hotline.voice_logging.VoiceFacts): a voice call being logged, whose
    line is pre-chosen and whose number and times come from the call record."""
    return {
        **page_helpers(),
        "form": intake,
        "errors": {field: gettext(message) for field, message in errors.items()},
        "situation_choices": [(code, gettext(text)) for code, text in MANDATORY_REPORT_SITUATIONS.items()],
        "voice": voice,
    }


def _call_form(intake: CallIntake, errors: dict[str, str], status_code: int = 200) -> Template:
    return Template(
        template_name="hotline/call_form.html",
        context=call_form_context(intake, errors),
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

    @get("/cases", name="hotline:cases", dependencies=CASE_FILTERS)
    async def cases(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: CaseQuery,
        page: PageNumber = 1,
    ) -> Template:
        listing = await list_cases(
            db, cipher, viewer=request.user, filters=filters, timezone=settings.site_timezone, page=page
        )
        return Template(
            template_name="hotline/cases.html",
            context={
                **page_helpers(),
                "listing": listing,
                "page_query": lambda number: listing_query(listing.filters, number),
                "staff": await assignable_staff(db, request.user),
                "owner_me": OWNER_ME,
                "owner_none": OWNER_NONE,
            },
        )

    @post("/cases/by-phone", name="hotline:cases_by_phone")
    async def cases_by_phone(
        self, request: StaffRequest, cipher: CipherDep, data: URLEncodedBody[PhoneSearch]
    ) -> Redirect:
        """A caller's number is searched by POST and the list shown under its blind index: the number
        itself never lands in a link, the browser's history or a server log."""
        filters = CaseFilters.checked(phone=data.phone or "", cipher=cipher)
        if filters.caller is None:
            raise FormInvalid({"phone": N_("Enter a mobile phone number.")})
        target = request.app.route_reverse("hotline:cases")
        return Redirect(f"{target}?{listing_query(filters, 1)}", status_code=303)

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
        done: FromQuery[str | None] = None,
    ) -> Template:
        return await render_case_page(
            request, db, settings, cipher, number=number, just_logged=logged, just_booked=booked, done=done
        )

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
        return await render_case_page(
            request, db, settings, cipher, number=number, reveal_phone_of_call=data.call_id
        )


@dataclass(frozen=True)
class RevealPhone:
    call_id: int


@dataclass(frozen=True)
class PhoneSearch:
    phone: str | None = None


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

    @get(
        "/cases",
        name="api:cases",
        operation_id="ListCases",
        responses=error_responses(400, 401, 403),
        dependencies=CASE_FILTERS,
    )
    async def cases(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        filters: CaseQuery,
        page: PageNumber = 1,
    ) -> CasePage:
        """Newest cases first, caller phones and child names masked, no summaries. Filters: `number`,
        `phone` (matched by its blind index; `caller` is that index), `status` (a status, or `open`),
        `line`, `category`, `urgency`, `risk`, `owner` (`me`, `none` or a staff id; `owner=me` without
        `status` lists the reader's open cases), `flag` (a child flag), `opened_from`/`opened_to`
        (YYYY-MM-DD in the site's calendar)."""
        return await list_cases(
            db, cipher, viewer=request.user, filters=filters, timezone=settings.site_timezone, page=page
        )

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
        CaseWorkPages,
        MandatoryReportPages,
        AlertPages,
        AgencyPages,
        ReferralPages,
        AgencyLinkPages,
        HotlineApi,
        CaseWorkApi,
        MandatoryReportApi,
        ReferralApi,
        CaseReschedulePages,  # issue 9: move a consultation booked from the case
    ],
)
