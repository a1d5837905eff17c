"""The work on a case, as forms on the case page and as the JSON API: status changes, closing and
reopening, triage, the child's details, owner, notes, the help plan and the timeline.

Handlers parse the request and call one service (hotline.case_lifecycle, triage, case_owner, case_notes,
help_plans); the rules live there. A refused form shows the case page again with its errors (400,
nothing changed); an accepted one redirects to the case page (303) with what was done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from core.accounts import Role
from core.db import DbSession
from core.errors import FormInvalid, NotFound, error_responses
from core.http import client_ip
from core.i18n import N_, gettext
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep
from hotline.case_facts import HelpPlanView
from hotline.case_lifecycle import Closure, Reopening, StatusChange, change_status, close_case, reopen_case
from hotline.case_notes import NewNote, add_note
from hotline.case_owner import Reassignment, reassign_case, take_case
from hotline.case_page import render_case_page
from hotline.case_views import find_case, read_case
from hotline.help_plans import HelpPlanForm, save_help_plan
from hotline.models import ReferralCase
from hotline.page_helpers import StaffRequest, hotline_staff_only
from hotline.timeline import EVENT_LABELS, TimelineEntry, case_timeline
from hotline.triage import ChildDetails, RiskAssessment, assess_risk, child_details_from_form, update_child

__all__ = ["CaseState", "CaseWorkApi", "CaseWorkPages"]

supervisors_only = requires_roles(Role.SUPERVISOR)
# Every case operation of the API answers these; `error_responses` describes them in the OpenAPI document.
_ERRORS = error_responses(400, 401, 403, 404)


@dataclass(frozen=True)
class CaseState:
    """A case's state after an act on it: no case content, just where it stands."""

    number: str
    status: str  # CaseStatus
    risk_level: str  # RiskLevel
    owner_id: int | None
    outcome: str | None
    closed_at: datetime | None
    updated_at: datetime


def _state(case: ReferralCase) -> CaseState:
    return CaseState(
        number=case.number,
        status=case.status,
        risk_level=case.risk_level,
        owner_id=case.owner_id,
        outcome=case.outcome,
        closed_at=case.closed_at,
        updated_at=case.updated_at,
    )


FormValues = dict[str, list[str]]
Form = TypeVar("Form")


def _reader(kind: type[Form]) -> Callable[[FormValues], Form]:
    """Reads a fixed form (one value per field) as its dataclass, as Litestar's URL-encoded body would."""

    def read(values: FormValues) -> Form:
        fields = {key: found[0] for key, found in values.items() if found}
        try:
            return msgspec.convert(fields, kind, strict=False)
        except msgspec.ValidationError as exc:
            raise FormInvalid({"form": N_("Some fields need correcting.")}) from exc

    return read


@dataclass(frozen=True)
class _FormAct:
    """A form of the case page: the service it calls (all take the session, the cipher, the case's
    number, the actor and the client's address) and, under `keyword`, what the form says."""

    service: Callable[..., Awaitable[object]]
    keyword: str | None = None
    read: Callable[[FormValues], object] | None = None
    supervisors_only: bool = False
    in_site_time: bool = False  # the service takes the site's time zone (dates a person typed)


# The forms of the case page, by the last part of their address.
_FORM_ACTS: dict[str, _FormAct] = {
    "status": _FormAct(change_status, "change", _reader(StatusChange)),
    "close": _FormAct(close_case, "closure", _reader(Closure)),
    "reopen": _FormAct(reopen_case, "reopening", _reader(Reopening), supervisors_only=True),
    "risk": _FormAct(assess_risk, "assessment", _reader(RiskAssessment)),
    # The child's flags are repeated check boxes, read as lists (see triage.child_details_from_form).
    "child": _FormAct(update_child, "details", child_details_from_form),
    "owner": _FormAct(reassign_case, "reassignment", _reader(Reassignment), supervisors_only=True),
    "take": _FormAct(take_case),
    "notes": _FormAct(add_note, "note", _reader(NewNote)),
    "help-plan": _FormAct(save_help_plan, "form", _reader(HelpPlanForm), in_site_time=True),
}


def _shown_again(values: FormValues) -> dict[str, Any]:
    """What the refused form is filled in with again: every field as typed, but never a child's name."""
    shown: dict[str, Any] = {key: found[0] for key, found in values.items() if found and key != "name"}
    shown["flags"] = values.get("flags", [])
    return shown


class CaseWorkPages(Controller):
    path = "/hotline/cases/{number:str}"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @post("/{act:str}", name="hotline:case_act")
    async def act(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        act: FromPath[str],
    ) -> Template | Redirect:
        """One form of the case page (`act` names it). Refused: the page again with the form's errors
        (400, nothing changed). Accepted: back to the case page (303), which says what was done."""
        chosen = _FORM_ACTS.get(act)
        if chosen is None:
            raise NotFound(N_("This page does not exist or is no longer available."))
        if chosen.supervisors_only:
            supervisors_only(request, request.route_handler)
        form = await request.form()
        values = {key: [str(value) for value in form.getall(key)] for key in form if key != "_csrf_token"}
        arguments: dict[str, Any] = {"number": number, "actor": request.user, "client_ip": client_ip(request)}
        if chosen.in_site_time:
            arguments["timezone"] = settings.site_timezone
        try:
            if chosen.keyword and chosen.read:
                arguments[chosen.keyword] = chosen.read(values)
            await chosen.service(db, cipher, **arguments)
        except FormInvalid as exc:
            return await render_case_page(
                request,
                db,
                settings,
                cipher,
                number=number,
                failed=act,
                errors=exc.errors,
                posted=_shown_again(values),
                status_code=400,
            )
        case = await find_case(db, number, request.user)
        target = request.app.route_reverse("hotline:case", number=case.number)
        return Redirect(f"{target}?done={act}#{act}", status_code=303)


