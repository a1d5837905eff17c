"""Every route is either guarded by a role check or on a short, reasoned list of public routes.

A new route that forgets its guard fails here before it can expose a case: the list below is the whole
public surface of the service, and each anonymous request to anything else must be refused.
"""

from __future__ import annotations

import re

import pytest
from litestar import Litestar
from sqlalchemy import func
from sqlmodel import select

from core.accounts import Role
from core.audit import AuditEvent
from core.db import create_sessionmaker
from tests.conftest import log_in, post_form

# path -> why anyone may reach it without a staff login.
PUBLIC = {
    "/": "home page with links to booking and login",
    "/login": "the login form itself",
    "/login/second-factor": "the code step of a login; only a session whose password was right gets past it",
    "/logout": "ends whatever session the cookie names; harmless without one",
    "/language": "sets the language cookie",
    "/health": "process probe for the orchestrator",
    "/ready": "readiness probe (reports only ok/failing per dependency)",
    "/book": "parents book without an account",
    "/book/experts/{expert_id:int}": "parents book without an account",
    "/book/experts/{expert_id:int}/form": "parents book without an account",
    "/book/verify/{verify_token:str}": "the secret verify token is the credential",
    "/book/manage/{manage_token:str}": "the secret manage token is the credential",
    "/book/manage/{manage_token:str}/cancel": "the secret manage token is the credential",
    "/calendar/experts/{feed:str}": "the secret feed token is the credential",
    "/calendar/sites/{feed:str}": "the site's secret feed token is the credential",
    "/api/experts": "public roster for booking (names, specialties, sites)",
    "/api/experts/{expert_id:int}/slots": "public free slots for booking",
    "/api/specialties/{specialty:str}/soonest": "public: the soonest free times of a specialty's experts",
    "/api/bookings": "parents book without an account",
    "/api/bookings/{verify_token:str}/confirm": "the secret verify token is the credential",
    "/api/bookings/manage/{manage_token:str}/cancel": "the secret manage token is the credential",
    "/webhooks/twilio/sms-status": "Twilio's request signature is the credential",
    "/webhooks/twilio/sms-inbound": "Twilio's request signature is the credential",
    "/static/{file_path:path}": "stylesheet",
    "/r/{token:str}": "an agency's referral page: the secret referral token is the credential (throttled)",
    "/r/{token:str}/acknowledge": "the agency signs for it: the secret referral token is the credential",
    "/r/{token:str}/feedback": "the agency reports back: the secret referral token is the credential",
    "/r/{token:str}/decline": "the agency declines a referral: the secret referral token is the credential",
    "/webhooks/twilio/voice/incoming": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/menu": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/wait": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/queue-exit": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/voicemail-done": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/voicemail-recording": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/status": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/offer/whisper": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/offer/connect": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/offer/status": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/recording": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/callback/bridge": "Twilio's request signature is the credential",
    "/webhooks/twilio/voice/callback/status": "Twilio's request signature is the credential",
    # issue 9: the parent moves their consultation with the manage link
    "/book/manage/{manage_token:str}/reschedule": "the secret manage token is the credential",
    "/book/manage/{manage_token:str}/reschedule/confirm": "the secret manage token is the credential",
}
PUBLIC_PREFIXES = ("/schema",)  # the OpenAPI description: route shapes, no data


def _routes(app: Litestar) -> list[tuple[str, str, list[object]]]:
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", ())):
                if method in {"OPTIONS", "HEAD"}:
                    continue
                found.append((route.path, method, list(handler.resolve_guards())))
    return found


def _is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith(PUBLIC_PREFIXES)


def _concrete(path: str) -> str:
    # Any value will do for a refusal: the guard runs before the handler looks anything up.
    return re.sub(r"\{[^}:]+:int\}", "1", re.sub(r"\{[^}:]+:str\}", "X1", path))


def test_every_route_that_is_not_public_has_a_guard(app):
    routes = _routes(app)
    assert len(routes) > 30, "the app's routes were not found"
    unguarded = [(path, method) for path, method, guards in routes if not guards and not _is_public(path)]
    assert unguarded == []


def test_the_public_list_names_only_routes_that_exist(app):
    paths = {path for path, _, _ in _routes(app)}
    assert set(PUBLIC) - paths == set()


async def test_anonymous_requests_to_guarded_routes_are_refused(app, client):
    guarded = [(p, m) for p, m, guards in _routes(app) if guards and not _is_public(p)]
    assert len(guarded) >= 10
    await client.get("/login")  # a real CSRF token, so the refusal below is the guard's and not CSRF's
    token = client.cookies["fh_csrf"]
    for path, method in guarded:
        response = await client.request(
            method, _concrete(path), follow_redirects=False, headers={"x-csrftoken": token}
        )
        assert response.status_code in {303, 401}, (method, path, response.status_code)
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login"), (method, path)


