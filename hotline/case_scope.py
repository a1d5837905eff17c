"""Which cases a staff member works: those of their unit and the units below it (core.units), and, for
someone limited to one hotline line (StaffUser.line), only that line's. Every query that finds or lists
cases, or items of cases, for a staff member goes through here."""

from __future__ import annotations

from sqlalchemy import and_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from core.accounts import StaffUser
from core.units import visible_to
from hotline.models import ReferralCase

__all__ = ["case_in_scope", "line_in_scope", "sees_line"]


def line_in_scope(viewer: StaffUser) -> ColumnElement[bool]:
    """The line half alone, for a query that already scopes by unit on another table's `unit_id`."""
    if viewer.line is None:
        return true()
    return col(ReferralCase.line) == viewer.line


def case_in_scope(viewer: StaffUser) -> ColumnElement[bool]:
    """A WHERE clause on ReferralCase: the cases `viewer` may see."""
    if viewer.line is None:
        return visible_to(ReferralCase.unit_id, viewer.unit_id)
    return and_(visible_to(ReferralCase.unit_id, viewer.unit_id), col(ReferralCase.line) == viewer.line)


def sees_line(viewer: StaffUser, line: str) -> bool:
    """Whether someone may work a case (or log a call) on `line`."""
    return viewer.line is None or viewer.line == line
