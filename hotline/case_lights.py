"""The light of an open case: the worst of its open items' (tasks, referrals, pending mandatory report),
which is the light of the earliest `due_at` among them. None for a case with nothing open or due."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, union_all
from sqlalchemy import select as sql_select
from sqlmodel import col

from core.db import AsyncSession
from hotline.case_terms import Light
from hotline.lights import light_of
from hotline.open_items import OPEN_ITEMS

__all__ = ["case_lights"]


async def case_lights(
    session: AsyncSession, case_ids: Iterable[int], *, now: datetime, amber: timedelta
) -> dict[int, Light]:
    """For a page of cases (a list, one case page): each case's light, by its earliest open due time.
    Each kind is read through its `case_id` index for these cases only."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return {}
    items = union_all(
        *(
            sql_select(item.column("case_id").label("case_id"), item.column("due_at").label("due_at")).where(
                col(item.column("case_id")).in_(wanted), item.still_open()
            )
            for item in OPEN_ITEMS
        )
    ).subquery("open_item")
    rows = await session.exec(  # type: ignore[call-overload]
        sql_select(items.c.case_id, func.min(items.c.due_at)).group_by(items.c.case_id)
    )
    return {case_id: light_of(due_at, now, amber) for case_id, due_at in rows.all()}
