"""A parent books on a phone browser, and API clients do the same through JSON."""

from __future__ import annotations

import re
from urllib.parse import quote

from tests.booking.conftest import add_expert, appointments, last_otp, outbox_rows
from tests.conftest import post_form
from tests.feeds import feed_token_of

ZH = {"accept-language": "zh-CN"}


async def _free_slots(client, expert_id: int) -> list[str]:
    response = await client.get(f"/api/experts/{expert_id}/slots")
    assert response.status_code == 200
    return response.json()["slots"]


def _booking_form(start: str, **changes: str) -> dict[str, str]:
    return {
        "starts_at": start,
        "name": "李女士",
        "phone": "13812345678",
        "topic": "study_pressure",
        "mode": "phone",
        "notes": "",
        "consent": "yes",
        **changes,
    }


async def test_parent_books_on_the_phone_browser_from_list_to_confirmation(client, engine, cipher):
    expert = await add_expert(engine)
    listing = await client.get("/book", headers=ZH)
    assert listing.status_code == 200 and "王老师" in listing.text and "电话" in listing.text

    slots_page = await client.get(f"/book/experts/{expert.id}", headers=ZH)
    assert slots_page.status_code == 200
    start = (await _free_slots(client, expert.id))[0]
    assert f"starts_at={quote(start, safe='')}" in slots_page.text

    form = await client.get(f"/book/experts/{expert.id}/form", params={"starts_at": start}, headers=ZH)
    assert form.status_code == 200 and 'name="consent"' in form.text and "_csrf_token" in form.text

    held = await post_form(
        client, f"/book/experts/{expert.id}/form", _booking_form(start), follow_redirects=False
    )
    assert held.status_code == 303, held.text
    verify_url = held.headers["location"]
    assert re.fullmatch(r"/book/verify/[A-Za-z0-9_-]{43,}", verify_url)

    verify_page = await client.get(verify_url, headers=ZH)
    assert verify_page.status_code == 200 and verify_page.headers["referrer-policy"] == "no-referrer"

    code = await last_otp(engine, cipher)
    confirmed = await post_form(client, verify_url, {"code": code}, follow_redirects=False)
    assert confirmed.status_code == 303
    manage_url = confirmed.headers["location"]
    assert manage_url.startswith("/book/manage/")

    manage = await client.get(manage_url, headers=ZH)
    assert manage.status_code == 200 and "王老师" in manage.text and "取消" in manage.text
    cancelled = await post_form(client, manage_url + "/cancel", {}, follow_redirects=False)
    assert cancelled.status_code == 303
    [row] = await appointments(engine)
    assert row.status == "cancelled"
    assert [m.kind for m in await outbox_rows(engine)] == ["otp", "booking_confirmed", "booking_cancelled"]


async def test_wrong_code_on_the_verify_page_says_how_many_attempts_are_left(
    client, engine, cipher, settings
):
    expert = await add_expert(engine)
    start = (await _free_slots(client, expert.id))[0]
    held = await post_form(
        client, f"/book/experts/{expert.id}/form", _booking_form(start), follow_redirects=False
    )
    code = await last_otp(engine, cipher)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    page = await post_form(client, held.headers["location"], {"code": wrong}, headers=ZH)
    assert page.status_code == 400
    assert f"剩余尝试次数：{settings.otp_max_attempts - 1}" in page.text


async def test_bad_phone_number_is_refused_in_chinese_and_nothing_is_saved(client, engine):
    expert = await add_expert(engine)
    start = (await _free_slots(client, expert.id))[0]
    page = await post_form(
        client, f"/book/experts/{expert.id}/form", _booking_form(start, phone="12345"), headers=ZH
    )
    assert page.status_code == 400
    assert "请填写中国大陆手机号码" in page.text
    assert 'value="李女士"' in page.text  # what the parent typed is kept

    api = await client.post(
        "/api/bookings",
        json={
            "expert_id": expert.id,
            "starts_at": start,
            "mode": "phone",
            "name": "李女士",
            "phone": "12345",
        },
    )
    assert api.status_code == 400
    assert api.json()["detail"].startswith("请填写中国大陆手机号码")
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []


async def test_booking_without_consent_is_refused(client, engine):
    expert = await add_expert(engine)
    start = (await _free_slots(client, expert.id))[0]
    page = await post_form(
        client, f"/book/experts/{expert.id}/form", _booking_form(start, consent=""), headers=ZH
    )
    assert page.status_code == 400
    assert "请勾选同意" in page.text
    assert 'value="李女士"' in page.text  # what the parent typed is kept
    assert await appointments(engine) == []


async def test_a_parent_whose_csrf_cookie_was_lost_is_told_the_form_expired_and_nothing_is_booked(
    client, engine
):
    """Litestar refuses a missing CSRF cookie with the exception a role refusal uses; the parent used to
    read "your role does not allow this page" on a page that needs no login."""
    expert = await add_expert(engine)
    start = (await _free_slots(client, expert.id))[0]
    form = await client.get(f"/book/experts/{expert.id}/form", params={"starts_at": start}, headers=ZH)
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    client.cookies.delete("fh_csrf")  # cleared by the browser, or the form was opened long ago elsewhere

    fields = {**_booking_form(start), "_csrf_token": token.group(1)}
    page = await client.post(f"/book/experts/{expert.id}/form", data=fields, headers=ZH)
    assert page.status_code == 403
    assert "表单已过期，请返回并刷新页面后重试。" in page.text
    assert "角色" not in page.text
    english = await client.post(
        f"/book/experts/{expert.id}/form", data=fields, headers={"accept-language": "en"}
    )
    assert english.status_code == 403
    assert "This form has expired. Go back, reload the page and try again." in english.text
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []


