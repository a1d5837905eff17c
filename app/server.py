"""create_app(settings): plugins, routers, templates, error pages. No business rules here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from sqlalchemy.ext.asyncio import AsyncEngine

from app.nul_guard import RefuseNulMiddleware
from app.pages import LOCALE_COOKIE
from app.security_headers import SecurityHeadersMiddleware
from app.wiring import notification_runtime, route_handlers
from core.db import AsyncSession, create_engine, create_sessionmaker
from core.errors import UserFacingError
from core.i18n import N_, gettext, negotiate_locale, use_locale
from core.periodic import PeriodicJob
from core.privacy import FieldCipher
from core.security import CSRF_REFUSAL_DETAIL, AccountSetupRequired, LoginSessionMiddleware, csrf_config
from core.settings import PROJECT_ROOT, Settings
from core.templating import create_template_config
from hotline.red_alerts import RedAlertWatch
from hotline.voice_runtime import VoiceRuntime
from notifications.runtime import NotificationRuntime
from notifications.sms import SmsSender
from reports.reminders import remind_unsigned_reports

__all__ = ["create_app"]

log = logging.getLogger(__name__)


# Addresses for programs, not people: their errors are JSON whatever the client accepts. They are the
# routes of the OpenAPI description (and Twilio's webhooks): API clients, calendar programs, probes.
EMBEDDED_REPORT_REMINDER_SECONDS = 3600
_MACHINE_PREFIXES = ("/api/", "/webhooks/", "/calendar/")
_MACHINE_PATHS = frozenset({"/health", "/ready"})


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES) or path in _MACHINE_PATHS:
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _error_response(
    request: Request[Any, Any, Any],
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    if _wants_json(request):
        return Response({"detail": message, **extra}, status_code=status, headers=headers)
    return Template(
        template_name="error.html",
        context={"status": status, "message": message, **extra},
        status_code=status,
        headers=headers,
    )


def _user_facing(request: Request[Any, Any, Any], exc: UserFacingError) -> Response[Any]:
    message = gettext(exc.message).format(**exc.format_args) if exc.format_args else gettext(exc.message)
    extra = dict(exc.extra)
    if "errors" in extra:
        extra["errors"] = {field: gettext(msg) for field, msg in extra["errors"].items()}
    return _error_response(request, exc.status_code, message, **extra)


def _not_authorized(request: Request[Any, Any, Any], exc: NotAuthorizedException) -> Response[Any]:
    if _wants_json(request):
        return Response({"detail": gettext("Please log in.")}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = request.app.route_reverse("login:form")
    return Redirect(f"{login}?next={quote(target)}", status_code=303)


def _setup_first(request: Request[Any, Any, Any], exc: AccountSetupRequired) -> Response[Any]:
    message = N_("Finish setting up your account first: choose a new password or set up two-factor login.")
    if _wants_json(request):
        return Response({"detail": gettext(message)}, status_code=403)
    return Redirect(request.app.route_reverse("account:security"), status_code=303)


def _forbidden(request: Request[Any, Any, Any], exc: PermissionDeniedException) -> Response[Any]:
    # Litestar's CSRF middleware refuses with this exception too. A form left open too long or a lost
    # cookie is no question of role, and reloading the page fixes it.
    if exc.detail == CSRF_REFUSAL_DETAIL:
        message = N_("This form has expired. Go back, reload the page and try again.")
    else:
        message = N_("Your role does not allow this page.")
    return _error_response(request, 403, gettext(message))


def _not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    return _error_response(request, 404, gettext("This page does not exist or is no longer available."))


def _invalid(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    return _error_response(
        request,
        400,
        gettext("The request was not understood: some fields are missing or malformed."),
        errors=exc.extra if isinstance(exc.extra, list | dict) else None,
    )


_PLAIN_HTTP_ERRORS = {
    400: N_("The request could not be understood: its data is incomplete or malformed."),
    405: N_("This address does not accept this kind of request."),
    413: N_("The request is too large."),
    415: N_("The request's data is in a format this address does not accept."),
    429: N_("Too many requests. Wait a moment, then try again."),
}


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code >= 500:
        log.error("server error on %s: %s", request.url.path, exc.detail)
        return _error_response(request, exc.status_code, gettext("Something went wrong on our side."))
    # Litestar's own details are technical English ("Input data was truncated"); a person gets a sentence
    # in their language. Its headers stay: a 405 must say which methods the path allows (`Allow`).
    message = _PLAIN_HTTP_ERRORS.get(exc.status_code, N_("The request could not be understood."))
    return _error_response(request, exc.status_code, gettext(message), headers=exc.headers)


def _crash(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return _error_response(request, 500, gettext("Something went wrong on our side. Nothing was saved."))


def _use_readers_locale(request: Request[Any, Any, Any]) -> None:
    settings: Settings = request.app.state.settings
    use_locale(
        negotiate_locale(
            request.cookies.get(LOCALE_COOKIE),
            request.headers.get("accept-language"),
            settings.default_locale,
        )
    )


async def _choose_locale(request: Request[Any, Any, Any]) -> None:
    _use_readers_locale(request)


ErrorHandler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def _in_readers_language(handler: ErrorHandler) -> ErrorHandler:
    """Some errors are raised before `before_request` has chosen the reader's language: a CSRF refusal,
    an unknown path or method. Each error answer chooses it again."""

    def answer(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        _use_readers_locale(request)
        return handler(request, exc)

    return answer


async def provide_db(state: State) -> AsyncIterator[AsyncSession]:
    """The one request-scoped session; what a handler did not commit is rolled back. Outbox rows added in
    it are dispatched after it commits (wired on the sessionmaker by `app.wiring`)."""
    async with state.sessionmaker() as session:
        try:
            yield session
        finally:
            if session.in_transaction():
                await session.rollback()


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_cipher(state: State) -> FieldCipher:
    cipher: FieldCipher = state.cipher
    return cipher


def create_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    sms_sender: SmsSender | None = None,
) -> Litestar:
    """Build the app. Tests pass their own engine and SMS sender; everything else comes from settings."""
    engine = engine or create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    cipher = FieldCipher(settings.data_key)
    notifications: NotificationRuntime = notification_runtime(settings, sessionmaker, cipher, sms_sender)
    # Embedded mode has no worker to run the lights check on a clock: the web process does.
    red_alerts = RedAlertWatch(sessionmaker, settings, cipher) if notifications.embedded else None
    # …and the reports' reminder of a report falling due unsigned (the worker's daily cron); hourly here,
    # since the reminder is claimed once per person in the database however often it runs.
    report_reminder = (
        PeriodicJob(
            "report-reminder",
            lambda: remind_unsigned_reports(sessionmaker, settings, cipher),
            EMBEDDED_REPORT_REMINDER_SECONDS,
        )
        if notifications.embedded
        else None
    )
    voice = VoiceRuntime(sessionmaker, settings, cipher, run_sweep=notifications.embedded)

    async def on_startup(app: Litestar) -> None:
        await notifications.start()
        if red_alerts is not None:
            red_alerts.start()
        if report_reminder is not None:
            report_reminder.start()
        voice.start()

    async def on_shutdown(app: Litestar) -> None:
        await voice.stop()
        if red_alerts is not None:
            await red_alerts.stop()
        if report_reminder is not None:
            await report_reminder.stop()
        await notifications.stop()
        await engine.dispose()

    static = create_static_files_router(path="/static", directories=[PROJECT_ROOT / "static"], name="static")

    return Litestar(
        route_handlers=[*route_handlers(), static],
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "sessionmaker": sessionmaker,
                "cipher": cipher,
                "notifications": notifications,
                "red_alerts": red_alerts,
                "report_reminder": report_reminder,
                "voice": voice,
            }
        ),
        dependencies={
            "db": Provide(provide_db),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "cipher": Provide(provide_cipher, sync_to_thread=False),
        },
        middleware=[
            SecurityHeadersMiddleware(),
            RefuseNulMiddleware(),
            # OPTIONS too, which Litestar skips by default (for CORS preflights, which we do not serve):
            # the role guards read `request.user`, unset on a request the middleware skipped (a 500).
            DefineMiddleware(
                LoginSessionMiddleware, exclude=["^/static", "^/health$"], exclude_http_methods=[]
            ),
        ],
        csrf_config=csrf_config(settings),
        template_config=create_template_config(settings.site_timezone),
        before_request=_choose_locale,
        exception_handlers={
            error: _in_readers_language(handler)
            for error, handler in (
                (UserFacingError, _user_facing),
                (AccountSetupRequired, _setup_first),
                (NotAuthorizedException, _not_authorized),
                (PermissionDeniedException, _forbidden),
                (NotFoundException, _not_found),
                (ValidationException, _invalid),
                (HTTPException, _http_error),
                (Exception, _crash),
            )
        },
        openapi_config=OpenAPIConfig(title="family-hotline", version="0.1.0", path="/schema"),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=settings.debug,
    )