@pytest.mark.parametrize("role", [Role.EXPERT, Role.COORDINATOR, Role.ADMIN])
async def test_staff_without_a_hotline_role_are_refused_every_hotline_route(app, client, engine, role):
    await log_in(client, engine, role)
    hotline = [(p, m) for p, m, _ in _routes(app) if p.startswith(("/hotline", "/api/cases", "/api/calls"))]
    assert len(hotline) >= 7
    for path, method in hotline:
        if method == "POST":
            token = client.cookies.get("fh_csrf")
            response = await client.post(_concrete(path), data={"_csrf_token": token}, follow_redirects=False)
        else:
            response = await client.get(_concrete(path), follow_redirects=False)
        assert response.status_code == 403, (role, method, path, response.status_code)


async def test_options_requests_are_answered_not_a_server_error(client, engine):
    """Litestar's authentication middleware skips OPTIONS unless told otherwise; the role guards then found
    no user in the request and every OPTIONS to a staff route was a 500 (found by tests/test_api_fuzz.py)."""
    anonymous = await client.options("/api/cases")
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"] == "请先登录。"
    await log_in(client, engine, Role.OPERATOR)
    allowed = await client.options("/api/cases")
    assert allowed.status_code == 204
    assert "GET" in allowed.headers["allow"]


async def test_a_method_the_path_does_not_take_is_405_and_says_which_it_takes(client, engine):
    """RFC 9110: a 405 carries `Allow`. Our error handler used to drop the header Litestar had set."""
    await log_in(client, engine, Role.OPERATOR)
    response = await client.delete("/api/cases", headers={"x-csrftoken": client.cookies["fh_csrf"]})
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["detail"]


async def test_nul_characters_are_refused_at_the_door_and_change_nothing(client, engine):
    await client.get("/login")
    token = client.cookies["fh_csrf"]
    login = await client.post(
        "/login",
        data={"username": "chen\x00", "password": "x", "_csrf_token": token},
        headers={"accept-language": ""},
    )
    assert login.status_code == 400 and "NUL" in login.text and "无法保存" in login.text
    booking = await client.post(
        "/api/bookings",
        content=b'{"expert_id": 1, "starts_at": "2030-01-01T01:00:00Z", "name": "\\u0000", "phone": "x"}',
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    assert booking.status_code == 400 and "NUL" in booking.json()["detail"]
    assert (await client.get("/api/cases/12355-2026-000001%00")).status_code == 400
    async with create_sessionmaker(engine)() as session:
        assert (await session.exec(select(func.count()).select_from(AuditEvent))).one() == 0


async def test_framework_errors_speak_the_readers_language(client):
    wrong_method = await client.request("PUT", "/api/experts", headers={"accept-language": ""})
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
    assert "此地址不接受这种请求方式" in wrong_method.text
    truncated = await client.post(
        "/api/bookings",
        content=b'{"expert_id": 1, "starts_',
        headers={"content-type": "application/json", "accept-language": "en"},
    )
    assert truncated.status_code == 400
    assert "incomplete or malformed" in truncated.json()["detail"]


async def test_addresses_for_programs_answer_errors_in_json_even_to_a_browser(client):
    """The feed and the probes are in the OpenAPI description, which promises JSON errors; they answered
    with the HTML error page unless the client asked for JSON (found by tests/test_api_fuzz.py once it
    covered the whole document)."""
    browser = {"accept": "text/html,*/*", "accept-language": ""}
    dead_feed = await client.get("/calendar/experts/not-a-feed.ics", headers=browser)
    assert dead_feed.status_code == 404
    assert dead_feed.headers["content-type"].startswith("application/json")
    assert dead_feed.json()["detail"] == "该日历链接已失效，请向协调员索取新链接。"
    for probe in ("/health", "/ready"):
        wrong_method = await client.request("DELETE", probe, headers=browser)
        assert wrong_method.status_code == 405, probe
        assert wrong_method.json()["detail"], probe
    page = await client.get("/book/manage/not-a-token", headers=browser)  # a page stays a page
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


async def test_a_role_refusal_still_names_the_role_not_an_expired_form(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    page = await client.get("/roster/experts/new", headers={"accept-language": ""})
    assert page.status_code == 403
    assert "您的角色无权访问此页面。" in page.text and "表单已过期" not in page.text
    posted = await post_form(
        client, "/roster/experts/new", {"name": "王老师"}, headers={"accept-language": ""}
    )
    assert posted.status_code == 403  # a valid CSRF token: the role guard refuses
    assert "您的角色无权访问此页面。" in posted.text
