"""Case search: by number, caller's phone (blind index, no stored number opened to find it), status,
line, category, urgency, risk, owner, child flag and opening dates in the site's calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.accounts import Role
from core.db import create_sessionmaker
from core.privacy import FieldCipher, phone_index
from hotline.case_views import CaseFilters, list_cases
from tests.conftest import log_in, post_form, post_json
from tests.hotline.calls import PHONE, a_call
from tests.hotline.casework import open_case, quick_user


class SearchCipher(FieldCipher):
    """Records what was decrypted: a search must find by the blind index alone."""

    def __init__(self, data_key: str) -> None:
        super().__init__(data_key)
        self.decrypted: list[str] = []

    def decrypt(self, token: str, *, context: str = "") -> str:
        self.decrypted.append(context)
        return super().decrypt(token, context=context)


async def _numbers(client, **params: str) -> list[str]:
    response = await client.get("/api/cases", params=params)
    assert response.status_code == 200, (params, response.text)
    return [row["number"] for row in response.json()["rows"]]


async def test_each_filter_finds_its_cases(client, engine, settings):
    supervisor = await log_in(client, engine, Role.SUPERVISOR)
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        operator = await quick_user(session, Role.OPERATOR)
    async with create_sessionmaker(engine)() as session:
        # 23:30 on 1 March in Beijing is still 1 March there, though 15:30 UTC.
        bullying = await open_case(session, cipher, operator, at=datetime(2026, 3, 1, 15, 30, tzinfo=UTC))
        violence = await open_case(
            session,
            cipher,
            operator,
            at=datetime(2026, 3, 1, 16, 30, tzinfo=UTC),  # 00:30 on 2 March in Beijing
            category="violence",
            urgency="urgent",
            caller_phone="13900001111",
        )
        family = await open_case(
            session,
            cipher,
            supervisor,
            at=datetime(2026, 3, 5, 2, 0, tzinfo=UTC),
            line="family_edu",
            category="parenting",
            caller_phone="",
        )
    await post_json(client, f"/api/cases/{violence}/risk", {"risk_level": "critical", "reason": "殴打"})
    await post_json(client, f"/api/cases/{violence}/child", {"flags": ["unsupervised", "left_behind"]})
    await post_json(client, f"/api/cases/{bullying}/child", {"flags": ["out_of_school"]})
    await post_json(client, f"/api/cases/{family}/status", {"status": "follow_up"})

    assert await _numbers(client) == [family, violence, bullying]
    assert await _numbers(client, number=violence.lower() + " ") == [violence]
    assert await _numbers(client, status="follow_up") == [family]
    assert await _numbers(client, status="open") == [family, violence, bullying]
    assert await _numbers(client, line="family_edu") == [family]
    assert await _numbers(client, category="violence") == [violence]
    assert await _numbers(client, urgency="urgent") == [violence]
    assert await _numbers(client, risk="critical") == [violence]
    assert await _numbers(client, risk="unassessed") == [family, bullying]
    assert await _numbers(client, owner=str(operator.id)) == [violence, bullying]
    assert await _numbers(client, owner="me", status="") == [family]
    assert await _numbers(client, flag="unsupervised") == [violence]
    assert await _numbers(client, flag="out_of_school") == [bullying]
    assert await _numbers(client, flag="disability") == []
    assert await _numbers(client, opened_from="2026-03-01", opened_to="2026-03-01") == [bullying]
    assert await _numbers(client, opened_from="2026-03-02") == [family, violence]
    assert await _numbers(client, opened_to="2026-03-04") == [violence, bullying]
    assert await _numbers(client, category="violence", risk="low") == []

    listing = await client.get("/hotline/cases", params={"risk": "critical"})
    assert listing.status_code == 200 and violence in listing.text and bullying not in listing.text
    assert 'data-risk="critical"' in listing.text and "<th>负责人</th>" in listing.text


async def test_a_callers_number_is_found_by_its_blind_index_alone(client, engine, app, settings):
    await log_in(client, engine, Role.OPERATOR)
    first = (await post_json(client, "/api/calls", a_call())).json()["case_number"]
    await post_json(client, "/api/calls", a_call(caller_phone="13900001111"))
    again = (await post_json(client, "/api/calls", a_call(caller_phone="+86 138-1234-5678"))).json()
    await post_json(client, "/api/calls", a_call(caller_phone=""))

    async with create_sessionmaker(engine)() as session:
        viewer = await quick_user(session, Role.OPERATOR)
        recording = SearchCipher(settings.data_key)
        filters = CaseFilters.checked(phone="138 1234 5678", cipher=recording)
        found = await list_cases(session, recording, viewer=viewer, filters=filters, timezone="Asia/Shanghai")
    assert [row.number for row in found.rows] == [again["case_number"], first]
    # Only the two cases found had their phones opened, and only to be masked.
    assert recording.decrypted == ["hotline_call.caller_phone"] * 2
    assert filters.caller == phone_index(FieldCipher(settings.data_key), "+86" + PHONE)

    assert await _numbers(client, phone=PHONE) == [again["case_number"], first]
    assert await _numbers(client, phone="13700000000") == []

    # On the page the number is sent by POST and the list is shown under its index: never in a link.
    searched = await post_form(client, "/hotline/cases/by-phone", {"phone": PHONE}, follow_redirects=False)
    assert searched.status_code == 303
    location = searched.headers["location"]
    assert PHONE not in location and PHONE[-4:] not in location and f"caller={filters.caller}" in location
    shown = await client.get(location)
    assert first in shown.text and "data-caller-filter" in shown.text and PHONE not in shown.text
    assert (await post_form(client, "/hotline/cases/by-phone", {"phone": "12345"})).status_code == 400


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"line": "110"},
        {"category": "weather"},
        {"risk": "extreme"},
        {"owner": "you"},
        {"owner": "0"},
        {"owner": str(2**40)},
        {"flag": "orphan"},
        {"number": "not-a-number"},
        {"phone": "12345"},
        {"caller": "abc"},
        {"opened_from": "2026-02-30"},
        {"opened_to": "9999-12-31"},
        {"opened_from": "2026-03-05", "opened_to": "2026-03-01"},
    ],
)
async def test_unknown_filter_values_are_refused(client, engine, params):
    await log_in(client, engine, Role.OPERATOR)
    api = await client.get("/api/cases", params=params)
    assert api.status_code == 400 and api.json()["errors"], params
    assert (await client.get("/hotline/cases", params=params)).status_code == 400


async def test_pages_of_results_keep_their_filters(client, engine, settings):
    operator = await log_in(client, engine, Role.OPERATOR)
    cipher = FieldCipher(settings.data_key)
    async with create_sessionmaker(engine)() as session:
        for minute in range(27):
            await open_case(session, cipher, operator, at=datetime(2026, 3, 1, 2, minute, tzinfo=UTC))
    page = await client.get("/hotline/cases", params={"owner": "me", "status": "", "flag": ""})
    assert "?owner=me&amp;status=&amp;page=2" in page.text  # "all statuses" survives to page 2
    second = await client.get("/hotline/cases", params={"owner": "me", "status": "", "page": "2"})
    assert second.text.count("/hotline/cases/12355-2026-") == 2
