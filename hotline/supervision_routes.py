"""Pages and JSON API for follow-ups and supervision: "my tasks" (an operator's home), the acts on a
task, and the supervision board (a supervisor's home). Rules live in hotline.task_work and
hotline.supervision; handlers parse, call one service function and shape the answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any

from litestar import Controller, Router, get, post
from litestar.params import FromPath, FromQuery, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import col, select

from core.accounts import Role, StaffUser
from core.db import AsyncSession, DbSession, utcnow
from core.errors import FormInvalid, error_responses
from core.i18n import gettext
from core.privacy import CipherDep
from core.security import requires_roles
from core.settings import SettingsDep
from core.units import visible_to
from hotline.alert_views import unread_alerts
from hotline.case_terms import LIGHTS, SATISFACTION, TASK_KINDS, TaskKind
from hotline.case_views import find_case
from hotline.casework_models import Agency
from hotline.models import ReferralCase
from hotline.open_items import ITEM_KINDS
from hotline.page_helpers import StaffRequest, hotline_staff_only, label_of, page_helpers
from hotline.supervision import Board, BoardFilters, CountRow, supervision_board
from hotline.task_work import (
    MY_TASKS_LIMIT,
    TaskRow,
    add_task,
    amber_window,
    assignable_owners,
    cancel_task,
    complete_task,
    count_my_open_tasks,
    my_open_tasks,
    parse_local_due,
)
from hotline.voice_board import voice_panel

__all__ = ["SupervisionApi", "SupervisionPages", "TaskPages", "router"]

supervisors_only = requires_roles(Role.SUPERVISOR)
RowId = Annotated[int, QueryParameter(ge=1, le=2**31 - 1)]

# Where a task form goes back to after it succeeded: the page it was on.
BACK_TO_CASE = "case"


def late_by(minutes: int) -> str:
    """How long something has been overdue, in the reader's language."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return gettext("{days} d {hours} h overdue").format(days=days, hours=hours)
    if hours:
        return gettext("{hours} h {minutes} min overdue").format(hours=hours, minutes=mins)
    return gettext("{minutes} min overdue").format(minutes=mins)


def _count_label(row: CountRow) -> str:
    return row.label or gettext("Nobody")


def _line_label(row: CountRow) -> str:
    return label_of("line", row.key)


def task_helpers() -> dict[str, Any]:
    """Labels the task and board templates use beside the hotline's own."""
    return {
        **page_helpers(),
        "task_kinds": {code: gettext(text) for code, text in TASK_KINDS.items()},
        "item_kinds": {code: gettext(text) for code, text in ITEM_KINDS.items()},
        "light_labels": {code: gettext(text) for code, text in LIGHTS.items()},
        "satisfaction": {code: gettext(text) for code, text in SATISFACTION.items()},
        "SATISFACTION_KIND": TaskKind.SATISFACTION.value,
        "late_by": late_by,
        "operator_label": _count_label,
        "line_label": _line_label,
    }


@dataclass(frozen=True)
class CompleteTaskForm:
    note: str = ""
    result: str = ""
    back: str = ""  # "case": back to the case page; otherwise "my tasks"


@dataclass(frozen=True)
class CancelTaskForm:
    reason: str = ""
    back: str = ""


@dataclass(frozen=True)
class AddTaskForm:
    title: str = ""
    due: str = ""  # a datetime-local value, in the site's zone
    owner_id: str = ""  # "" for the one adding it


def _errors(exc: FormInvalid) -> dict[str, str]:
    return {field: gettext(message) for field, message in exc.errors.items()}


async def _tasks_page(
    request: StaffRequest, db: AsyncSession, settings: SettingsDep, **extra: Any
) -> Template:
    tasks = await my_open_tasks(db, viewer=request.user, now=utcnow(), amber=amber_window(settings))
    return Template(
        template_name="hotline/tasks.html",
        context={
            **task_helpers(),
            "tasks": tasks,
            "open_count": await count_my_open_tasks(db, request.user)
            if len(tasks) >= MY_TASKS_LIMIT
            else len(tasks),
            "staff_alerts": await unread_alerts(db, request.user),
            "failed_task": None,
            "errors": {},
            **extra,
        },
        status_code=400 if extra.get("errors") else 200,
    )


async def _after_task_act(
    request: StaffRequest, db: AsyncSession, task_case_number: str, back: str
) -> Redirect:
    if back == BACK_TO_CASE:
        target = request.app.route_reverse("hotline:case", number=task_case_number)
        return Redirect(f"{target}#tasks", status_code=303)
    return Redirect(request.app.route_reverse("hotline:tasks"), status_code=303)


async def _case_number_of(db: AsyncSession, case_id: int) -> str:
    case = await db.get(ReferralCase, case_id)
    return case.number if case is not None else ""


