"""A staff user's own account: their password, their second factor (`/account/security`), and for
operators and supervisors the mobile that alerts go to; supervisors also say when they are on duty.

The one staff page that admits a user who still owes a new password or a second factor: every other
staff page sends them here first (`core.security.requires_staff`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import col, update

from app.pages import home_for
from core.accounts import Role, StaffUser, change_password
from core.audit import record_staff_act
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import N_, gettext
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.privacy import CipherDep, FieldCipher, mask_phone
from core.security import requires_login_only, requires_roles
from core.settings import SettingsDep
from core.two_factor import confirm_enrolment, start_enrolment
from hotline.alerts import MOBILE_CONTEXT
from hotline.page_helpers import hotline_staff_only

__all__ = ["AccountPages"]

StaffRequest = Request[StaffUser, Any, Any]
_PRIVATE = {"Cache-Control": "no-store"}  # recovery codes and the TOTP key must not stay in a cache


@dataclass(frozen=True)
class PasswordForm:
    current_password: str = ""
    new_password: str = ""


@dataclass(frozen=True)
class MobileForm:
    mobile: str = ""  # empty removes the number


@dataclass(frozen=True)
class DutyForm:
    on_duty: str = ""  # "1" on duty, anything else off


@dataclass(frozen=True)
class EnrolForm:
    secret: str = ""  # the key shown with the QR code, posted back with the first code it gave
    code: str = ""


def _alerts_settings(user: StaffUser, cipher: FieldCipher) -> dict[str, Any] | None:
    """What the page shows of the alert settings: only operators and supervisors receive alerts."""
    if user.role not in {Role.OPERATOR, Role.SUPERVISOR}:
        return None
    mobile = cipher.decrypt_optional(user.mobile_ciphertext, context=MOBILE_CONTEXT)
    return {
        "mobile_masked": mask_phone(mobile),
        "can_be_on_duty": user.role == Role.SUPERVISOR,
        "on_duty": user.on_duty,
    }


def _page(
    request: StaffRequest,
    settings: SettingsDep,
    cipher: FieldCipher,
    *,
    status_code: int = 200,
    password_errors: dict[str, str] | None = None,
    enrol_error: str | None = None,
    secret: str | None = None,
    recovery_codes: list[str] | None = None,
    mobile_error: str | None = None,
) -> Template:
    user = request.user
    enrolment = None if user.has_second_factor else start_enrolment(user, secret=secret)
    return Template(
        template_name="account/security.html",
        context={
            "alert_settings": _alerts_settings(user, cipher),
            "mobile_error": mobile_error,
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
    def security_page(self, request: StaffRequest, settings: SettingsDep, cipher: CipherDep) -> Template:
        return _page(request, settings, cipher)

    @post("/security/password", name="account:password")
    async def password(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: URLEncodedBody[PasswordForm],
    ) -> Template | Redirect:
        user = await db.merge(request.user)
        try:
            await change_password(db, user, current=data.current_password, new=data.new_password)
        except FormInvalid as exc:
            return _page(request, settings, cipher, status_code=400, password_errors=exc.errors)
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
            return _page(request, settings, cipher, status_code=400, enrol_error=message, secret=data.secret)
        record_staff_act(db, request.user, "account.2fa_enrolled", client_ip=client_ip(request))
        await db.commit()
        return _page(request, settings, cipher, recovery_codes=codes)

    @post("/security/mobile", name="account:mobile", guards=[hotline_staff_only])
    async def mobile(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: URLEncodedBody[MobileForm],
    ) -> Template | Redirect:
        """The mobile that alerts are sent to by SMS (while on duty); empty removes it."""
        mobile: str | None = None
        if data.mobile.strip():
            try:
                mobile = normalize_mainland_mobile(data.mobile)
            except InvalidFormat as exc:
                return _page(request, settings, cipher, status_code=400, mobile_error=gettext(str(exc)))
        await db.exec(
            update(StaffUser)
            .where(col(StaffUser.id) == request.user.id)
            .values(mobile_ciphertext=cipher.encrypt_optional(mobile, context=MOBILE_CONTEXT))
        )
        action = "account.mobile_set" if mobile else "account.mobile_removed"
        record_staff_act(db, request.user, action, client_ip=client_ip(request))
        await db.commit()
        return Redirect(request.app.route_reverse("account:security"), status_code=303)

    @post("/security/duty", name="account:duty", guards=[requires_roles(Role.SUPERVISOR)])
    async def duty(self, request: StaffRequest, db: DbSession, data: URLEncodedBody[DutyForm]) -> Redirect:
        """A supervisor on duty gets alerts by SMS too (in-app alerts come either way)."""
        on_duty = data.on_duty.strip() == "1"
        await db.exec(update(StaffUser).where(col(StaffUser.id) == request.user.id).values(on_duty=on_duty))
        action = "account.on_duty" if on_duty else "account.off_duty"
        record_staff_act(db, request.user, action, client_ip=client_ip(request))
        await db.commit()
        return Redirect(request.app.route_reverse("account:security"), status_code=303)
