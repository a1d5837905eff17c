"""The tasks section of a case page (hotline.case_sections): the case's tasks with their lights, and
what the viewer may do with them."""

from __future__ import annotations

from typing import Any

from core.accounts import Role
from core.i18n import gettext
from hotline.case_lights import case_lights
from hotline.case_terms import SATISFACTION, TASK_KINDS, TASK_STATUSES, TaskKind
from hotline.section_context import SectionContext
from hotline.task_work import amber_window, assignable_owners, case_tasks
from hotline.taxonomy import CaseStatus

__all__ = ["task_section"]


async def task_section(context: SectionContext) -> dict[str, Any]:
    case = context.case
    closed = case.status == CaseStatus.CLOSED
    amber = amber_window(context.settings)
    lights = await case_lights(context.session, [case.id or 0], now=context.now, amber=amber)
    return {
        "task_section": {
            "case_number": case.number,
            # The case's own light: the worst of its open tasks, referrals and pending report.
            "case_light": None if closed else lights.get(case.id or 0),
            "tasks": await case_tasks(context.session, case, now=context.now, amber=amber),
            "closed": closed,
            "owners": [] if closed else await assignable_owners(context.session, case, context.viewer),
            "can_cancel": context.viewer.role == Role.SUPERVISOR,
            "satisfaction_kind": TaskKind.SATISFACTION.value,
            "task_kinds": {code: gettext(text) for code, text in TASK_KINDS.items()},
            "statuses": {code: gettext(text) for code, text in TASK_STATUSES.items()},
            "satisfaction": {code: gettext(text) for code, text in SATISFACTION.items()},
        }
    }