async def test_second_parent_on_a_taken_slot_sees_409_with_the_next_free_times(client, engine):
    expert = await add_expert(engine)
    first, second = (await _free_slots(client, expert.id))[:2]
    await post_form(client, f"/book/experts/{expert.id}/form", _booking_form(first))
    page = await post_form(
        client, f"/book/experts/{expert.id}/form", _booking_form(first, phone="13900001111"), headers=ZH
    )
    assert page.status_code == 409
    assert "已被他人预约" in page.text
    assert quote(second, safe="") in page.text


async def test_api_books_confirms_and_cancels(client, engine, cipher):
    expert = await add_expert(engine)
    experts = (await client.get("/api/experts")).json()
    assert experts[0]["id"] == expert.id and "phone" in experts[0]["modes"]
    start = (await _free_slots(client, expert.id))[0]
    payload = {
        "expert_id": expert.id,
        "starts_at": start,
        "mode": "video",
        "name": "Ms Li",
        "phone": "+86 138 1234 5678",
        "topic": "parenting",
        "notes": "",
    }
    held = await client.post("/api/bookings", json=payload)
    assert held.status_code == 201, held.text
    body = held.json()
    assert body["status"] == "held" and body["hold_expires_at"].endswith("Z")
    assert start not in await _free_slots(client, expert.id)

    taken = await client.post("/api/bookings", json={**payload, "phone": "13900001111"})
    assert taken.status_code == 409
    assert taken.json()["next_free"] and start not in taken.json()["next_free"]

    wrong = await client.post(f"/api/bookings/{body['verify_token']}/confirm", json={"code": "abc"})
    assert wrong.status_code == 400
    code = await last_otp(engine, cipher)
    confirmed = await client.post(f"/api/bookings/{body['verify_token']}/confirm", json={"code": code})
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    manage = confirmed.json()["manage_token"]
    for _ in range(2):
        cancelled = await client.post(f"/api/bookings/manage/{manage}/cancel", json={})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert start in await _free_slots(client, expert.id)


async def test_the_anonymous_api_needs_no_cookie_and_no_csrf_header(client, engine, cipher):
    """No cookie grants the booking API or a feed any authority, so they ask for none: an app books
    without fetching a page for a CSRF token first, and is handed no cookie."""
    expert = await add_expert(engine)
    answers = [await client.get("/api/experts"), await client.get(f"/api/experts/{expert.id}/slots")]
    start = answers[-1].json()["slots"][0]
    held = await client.post(
        "/api/bookings",
        json={"expert_id": expert.id, "starts_at": start, "mode": "phone", "name": "李女士",
              "phone": "13812345678"},
    )  # fmt: skip
    code = await last_otp(engine, cipher)
    confirmed = await client.post(f"/api/bookings/{held.json()['verify_token']}/confirm", json={"code": code})
    manage = confirmed.json()["manage_token"]
    cancelled = await client.post(f"/api/bookings/manage/{manage}/cancel")
    feed = await client.get(f"/calendar/experts/{feed_token_of(expert)}.ics")
    answers += [held, confirmed, cancelled, feed]
    assert [answer.status_code for answer in answers] == [200, 200, 201, 200, 200, 200]
    assert [answer.headers.get("set-cookie") for answer in answers] == [None] * 6
    assert not client.cookies
    assert [row.status for row in await appointments(engine)] == ["cancelled"]


async def test_unknown_booking_links_are_404(client):
    assert (await client.get("/book/verify/not-a-token")).status_code == 404
    assert (await client.get("/book/manage/not-a-token")).status_code == 404


async def test_api_expert_ids_past_the_database_integer_are_404_not_a_server_error(client, engine):
    """An id no INTEGER key can hold went to the driver, which refused it (SQLite OverflowError, asyncpg
    DataError): a 500 instead of "not taking bookings" (found by tests/test_api_fuzz.py)."""
    expert = await add_expert(engine)
    start = (await _free_slots(client, expert.id))[0]
    for expert_id in (2**31, 2**63, 2**64):
        slots = await client.get(f"/api/experts/{expert_id}/slots")
        assert slots.status_code == 404
        assert slots.json()["detail"] == "该专家目前不接受预约。"
        held = await client.post(
            "/api/bookings",
            json={
                "expert_id": expert_id,
                "starts_at": start,
                "mode": "phone",
                "name": "李女士",
                "phone": "13812345678",
            },
        )
        assert held.status_code == 404
        assert (await client.get(f"/book/experts/{expert_id}")).status_code == 404
    assert await appointments(engine) == []


async def test_a_start_at_the_ends_of_the_calendar_is_refused_as_a_bad_time(client, engine):
    """Year 1 or 9999 with an offset parses, but cannot be moved into UTC or the site's zone (OverflowError,
    a 500). It is refused like any time that is not a free slot (found by tests/test_api_fuzz.py)."""
    expert = await add_expert(engine)
    for start in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "9999-12-31T23:00:00Z"):
        api = await client.post(
            "/api/bookings",
            json={
                "expert_id": expert.id,
                "starts_at": start,
                "mode": "phone",
                "name": "李女士",
                "phone": "13812345678",
            },
        )
        assert api.status_code == 400, start
        assert api.json()["errors"] == {"starts_at": "请从可预约时间中选择。"}
        page = await client.get(f"/book/experts/{expert.id}/form", params={"starts_at": start})
        assert page.status_code == 400, start
    assert await appointments(engine) == []
    assert await outbox_rows(engine) == []
