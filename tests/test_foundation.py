"""The foundations as a user meets them: health, readiness, login, roles, CSRF, language, audit."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import select

from app.login_throttle import FAILED_LOGIN_LIMIT, FAILED_LOGIN_WINDOW, login_locked
from core.accounts import Role
from core.audit import AuditEvent, record_audit
from core.db import create_sessionmaker, utcnow
from tests.conftest import TEST_PASSWORD, log_in, make_user, post_form


async def test_health_and_ready_report_ok(client):
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_ready_reports_redis_degraded_not_the_app_down_when_redis_is_unreachable(settings, engine):
    from litestar.testing import AsyncTestClient

    from app.server import create_app

    broken = settings.with_overrides(redis_url="redis://127.0.0.1:1/0")
    app = create_app(broken)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/ready")
    # The app still takes bookings: their SMS wait in the database for a worker's sweep.
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"] == {"database": "ok", "redis": "degraded: ConnectionError"}


async def test_ready_fails_when_the_database_does_not_answer(settings, tmp_path):
    from litestar.testing import AsyncTestClient

    from app.server import create_app

    # With Redis configured the web process only enqueues, so it starts without touching the database.
    missing = tmp_path / "no-such-dir" / "hotline.db"
    app = create_app(
        settings.with_overrides(
            database_url=f"sqlite+aiosqlite:///{missing}", redis_url="redis://127.0.0.1:1/0"
        )
    )
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"].startswith("error")


async def test_openapi_schema_is_served(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "family-hotline"


async def test_login_with_wrong_password_is_refused_and_audited(client, engine):
    user = await make_user(engine, Role.OPERATOR)
    response = await post_form(client, "/login", {"username": user.username, "password": "wrong password!"})
    assert response.status_code == 400
    assert "fh_session" not in client.cookies
    async with create_sessionmaker(engine)() as session:
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert "login.failed" in actions


async def test_password_guessing_locks_the_account_for_a_while(client, engine):
    user = await make_user(engine, Role.OPERATOR)
    other = await make_user(engine, Role.OPERATOR)
    for _ in range(FAILED_LOGIN_LIMIT):
        refused = await post_form(client, "/login", {"username": user.username, "password": "guess"})
        assert refused.status_code == 400
    # Even the right password is refused now, without being checked, and the refusal says why.
    locked = await post_form(
        client,
        "/login",
        {"username": user.username.upper(), "password": TEST_PASSWORD},
        headers={"accept-language": ""},
    )
    assert locked.status_code == 429 and "15 分钟" in locked.text
    assert "fh_session" not in client.cookies
    # Another account is not affected.
    assert (
        await post_form(client, "/login", {"username": other.username, "password": TEST_PASSWORD})
    ).status_code in {200, 303}
    assert "fh_session" in client.cookies
    async with create_sessionmaker(engine)() as session:
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert actions.count("login.failed") == FAILED_LOGIN_LIMIT and actions.count("login.throttled") == 1


async def test_failed_logins_older_than_the_window_do_not_count(engine):
    async with create_sessionmaker(engine)() as session:
        for _ in range(FAILED_LOGIN_LIMIT):
            event = record_audit(
                session,
                actor_id=None,
                actor_label="chen",
                action="login.failed",
                object_type="staff_user",
                object_id="-",
            )
            event.at = utcnow() - FAILED_LOGIN_WINDOW - timedelta(minutes=1)
        await session.commit()
        assert not await login_locked(session, " Chen ")
        assert await login_locked(session, "chen", now=utcnow() - FAILED_LOGIN_WINDOW)


async def test_login_then_logout_ends_the_session(client, engine):
    await log_in(client, engine, Role.OPERATOR)
    await post_form(client, "/logout", {})
    assert "fh_session" not in client.cookies


async def test_form_post_without_csrf_token_is_refused(client, engine):
    user = await make_user(engine, Role.OPERATOR)
    await client.get("/login")
    response = await client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "fh_session" not in client.cookies


async def test_open_redirect_after_login_is_ignored(client, engine):
    user = await make_user(engine, Role.COORDINATOR)
    response = await post_form(
        client,
        "/login",
        {"username": user.username, "password": TEST_PASSWORD, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/roster/experts"


async def test_pages_default_to_simplified_chinese_and_switch_to_english(client):
    page = await client.get("/", headers={"accept-language": ""})
    assert "预约咨询" in page.text
    await post_form(client, "/language", {"locale": "en", "next": "/"})
    page = await client.get("/")
    assert "Book a consultation" in page.text


async def test_audit_log_refuses_updates_and_deletes(engine):
    maker = create_sessionmaker(engine)
    async with maker() as session:
        record_audit(session, actor_id=None, actor_label="t", action="x", object_type="y", object_id=1)
        await session.commit()
    for statement in ("UPDATE audit_event SET action = 'forged'", "DELETE FROM audit_event"):
        async with maker() as session:
            try:
                await session.exec(text(statement))
                await session.commit()
            except Exception as exc:  # the database itself refuses
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement} was allowed on the audit log")
    async with maker() as session:
        assert (await session.exec(select(AuditEvent.action))).all() == ["x"]


async def test_login_page_says_why_a_visitor_was_sent_there(client):
    sent = await client.get("/login?next=/hotline/cases", headers={"accept-language": ""})
    assert "请先登录。" in sent.text and 'value="/hotline/cases"' in sent.text
    plain = await client.get("/login", headers={"accept-language": ""})
    assert "请先登录。" not in plain.text


async def test_language_switch_returns_to_the_page_with_its_query(client):
    page = await client.get("/login?next=/hotline/cases")
    assert 'name="next" value="/login?next=/hotline/cases"' in page.text
    switched = await post_form(
        client, "/language", {"locale": "en", "next": "/login?next=/hotline/cases"}, follow_redirects=False
    )
    assert switched.headers["location"] == "/login?next=/hotline/cases"


async def test_pages_carry_security_headers_and_staff_pages_are_not_cached(client, engine):
    home = await client.get("/")
    assert home.headers["x-frame-options"] == "DENY"
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["referrer-policy"] == "same-origin"
    assert "script-src 'self'" in home.headers["content-security-policy"]
    await log_in(client, engine, Role.OPERATOR)
    cases = await client.get("/hotline/cases")
    assert cases.status_code == 200 and cases.headers["cache-control"] == "no-store"
    # The OpenAPI viewers need their CDN scripts; everything else gets the strict policy.
    assert "content-security-policy" not in (await client.get("/schema/swagger")).headers


def test_no_template_relies_on_script_the_content_security_policy_blocks():
    """The CSP allows only our own script files: a `javascript:` link, an inline handler or an inline or
    third-party script would be dead for the reader. A `<script>` may only load a file under /static."""
    from core.settings import PROJECT_ROOT

    own_file = re.compile(r'<script src="/static/[a-z_]+\.js" defer></script>', re.IGNORECASE)
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "templates").rglob("*.html")
        if re.search(r"javascript:|\son[a-z]+\s*=|<script", own_file.sub("", path.read_text()), re.IGNORECASE)
    ]
    assert offenders == []
    # And each of those files exists (served by the static router).
    for path in (PROJECT_ROOT / "templates").rglob("*.html"):
        for name in re.findall(r'<script src="/static/([a-z_]+\.js)"', path.read_text()):
            assert (PROJECT_ROOT / "static" / name).is_file(), (path, name)
