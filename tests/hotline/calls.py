"""What the hotline tests share: a valid call as an operator would type it, and raw row counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Case numbers carry the year in the site's zone; tests that go through HTTP cannot fix the clock.
THIS_YEAR = datetime.now(ZoneInfo("Asia/Shanghai")).year
PHONE = "13812345678"
PHONE_MASKED = "138****5678"
SUMMARY = "初二学生在校被同学多次殴打，母亲来电求助，孩子不愿上学。"


def a_call(**overrides: Any) -> dict[str, Any]:
    """The fields of the call form, filled in; override or blank any of them."""
    fields: dict[str, Any] = {
        "line": "12355",
        "caller_type": "parent",
        "category": "bullying",
        "urgency": "priority",
        "child_age_band": "12-14",
        "summary": SUMMARY,
        "caller_phone": PHONE,
        "case_number": "",
    }
    fields.update(overrides)
    return fields


async def count_rows(engine: AsyncEngine, table: str, where: str = "1=1") -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {where}"))).scalar_one())  # noqa: S608 - fixed test tables


async def hotline_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows a call could have left behind: cases, calls, their audit rows and numbering counters."""
    return {
        "cases": await count_rows(engine, "referral_case"),
        "calls": await count_rows(engine, "hotline_call"),
        "counters": await count_rows(engine, "case_number_counter"),
        "audit": await count_rows(engine, "audit_event", "action LIKE 'case.%' OR action LIKE 'call.%'"),
    }


NOTHING_SAVED = {"cases": 0, "calls": 0, "counters": 0, "audit": 0}