class CaseWorkApi(Controller):
    path = "/api/cases/{number:str}"
    guards = (hotline_staff_only,)
    tags = ("hotline",)

    @post(
        "/status", name="api:case_status", operation_id="ChangeCaseStatus", status_code=200, responses=_ERRORS
    )
    async def status(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[StatusChange],
    ) -> CaseState:
        """Move an open case to `in_progress`, `referred` or `follow_up`, as the case's state allows
        (closing and reopening have their own operations), with an optional reason."""
        case = await change_status(
            db, cipher, number=number, change=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post("/close", name="api:case_close", operation_id="CloseCase", status_code=200, responses=_ERRORS)
    async def close(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[Closure],
    ) -> CaseState:
        """办结: close the case with an outcome and a closing summary. Refused (400) while its mandatory
        report is pending. Opens the satisfaction follow-up (due in 7 days) and cancels other open tasks."""
        case = await close_case(
            db, cipher, number=number, closure=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post(
        "/reopen",
        name="api:case_reopen",
        operation_id="ReopenCase",
        status_code=200,
        responses=_ERRORS,
        guards=[supervisors_only],
    )
    async def reopen(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[Reopening],
    ) -> CaseState:
        """Supervisors: take a closed case back to `in_progress`, with a reason."""
        case = await reopen_case(
            db, cipher, number=number, reopening=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post("/risk", name="api:case_risk", operation_id="AssessCaseRisk", status_code=200, responses=_ERRORS)
    async def risk(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[RiskAssessment],
    ) -> CaseState:
        """Set the child's risk level (`low`, `medium`, `high`, `critical`) with a reason. Raising it to
        high or critical opens a call-back task due within 24 hours, once per case."""
        case = await assess_risk(
            db, cipher, number=number, assessment=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post("/child", name="api:case_child", operation_id="UpdateCaseChild", status_code=200, responses=_ERRORS)
    async def child(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[ChildDetails],
    ) -> CaseState:
        """Replace the child's details and flags. An empty `name` keeps the name on file; `remove_name`
        removes it. The name is stored encrypted and only ever shown masked."""
        case = await update_child(
            db, cipher, number=number, details=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post(
        "/owner",
        name="api:case_owner",
        operation_id="ReassignCase",
        status_code=200,
        responses=_ERRORS,
        guards=[supervisors_only],
    )
    async def reassign(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[Reassignment],
    ) -> CaseState:
        """Supervisors: give the case to an active operator or supervisor of their units; the open tasks
        the previous owner held on it move too."""
        case = await reassign_case(
            db, cipher, number=number, reassignment=data, actor=request.user, client_ip=client_ip(request)
        )
        return _state(case)

    @post("/take", name="api:case_take", operation_id="TakeCase", status_code=200, responses=_ERRORS)
    async def take(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, number: FromPath[str]
    ) -> CaseState:
        """Become the owner of a case that has none."""
        case = await take_case(db, cipher, number=number, actor=request.user, client_ip=client_ip(request))
        return _state(case)

    @post("/notes", name="api:case_note", operation_id="AddCaseNote", status_code=201, responses=_ERRORS)
    async def note(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[NewNote],
    ) -> TimelineEntry:
        """Add a note to the case's timeline (stored encrypted)."""
        event = await add_note(
            db, cipher, number=number, note=data, actor=request.user, client_ip=client_ip(request)
        )
        return TimelineEntry(
            at=event.at,
            kind=event.kind,
            who=event.actor_label,
            what=gettext(EVENT_LABELS["note"]),
            text=(data.text or "").strip(),
        )

    @post("/help-plan", name="api:case_plan", operation_id="SaveHelpPlan", status_code=200, responses=_ERRORS)
    async def plan(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: JSONBody[HelpPlanForm],
    ) -> HelpPlanView:
        """一人一策: write or revise the help plan of a child at high or critical risk: measures, the lead
        helper or responsible unit, and the review date (YYYY-MM-DD, today to a year ahead), which
        becomes a review task for the case's owner."""
        plan = await save_help_plan(
            db,
            cipher,
            number=number,
            form=data,
            actor=request.user,
            timezone=settings.site_timezone,
            client_ip=client_ip(request),
        )
        return HelpPlanView(
            measures=(data.measures or "").strip(),
            responsible=plan.responsible,
            review_on=plan.review_on,
            updated_at=plan.updated_at,
        )

    @get("/timeline", name="api:case_timeline", operation_id="ReadCaseTimeline", responses=_ERRORS)
    async def timeline(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, number: FromPath[str]
    ) -> list[TimelineEntry]:
        """The case's calls, events and bookings in time order, each with who and what; phones masked.
        Every read is audited."""
        detail = await read_case(
            db, cipher, number=number, actor=request.user, client_ip=client_ip(request), via="api:timeline"
        )
        case = await find_case(db, detail.number, request.user)
        return await case_timeline(db, cipher, case, detail)
