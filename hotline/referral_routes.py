"""Staff pages and JSON API for referrals: refer a case to an agency, accept or return the agency's
feedback, and (supervisors) revoke. The rules are hotline.referrals'; the case is always found within
the viewer's scope first (hotline.case_views.find_case), so another unit's case answers 404."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from core.accounts import Role
from core.db import DbSession
from core.errors import FormInvalid, error_responses
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep
from hotline.agencies import AgencyRow, list_agencies
from hotline.case_views import find_case
from hotline.models import ReferralCase
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.referral_section import referral_vocabularies
from hotline.referrals import (
    ReferralForm,
    ReferralView,
    SentReferral,
    StepForm,
    accept_feedback,
    read_case_referrals,
    return_for_more,
    revoke_referral,
    send_referral,
)

__all__ = ["Done", "NewReferral", "ReferralApi", "ReferralPages"]

supervisors_only = requires_roles(Role.SUPERVISOR)


def _back_to_case(request: StaffRequest, number: str) -> Redirect:
    target = request.app.route_reverse("hotline:case", number=number)
    return Redirect(f"{target}#referrals", status_code=303)


class ReferralPages(Controller):
    path = "/hotline/cases/{number:str}/referrals"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/new", name="hotline:referral_form")
    async def form(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, number: FromPath[str]
    ) -> Template:
        case = await find_case(db, number, request.user)
        return await _form_page(request, db, cipher, case, {}, {}, 200)

    @post("/", name="hotline:refer")
    async def refer(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: URLEncodedBody[ReferralForm],
    ) -> Template:
        case = await find_case(db, number, request.user)
        try:
            sent = await send_referral(
                db, cipher, settings, case=case, form=data, actor=request.user, client_ip=client_ip(request)
            )
        except FormInvalid as exc:
            return await _form_page(request, db, cipher, case, asdict(data), exc.errors, 400)
        return Template(
            template_name="hotline/referral_sent.html",
            context={**page_helpers(), "number": case.number, "sent": sent},
            headers={"Cache-Control": "no-store"},  # the page shows the link's secret once
        )

    @post("/{referral_id:int}/accept", name="hotline:referral_accept")
    async def accept(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
    ) -> Redirect:
        case = await find_case(db, number, request.user)
        await accept_feedback(
            db, cipher, case=case, referral_id=referral_id, actor=request.user, client_ip=client_ip(request)
        )
        return _back_to_case(request, case.number)

    @post("/{referral_id:int}/return", name="hotline:referral_return")
    async def give_back(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
        data: URLEncodedBody[StepForm],
    ) -> Redirect:
        case = await find_case(db, number, request.user)
        await return_for_more(
            db,
            cipher,
            case=case,
            referral_id=referral_id,
            note=data.text,
            actor=request.user,
            client_ip=client_ip(request),
        )
        return _back_to_case(request, case.number)

    @post("/{referral_id:int}/revoke", name="hotline:referral_revoke", guards=[supervisors_only])
    async def revoke(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
        data: URLEncodedBody[StepForm],
    ) -> Redirect:
        case = await find_case(db, number, request.user)
        await revoke_referral(
            db,
            cipher,
            case=case,
            referral_id=referral_id,
            reason=data.text,
            actor=request.user,
            client_ip=client_ip(request),
        )
        return _back_to_case(request, case.number)


async def _form_page(
    request: StaffRequest,
    db: DbSession,
    cipher: CipherDep,
    case: ReferralCase,
    values: dict[str, object],
    errors: dict[str, str],
    status_code: int,
) -> Template:
    agencies = await list_agencies(db, cipher, request.user, for_unit_id=case.unit_id)
    return Template(
        template_name="hotline/referral_form.html",
        context={
            **page_helpers(),
            **referral_vocabularies(),
            "number": case.number,
            "referral_agencies": agencies,
            "values": values,
            "errors": {field: gettext(message) for field, message in errors.items()},
        },
        status_code=status_code,
    )


@dataclass(frozen=True)
class NewReferral:
    """A referral through the JSON API names its case in the body: `POST /api/referrals`. (Not on the
    case's `/referrals` path: Litestar's automatic OPTIONS answer on a path with GET and POST handlers
    registered apart lists only the first one's methods.)"""

    case_number: str
    agency_id: int
    reason: str = ""
    request: str = ""
    urgency: str = "priority"
    share_caller_phone: bool = False

    def form(self) -> ReferralForm:
        return ReferralForm(
            agency_id=self.agency_id,
            reason=self.reason,
            request=self.request,
            urgency=self.urgency,
            share_caller_phone=self.share_caller_phone,
        )


@dataclass(frozen=True)
class Done:
    ok: bool = True


class ReferralApi(Controller):
    path = "/api"
    guards = (hotline_staff_only,)
    tags = ("hotline",)  # the staff API: the login cookie opens it (tests/test_api_fuzz.py STAFF_TAGS)

    @get("/agencies", name="api:agencies", operation_id="ListAgencies", responses=error_responses(401, 403))
    async def agencies(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> list[AgencyRow]:
        """Active agencies the viewer's unit can refer to (its own and its parents'), phones masked."""
        return await list_agencies(db, cipher, request.user)

    @get(
        "/cases/{number:str}/referrals",
        name="api:case_referrals",
        operation_id="ListCaseReferrals",
        responses=error_responses(400, 401, 403, 404),
    )
    async def case_referrals(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
    ) -> list[ReferralView]:
        """The case's referrals, newest first (an audited read)."""
        case = await find_case(db, number, request.user)
        return await read_case_referrals(
            db, cipher, settings, case=case, viewer=request.user, client_ip=client_ip(request)
        )

    @post(
        "/referrals",
        name="api:refer",
        operation_id="CreateReferral",
        status_code=201,
        responses=error_responses(400, 401, 403, 404),
    )
    async def refer(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: JSONBody[NewReferral],
    ) -> SentReferral:
        """Refer a case to an agency; the agency contact gets the link by SMS when it has a mobile."""
        case = await find_case(db, data.case_number, request.user)
        return await send_referral(
            db,
            cipher,
            settings,
            case=case,
            form=data.form(),
            actor=request.user,
            client_ip=client_ip(request),
        )

    @post(
        "/cases/{number:str}/referrals/{referral_id:int}/accept",
        name="api:referral_accept",
        operation_id="AcceptReferralFeedback",
        status_code=200,
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def accept(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
    ) -> Done:
        """Accept the agency's feedback: the referral closes and its check task is done."""
        case = await find_case(db, number, request.user)
        await accept_feedback(
            db, cipher, case=case, referral_id=referral_id, actor=request.user, client_ip=client_ip(request)
        )
        return Done()

    @post(
        "/cases/{number:str}/referrals/{referral_id:int}/return",
        name="api:referral_return",
        operation_id="ReturnReferralFeedback",
        status_code=200,
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def give_back(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
        data: JSONBody[StepForm],
    ) -> Done:
        """Return the feedback to the agency for more, with a note."""
        case = await find_case(db, number, request.user)
        await return_for_more(
            db,
            cipher,
            case=case,
            referral_id=referral_id,
            note=data.text,
            actor=request.user,
            client_ip=client_ip(request),
        )
        return Done()

    @post(
        "/cases/{number:str}/referrals/{referral_id:int}/revoke",
        name="api:referral_revoke",
        operation_id="RevokeReferral",
        status_code=200,
        guards=[supervisors_only],
        responses=error_responses(400, 401, 403, 404, 409),
    )
    async def revoke(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        referral_id: FromPath[int],
        data: JSONBody[StepForm],
    ) -> Done:
        """Revoke an open referral (supervisors), with a reason; its link stops working."""
        case = await find_case(db, number, request.user)
        await revoke_referral(
            db,
            cipher,
            case=case,
            referral_id=referral_id,
            reason=data.text,
            actor=request.user,
            client_ip=client_ip(request),
        )
        return Done()