async def _add_form(
    request: StaffRequest,
    db: AsyncSession,
    number: str,
    form: AddTaskForm,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    case = await find_case(db, number, request.user)
    owners = await assignable_owners(db, case, request.user)
    return Template(
        template_name="hotline/task_add.html",
        context={
            **task_helpers(),
            "case_number": case.number,
            "form": form,
            "owners": owners,
            "errors": errors,
        },
        status_code=status_code,
    )


class TaskPages(Controller):
    path = "/hotline"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/tasks", name="hotline:tasks")
    async def my_tasks(self, request: StaffRequest, db: DbSession, settings: SettingsDep) -> Template:
        return await _tasks_page(request, db, settings)

    @post("/tasks/{task_id:int}/complete", name="hotline:complete_task")
    async def complete(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        task_id: FromPath[int],
        data: URLEncodedBody[CompleteTaskForm],
    ) -> Template | Redirect:
        try:
            task = await complete_task(
                db,
                cipher,
                task_id=task_id,
                actor=request.user,
                note=data.note,
                result=data.result or None,
                now=utcnow(),
            )
        except FormInvalid as exc:
            await db.rollback()
            return await _tasks_page(request, db, settings, failed_task=task_id, errors=_errors(exc))
        return await _after_task_act(request, db, await _case_number_of(db, task.case_id), data.back)

    @post("/tasks/{task_id:int}/cancel", name="hotline:cancel_task", guards=[supervisors_only])
    async def cancel(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        task_id: FromPath[int],
        data: URLEncodedBody[CancelTaskForm],
    ) -> Template | Redirect:
        try:
            task = await cancel_task(
                db, cipher, task_id=task_id, actor=request.user, reason=data.reason, now=utcnow()
            )
        except FormInvalid as exc:
            await db.rollback()
            return await _tasks_page(request, db, settings, failed_task=task_id, errors=_errors(exc))
        return await _after_task_act(request, db, await _case_number_of(db, task.case_id), data.back)

    @get("/cases/{number:str}/tasks/new", name="hotline:task_form")
    async def add_form(self, request: StaffRequest, db: DbSession, number: FromPath[str]) -> Template:
        return await _add_form(request, db, number, AddTaskForm(), {})

    @post("/cases/{number:str}/tasks", name="hotline:add_task")
    async def add(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        number: FromPath[str],
        data: URLEncodedBody[AddTaskForm],
    ) -> Template | Redirect:
        case = await find_case(db, number, request.user)
        try:
            owner_id = int(data.owner_id) if data.owner_id.strip() else None
        except ValueError:
            owner_id = -1  # no such colleague: refused below with the other fields
        try:
            await add_task(
                db,
                cipher,
                case=case,
                actor=request.user,
                title=data.title,
                due_at=parse_local_due(data.due, settings.site_timezone),
                owner_id=owner_id,
                now=utcnow(),
            )
        except FormInvalid as exc:
            await db.rollback()
            return await _add_form(request, db, number, data, _errors(exc), status_code=400)
        return await _after_task_act(request, db, case.number, BACK_TO_CASE)


async def _filter_choices(db: AsyncSession, viewer: StaffUser) -> dict[str, Any]:
    people = await db.exec(
        select(StaffUser.id, StaffUser.display_name)
        .where(
            visible_to(StaffUser.unit_id, viewer.unit_id),
            col(StaffUser.role).in_([Role.OPERATOR, Role.SUPERVISOR]),
        )
        .order_by(col(StaffUser.display_name), col(StaffUser.id))
    )
    agencies = await db.exec(
        select(Agency.id, Agency.name)
        .where(visible_to(Agency.unit_id, viewer.unit_id))
        .order_by(col(Agency.name), col(Agency.id))
    )
    return {"operator_choices": list(people.all()), "agency_choices": list(agencies.all())}


async def _board(
    request: StaffRequest,
    db: AsyncSession,
    settings: SettingsDep,
    line: str | None,
    operator: int | None,
    agency: int | None,
    kind: str | None,
) -> Board:
    filters = BoardFilters.checked(line=line, operator=operator, agency=agency, kind=kind)
    now = utcnow()
    board = await supervision_board(
        db, viewer=request.user, filters=filters, now=now, amber=amber_window(settings)
    )
    voice = await voice_panel(db, request.user, now=now, timezone=settings.site_timezone)
    return replace(board, voice=voice)


class SupervisionPages(Controller):
    path = "/hotline"
    guards = (supervisors_only,)
    include_in_schema = False

    @get("/supervision", name="hotline:supervision")
    async def board(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        line: FromQuery[str | None] = None,
        operator: FromQuery[RowId | None] = None,
        agency: FromQuery[RowId | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Template:
        board = await _board(request, db, settings, line, operator, agency, kind)
        return Template(
            template_name="hotline/supervision.html",
            context={
                **task_helpers(),
                **await _filter_choices(db, request.user),
                "board": board,
                "staff_alerts": await unread_alerts(db, request.user),
            },
        )


class SupervisionApi(Controller):
    path = "/api"
    tags = ("hotline",)

    @get(
        "/supervision",
        name="api:supervision",
        operation_id="SupervisionBoard",
        guards=[supervisors_only],
        responses=error_responses(400, 401, 403),
    )
    async def board(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        line: FromQuery[str | None] = None,
        operator: FromQuery[RowId | None] = None,
        agency: FromQuery[RowId | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Board:
        """Within the supervisor's units: open items counted by light (red, amber, green) per operator,
        line (open cases by their worst light) and agency; the red and amber items, earliest due first;
        the mandatory reports still pending, whatever the filters; `voice`: per line, phone calls waiting
        now and the longest wait, operators on duty (available, busy, paused), and today's answered,
        abandoned and voicemail calls with the service level (answered within 20 s of queueing)."""
        return await _board(request, db, settings, line, operator, agency, kind)

    @get(
        "/tasks",
        name="api:tasks",
        operation_id="MyTasks",
        guards=[hotline_staff_only],
        responses=error_responses(401, 403),
    )
    async def tasks(self, request: StaffRequest, db: DbSession, settings: SettingsDep) -> list[TaskRow]:
        """The caller's open tasks, earliest due first, each with its light."""
        return await my_open_tasks(db, viewer=request.user, now=utcnow(), amber=amber_window(settings))


router = Router(path="/", route_handlers=[TaskPages, SupervisionPages, SupervisionApi])
