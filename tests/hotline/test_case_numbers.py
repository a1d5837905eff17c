"""Case numbers: per line and local year, distinct and gap-free when many operators save at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from core.accounts import Role, StaffUser
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from hotline.intake import CallIntake, log_call
from tests.conftest import make_user
from tests.hotline.calls import a_call, count_rows

TIMEZONE = "Asia/Shanghai"


@pytest.fixture
def cipher(settings):
    return FieldCipher(settings.data_key)


async def _log(engine, cipher, actor: StaffUser, *, now: datetime | None = None, **fields):
    async with create_sessionmaker(engine)() as session:
        return await log_call(
            session, cipher, intake=CallIntake(**a_call(**fields)), actor=actor, timezone=TIMEZONE, now=now
        )


async def test_many_concurrent_calls_get_distinct_gap_free_numbers(engine, cipher):
    operator = await make_user(engine, Role.OPERATOR)
    # The counter row does not exist yet: the racers also race to create it.
    now = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
    logged = await asyncio.gather(
        *(_log(engine, cipher, operator, now=now, caller_phone="") for _ in range(20))
    )

    numbers = sorted(call.case_number for call in logged)
    assert numbers == [f"12355-2026-{n:06d}" for n in range(1, 21)]
    assert await count_rows(engine, "referral_case") == 20


async def test_case_number_year_is_the_year_in_the_site_time_zone(engine, cipher):
    operator = await make_user(engine, Role.OPERATOR)
    before_midnight = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    after_midnight = datetime(2026, 12, 31, 16, 1, tzinfo=UTC)  # 00:01 on 1 January in Shanghai

    old_year = await _log(engine, cipher, operator, now=before_midnight)
    new_year = await _log(engine, cipher, operator, now=after_midnight)
    family = await _log(engine, cipher, operator, now=after_midnight, line="family_edu")

    assert old_year.case_number == "12355-2026-000001"
    assert new_year.case_number == "12355-2027-000001"
    assert family.case_number == "FE-2027-000001"


async def test_a_case_that_fails_to_save_gives_its_number_back(engine, cipher):
    operator = await make_user(engine, Role.OPERATOR)
    ghost = StaffUser(
        id=999_999, username="ghost", display_name="", role="operator", password_hash="", unit_id=1
    )
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        await _log(engine, cipher, ghost, now=datetime(2026, 5, 4, tzinfo=UTC))

    logged = await _log(engine, cipher, operator, now=datetime(2026, 5, 4, tzinfo=UTC))

    assert logged.case_number == "12355-2026-000001"
    assert await count_rows(engine, "audit_event") == 2  # case.create and call.create of the real one


async def test_concurrent_follow_up_calls_never_lower_a_crisis(engine, cipher):
    operator = await make_user(engine, Role.OPERATOR)
    opened = await _log(engine, cipher, operator, urgency="routine")
    urgencies = ["routine", "priority", "crisis", "urgent", "routine", "priority", "routine", "urgent"]

    await asyncio.gather(
        *(_log(engine, cipher, operator, case_number=opened.case_number, urgency=u) for u in urgencies)
    )

    assert await count_rows(engine, "hotline_call") == 1 + len(urgencies)
    assert await count_rows(engine, "referral_case", "urgency = 'crisis'") == 1
