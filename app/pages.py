"""Site-wide pages: home, login and logout, language switch; health and readiness probes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

from litestar import Controller, Litestar, Request, get, post
from litestar.datastructures import Cookie, State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template
from sqlalchemy import text

from app.login import LoginRefused, give_second_factor, log_in, log_out
from core.accounts import Role, StaffUser
from core.db import DbSession
from core.http import client_ip
from core.i18n import LOCALES, gettext
from core.privacy import CipherDep
from core.security import SESSION_COOKIE, login_cookie, logout_cookie
from core.settings import Settings, SettingsDep

__all__ = ["LOCALE_COOKIE", "Probes", "Readiness", "SitePages", "home_for"]

LOCALE_COOKIE = "fh_lang"

# The page (by route name) where each role lands after logging in.
HOME_BY_ROLE = {
    Role.OPERATOR.value: "hotline:tasks",  # my tasks, with a link to my cases
    Role.SUPERVISOR.value: "hotline:supervision",
    Role.COORDINATOR.value: "roster:list",
    Role.EXPERT.value: "expert:home",  # their own schedule (booking.expert_desk)
    Role.ADMIN.value: "admin:users",
}

AnyRequest = Request[Any, Any, Any]


def home_for(app: Litestar, user: StaffUser) -> str:
    return app.route_reverse(HOME_BY_ROLE.get(user.role, "home"))


def _safe_next(target: str | None) -> str | None:
    """Only same-site paths: a crafted ?next=https://evil.example must not redirect off the site."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@dataclass(frozen=True)
class LoginForm:
    # Missing fields are empty: they fail as a wrong password does, not as a malformed request.
    username: str = ""
    password: str = ""
    next: str = ""  # where the login page was sent from; only a same-site path is followed


@dataclass(frozen=True)
class LanguageForm:
    locale: str = ""
    next: str = ""  # the page to go back to


@dataclass(frozen=True)
class SecondFactorForm:
    code: str = ""
    next: str = ""


def _second_factor_page(next_target: str, *, error: str | None, status_code: int) -> Template:
    return Template(
        template_name="login_second_factor.html",
        context={"next": next_target, "error": error},
        status_code=status_code,
    )


def _login_page(next_target: str, *, error: str | None, notice: str | None, status_code: int) -> Template:
    return Template(
        template_name="login.html",
        context={"next": next_target, "error": error, "notice": notice},
        status_code=status_code,
    )


class SitePages(Controller):
    path = "/"
    include_in_schema = False

    @get("/", name="home", sync_to_thread=False)
    def home(self) -> Template:
        return Template(template_name="home.html", context={})

    @get("/login", name="login:form", sync_to_thread=False)
    def login_form(self, next: FromQuery[str | None] = None) -> Template:
        target = _safe_next(next)
        # Sent here from a page that needs a login: say so, or the redirect looks like a lost page.
        notice = gettext("Please log in.") if target else None
        return _login_page(target or "", error=None, notice=notice, status_code=200)

    @post("/login", name="login:submit")
    async def login_submit(
        self, request: AnyRequest, db: DbSession, settings: SettingsDep, data: URLEncodedBody[LoginForm]
    ) -> Template | Redirect:
        next_target = _safe_next(data.next) or ""
        try:
            logged_in = await log_in(
                db, username=data.username, password=data.password, client_ip=client_ip(request)
            )
        except LoginRefused as exc:
            return _login_page(
                next_target, error=gettext(exc.message), notice=None, status_code=exc.status_code
            )
        cookie = login_cookie(logged_in.session_token, settings)
        if logged_in.needs_second_factor:
            step = request.app.route_reverse("login:second_factor_form")
            return Redirect(f"{step}?next={quote(next_target)}", status_code=303, cookies=[cookie])
        return Redirect(
            next_target or home_for(request.app, logged_in.user), status_code=303, cookies=[cookie]
        )

    @get("/login/second-factor", name="login:second_factor_form", sync_to_thread=False)
    def second_factor_form(self, next: FromQuery[str | None] = None) -> Template:
        return _second_factor_page(_safe_next(next) or "", error=None, status_code=200)

    @post("/login/second-factor", name="login:second_factor")
    async def second_factor(
        self,
        request: AnyRequest,
        db: DbSession,
        cipher: CipherDep,
        data: URLEncodedBody[SecondFactorForm],
    ) -> Template | Redirect:
        next_target = _safe_next(data.next) or ""
        try:
            user = await give_second_factor(
                db,
                cipher,
                session_token=request.cookies.get(SESSION_COOKIE, ""),
                code=data.code,
                client_ip=client_ip(request),
            )
        except LoginRefused as exc:
            if exc.status_code == 401:  # the password step expired: start again
                return Redirect(request.app.route_reverse("login:form"), status_code=303)
            return _second_factor_page(next_target, error=gettext(exc.message), status_code=exc.status_code)
        return Redirect(next_target or home_for(request.app, user), status_code=303)

    @post("/logout", name="logout")
    async def logout(self, request: AnyRequest, db: DbSession, settings: SettingsDep) -> Redirect:
        await log_out(db, request.cookies.get(SESSION_COOKIE))
        return Redirect(request.app.route_reverse("home"), status_code=303, cookies=[logout_cookie(settings)])

    @post("/language", name="language")
    async def choose_language(self, request: AnyRequest, data: URLEncodedBody[LanguageForm]) -> Redirect:
        back = _safe_next(data.next) or request.app.route_reverse("home")
        if data.locale not in LOCALES:
            return Redirect(back, status_code=303)
        return Redirect(
            back,
            status_code=303,
            cookies=[
                Cookie(key=LOCALE_COOKIE, value=data.locale, max_age=365 * 86400, samesite="lax", path="/")
            ],
        )


@dataclass(frozen=True)
class Readiness:
    status: str  # "ok", "degraded" (Redis away: SMS still go out, later) or "unavailable" (no database)
    checks: dict[str, str]  # dependency -> "ok", "degraded: <exception type>" or "error: <exception type>"


class Probes(Controller):
    """For the orchestrator: in the OpenAPI description, unlike the pages."""

    path = "/"
    tags = ("operations",)

    @get("/health", name="health", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        """The process is up (liveness)."""
        return {"status": "ok"}

    @get(
        "/ready",
        name="ready",
        responses={
            503: ResponseSpec(
                data_container=Readiness,
                description="A dependency does not answer: send no traffic here.",
                generate_examples=False,
            )
        },
    )
    async def ready(self, state: State) -> Response[Readiness]:
        """The database answers: safe to send traffic here. Redis only rings the worker's doorbell (the
        worker sends from the database without it), so Redis away is reported as degraded, not as
        unavailable."""
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
            return Response(Readiness(status="unavailable", checks=checks), status_code=503)
        status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
        return Response(Readiness(status=status, checks=checks), status_code=200)
