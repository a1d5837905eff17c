"""Who is asking: the login-session middleware, role guards, CSRF settings and the login cookie."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from core.accounts import Role, StaffUser, user_for_session_token

if TYPE_CHECKING:
    from litestar.handlers.base import BaseRouteHandler

    from core.settings import Settings

__all__ = [
    "CSRF_REFUSAL_DETAIL",
    "SESSION_COOKIE",
    "AccountSetupRequired",
    "LoginSessionMiddleware",
    "csrf_config",
    "csrf_exempt",
    "login_cookie",
    "logout_cookie",
    "requires_login_only",
    "requires_roles",
    "requires_staff",
]

SESSION_COOKIE = "fh_session"

# The detail of the PermissionDeniedException that Litestar's CSRF middleware raises for a missing or
# wrong token (litestar/middleware/csrf.py, Litestar 2.x): all that tells it apart from a role refusal.
CSRF_REFUSAL_DETAIL = "CSRF token verification failed"


class LoginSessionMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the session cookie to a staff user. Anonymous requests pass with `user=None`; guards
    decide which routes need a login, so the public booking pages work without one."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = connection.cookies.get(SESSION_COOKIE)
        if not token:
            return AuthenticationResult(user=None, auth=None)
        maker = connection.app.state.sessionmaker
        async with maker() as session:
            user = await user_for_session_token(session, token)
        return AuthenticationResult(user=user, auth=token if user else None)


class AccountSetupRequired(NotAuthorizedException):
    """Logged in, but owing a new password or a second factor: the server sends them to their account
    page, which is the one staff page that admits them (guard `requires_login_only`)."""


def requires_login_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if connection.user is None:
        raise NotAuthorizedException("Please log in.")


def requires_staff(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    requires_login_only(connection, handler)
    user: StaffUser = connection.user
    if user.owes_setup(require_2fa=connection.app.state.settings.require_2fa):
        raise AccountSetupRequired("Finish setting up your account first.")


def requires_roles(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """Guard for a controller or route: the user must be logged in and hold one of `roles`."""
    allowed = {r.value for r in roles}

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        requires_staff(connection, handler)
        user: StaffUser = connection.user
        if user.role not in allowed:
            raise PermissionDeniedException("Your role does not allow this page.")

    guard.__name__ = "requires_" + "_or_".join(sorted(allowed))
    return guard


def csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name="fh_csrf",
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
    )


def csrf_exempt() -> dict[str, Any]:
    """`opt` of a controller whose routes skip the CSRF check (`CSRFConfig.exclude_from_csrf_key`).

    Only where no cookie carries authority — the anonymous booking API and the calendar feeds, whose
    credential is a token in the URL or nothing — or where requests are signed another way (Twilio's
    webhooks: Twilio cannot send our token). Everything the login cookie opens keeps the check."""
    return {"exclude_from_csrf": True}


def login_cookie(token: str, settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
        max_age=12 * 3600,
        path="/",
    )


def logout_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE, value="", max_age=0, httponly=True, secure=settings.secure_cookies, path="/"
    )
