"""Site-wide pages: home, login and logout, language switch, health and readiness probes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from litestar import Request, get, post
from litestar.datastructures import Cookie, State
from litestar.params import FromQuery
from litestar.response import Redirect, Response, Template
from sqlalchemy import text

from app.login_throttle import login_label, login_locked
from core.accounts import Role, StaffUser, authenticate, end_login_session, start_login_session
from core.audit import record_audit
from core.db import DbSession
from core.http import client_ip
from core.i18n import LOCALES, N_, gettext
from core.security import SESSION_COOKIE, login_cookie, logout_cookie
from core.settings import Settings, SettingsDep

__all__ = ["ROUTES", "home_for"]

LOCALE_COOKIE = "fh_lang"

# Where each role lands after logging in.
HOME_BY_ROLE = {
    Role.OPERATOR.value: "/hotline/cases",
    Role.SUPERVISOR.value: "/hotline/cases",
    Role.COORDINATOR.value: "/roster/experts",
    Role.EXPERT.value: "/roster/experts",
    Role.ADMIN.value: "/roster/experts",
}


def home_for(user: StaffUser) -> str:
    return HOME_BY_ROLE.get(user.role, "/")


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a crafted ?next=https://evil.example must not redirect off the site."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@get("/", name="home", sync_to_thread=False)
def home(request: Request[Any, Any, Any]) -> Template:
    return Template(template_name="home.html", context={})


@get("/login", name="login:form", sync_to_thread=False)
def login_form(request: Request[Any, Any, Any], next: FromQuery[str | None] = None) -> Template:
    target = _safe_next(next)
    # Sent here from a page that needs a login: say so, or the redirect looks like a lost page.
    notice = gettext("Please log in.") if target else None
    return Template(
        template_name="login.html", context={"next": target or "", "error": None, "notice": notice}
    )


async def _login_refused(
    db: DbSession,
    request: Request[Any, Any, Any],
    username: str,
    next_target: str,
    action: str,
    *,
    status_code: int,
    message: str,
) -> Response[Any]:
    record_audit(
        db,
        actor_id=None,
        actor_label=login_label(username),
        action=action,
        object_type="staff_user",
        object_id="-",
        client_ip=client_ip(request),
    )
    await db.commit()
    return Template(
        template_name="login.html",
        context={"next": next_target, "error": gettext(message), "notice": None},
        status_code=status_code,
    )  # type: ignore[return-value]


@post("/login", name="login:submit")
async def login_submit(
    request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep
) -> Response[Any]:
    form = await request.form()
    username = str(form.get("username", ""))
    next_target = _safe_next(str(form.get("next", ""))) or ""
    if await login_locked(db, username):
        # Checked before the password, so a guesser learns nothing from attempts past the limit.
        return await _login_refused(
            db,
            request,
            username,
            next_target,
            "login.throttled",
            status_code=429,
            message=N_("Too many failed logins for this account. Wait 15 minutes, then try again."),
        )
    user = await authenticate(db, username, str(form.get("password", "")))
    if user is None:
        return await _login_refused(
            db,
            request,
            username,
            next_target,
            "login.failed",
            status_code=400,
            message=N_("Wrong username or password."),
        )
    token = await start_login_session(db, user)
    record_audit(
        db,
        actor_id=user.id,
        actor_label=user.username,
        action="login",
        object_type="staff_user",
        object_id=user.id or 0,
        client_ip=client_ip(request),
    )
    await db.commit()
    target = next_target or home_for(user)
    return Redirect(target, status_code=303, cookies=[login_cookie(token, settings)])  # type: ignore[return-value]


@post("/logout", name="logout")
async def logout(request: Request[Any, Any, Any], db: DbSession, settings: SettingsDep) -> Redirect:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_login_session(db, token)
        await db.commit()
    return Redirect("/", status_code=303, cookies=[logout_cookie(settings)])


@post("/language", name="language")
async def choose_language(request: Request[Any, Any, Any]) -> Redirect:
    form = await request.form()
    locale = str(form.get("locale", ""))
    back = _safe_next(str(form.get("next", ""))) or "/"
    if locale not in LOCALES:
        return Redirect(back, status_code=303)
    return Redirect(
        back,
        status_code=303,
        cookies=[Cookie(key=LOCALE_COOKIE, value=locale, max_age=365 * 86400, samesite="lax", path="/")],
    )


@get("/health", name="health", sync_to_thread=False, include_in_schema=True)
def health() -> dict[str, str]:
    """The process is up (liveness)."""
    return {"status": "ok"}


@get("/ready", name="ready")
async def ready(state: State) -> Response[dict[str, Any]]:
    """The database answers: safe to send traffic here. Redis only rings the worker's doorbell (the worker
    sends from the database without it), so Redis away is reported as degraded, not as unavailable."""
    checks: dict[str, str] = {}
    try:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    settings: Settings = state.settings
    if settings.redis_url:
        from redis.asyncio import Redis

        client = Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        try:
            await client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"degraded: {type(exc).__name__}"
        finally:
            await client.aclose()
    if checks["database"] != "ok":
        return Response({"status": "unavailable", "checks": checks}, status_code=503)
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return Response({"status": status, "checks": checks}, status_code=200)


ROUTES = [home, login_form, login_submit, logout, choose_language, health, ready]
