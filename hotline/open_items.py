"""What carries a supervision light: open tasks, open referrals and pending mandatory reports, each with
a `due_at`. One statement of "still open" per kind, shared by the board and the red-alert job, so the
two can never disagree about what is late."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col

from core.i18n import N_
from hotline.case_terms import MandatoryReportStatus, TaskStatus
from hotline.casework_models import OPEN_REFERRAL_STATUSES, MandatoryReport, Referral, Task

__all__ = ["ITEM_KINDS", "OPEN_ITEMS", "OPEN_REFERRAL_STATUSES", "ItemKind", "OpenItemKind"]


class ItemKind(StrEnum):
    TASK = "task"
    REFERRAL = "referral"
    MANDATORY_REPORT = "mandatory_report"


ITEM_KINDS: dict[str, str] = {
    ItemKind.MANDATORY_REPORT: N_("Mandatory report"),
    ItemKind.REFERRAL: N_("Referral"),
    ItemKind.TASK: N_("Task"),
}


@dataclass(frozen=True)
class OpenItemKind:
    kind: ItemKind
    model: type[SQLModel]  # a table with id, case_id, unit_id, due_at, status and red_alerted_at
    open_statuses: tuple[str, ...]

    def column(self, name: str) -> Any:
        return col(getattr(self.model, name))

    def still_open(self) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = self.column("status").in_(self.open_statuses)
        return condition


OPEN_ITEMS: tuple[OpenItemKind, ...] = (
    OpenItemKind(ItemKind.MANDATORY_REPORT, MandatoryReport, (MandatoryReportStatus.PENDING,)),
    OpenItemKind(ItemKind.REFERRAL, Referral, OPEN_REFERRAL_STATUSES),
    OpenItemKind(ItemKind.TASK, Task, (TaskStatus.OPEN,)),
)
