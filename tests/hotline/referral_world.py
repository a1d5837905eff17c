"""What the referral tests share: an agency in the directory, a case referred to it, and the link token
the agency contact reads in the SMS."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.accounts import StaffUser
from core.db import create_sessionmaker
from core.privacy import FieldCipher
from core.settings import Settings
from core.units import DEFAULT_UNIT_ID
from hotline.agencies import AgencyForm, save_agency
from tests.booking.conftest import outbox_rows, sms_body
from tests.conftest import post_json
from tests.hotline.calls import a_call

AGENCY_MOBILE = "13700001234"
REASON = "孩子称继父打他，身上有淤青，不敢回家"
REQUEST = "请派出所上门核实并保护孩子"


async def add_agency(
    engine: AsyncEngine,
    settings: Settings,
    creator: StaffUser,
    *,
    name: str = "西湖派出所",
    phone: str = AGENCY_MOBILE,
    feedback_days: int = 3,
    unit_id: int | None = None,
) -> int:
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        viewer = creator.model_copy(update={"unit_id": unit_id or creator.unit_id or DEFAULT_UNIT_ID})
        form = AgencyForm(
            name=name,
            kind="police",
            district="西湖区",
            contact_name="张警官",
            contact_phone=phone,
            feedback_days=str(feedback_days),
        )
        agency = await save_agency(session, cipher, form, viewer=viewer)
        await session.commit()
        return agency.id or 0


async def open_case(client: Any, **call: Any) -> str:
    response = await post_json(client, "/api/calls", a_call(category="violence", urgency="urgent", **call))
    assert response.status_code == 201, response.text
    return str(response.json()["case_number"])


def a_referral(agency_id: int, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "agency_id": agency_id,
        "reason": REASON,
        "request": REQUEST,
        "urgency": "urgent",
        "share_caller_phone": False,
    }
    fields.update(overrides)
    return fields


async def refer(client: Any, number: str, agency_id: int, **overrides: Any) -> dict[str, Any]:
    response = await post_json(
        client, "/api/referrals", {"case_number": number, **a_referral(agency_id, **overrides)}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def last_link_token(engine: AsyncEngine, settings: Settings) -> str:
    """The token in the newest referral SMS, as the agency contact reads it."""
    rows = await outbox_rows(engine, "referral_link")
    assert rows, "no referral SMS was queued"
    match = re.search(r"/r/([A-Za-z0-9_\-]+)", sms_body(FieldCipher(settings.data_key), rows[-1]))
    assert match, "the referral SMS holds no link"
    return match.group(1)


def another_browser(settings: Settings) -> AsyncTestClient[Litestar]:
    """A second person's browser (the agency's phone, a supervisor) while the `client` fixture's is open:
    on an app of its own, as tests/test_api_fuzz.py does, since an app's engine (asyncpg) is bound to
    the event loop of the test client that started it."""
    from app.server import create_app

    return AsyncTestClient(app=create_app(settings), base_url="http://testserver.local")


async def scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text(query), params)).scalar()
