"""The tasks section of a case page (hotline.case_sections): the case's tasks with their lights, and
what the viewer may do with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from core.accounts import Role, StaffUser
from core.db import AsyncSession
from core.i18n import gettext
from core.settings import Settings
from hotline.case_lights import case_lights
from hotline.case_terms import SATISFACTION, TASK_KINDS, TASK_STATUSES, TaskKind
from hotline.models import ReferralCase
from hotline.task_work import amber_window, assignable_owners, case_tasks
from hotline.taxonomy import CaseStatus

__all__ = ["task_section"]


class SectionReading(Protocol):
    """What this section reads of hotline.case_sections.SectionContext, named here rather than imported:
    case_sections imports this module, and the two must not import each other."""

    @property
    def session(self) -> AsyncSession: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def case(self) -> ReferralCase: ...
    @property
    def viewer(self) -> StaffUser: ...
    @property
    def now(self) -> datetime: ...


async def task_section(context: SectionReading) -> dict[str, Any]:
    case = context.case
    closed = case.status == CaseStatus.CLOSED
    amber = amber_window(context.settings)
    lights = await case_lights(context.session, [case.id or 0], now=context.now, amber=amber)
    return {
        "task_section": {
            "case_number": case.number,
            # The case's own light: the worst of its open tasks, referrals and pending report.
            "case_light": None if closed else lights.get(case.id or 0),
            "tasks": await case_tasks(
                context.session, case, now=context.now, amber=amber_window(context.settings)
            ),
            "closed": closed,
            "owners": [] if closed else await assignable_owners(context.session, case, context.viewer),
            "can_cancel": context.viewer.role == Role.SUPERVISOR,
            "satisfaction_kind": TaskKind.SATISFACTION.value,
            "task_kinds": {code: gettext(text) for code, text in TASK_KINDS.items()},
            "statuses": {code: gettext(text) for code, text in TASK_STATUSES.items()},
            "satisfaction": {code: gettext(text) for code, text in SATISFACTION.items()},
        }
    }
