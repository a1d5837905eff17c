"""A staff user's own account: their password and their second factor (`/account/security`).

The one staff page that admits a user who still owes a new password or a second factor: every other
staff page sends them here first (`core.security.requires_staff`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template

from app.pages import home_for
from core.accounts import StaffUser, change_password
from core.audit import record_staff_act
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import N_, gettext
from core.privacy import CipherDep
from core.security import requires_login_only
from core.settings import SettingsDep
from core.two_factor import confirm_enrolment, start_enrolment

__all__ = ["AccountPages"]

StaffRequest = Request[StaffUser, Any, Any]
_PRIVATE = {"Cache-Control": "no-store"}  # recovery codes and the TOTP key must not stay in a cache


@dataclass(frozen=True)
class PasswordForm:
    current_password: str = ""
    new_password: str = ""


@dataclass(frozen=True)
class EnrolForm:
    secret: str = ""  # the key shown with the QR code, posted back with the first code it gave
    code: str = ""


def _page(
    request: StaffRequest,
    settings: SettingsDep,
    *,
    status_code: int = 200,
    password_errors: dict[str, str] | None = None,
    enrol_error: str | None = None,
    secret: str | None = None,
    recovery_codes: list[str] | None = None,
) -> Template:
    user = request.user
    enrolment = None if user.has_second_factor else start_enrolment(user, secret=secret)
    return Template(
        template_name="account/security.html",
        context={
            "user": user,
            "enrolment": enrolment,
            "must_enrol": user.owes_setup(require_2fa=settings.require_2fa) and not user.must_change_password,
            "password_errors": {k: gettext(v) for k, v in (password_errors or {}).items()},
            "enrol_error": enrol_error,
            "recovery_codes": recovery_codes,
            "notice": None,
        },
        status_code=status_code,
        headers=_PRIVATE,
    )


class AccountPages(Controller):
    path = "/account"
    guards = (requires_login_only,)
    include_in_schema = False

    @get("/security", name="account:security", sync_to_thread=False)
    def security_page(self, request: StaffRequest, settings: SettingsDep) -> Template:
        return _page(request, settings)

    @post("/security/password", name="account:password")
    async def password(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, data: URLEncodedBody[PasswordForm]
    ) -> Template | Redirect:
        user = await db.merge(request.user)
        try:
            await change_password(db, user, current=data.current_password, new=data.new_password)
        except FormInvalid as exc:
            return _page(request, settings, status_code=400, password_errors=exc.errors)
        record_staff_act(db, request.user, "account.password_changed", client_ip=client_ip(request))
        await db.commit()
        if user.owes_setup(require_2fa=settings.require_2fa):
            return Redirect(request.app.route_reverse("account:security"), status_code=303)
        return Redirect(home_for(request.app, user), status_code=303)

    @post("/security/two-factor", name="account:enrol")
    async def enrol(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: URLEncodedBody[EnrolForm],
    ) -> Template:
        user = await db.merge(request.user)
        codes = await confirm_enrolment(db, cipher, user, data.secret, data.code) if data.secret else None
        if codes is None:
            message = gettext(
                N_("That code is not right. Check the time on your phone and try the next code.")
            )
            return _page(request, settings, status_code=400, enrol_error=message, secret=data.secret)
        record_staff_act(db, request.user, "account.2fa_enrolled", client_ip=client_ip(request))
        await db.commit()
        return _page(request, settings, recovery_codes=codes)
