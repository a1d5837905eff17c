"""The agency directory pages under /hotline/agencies: operators read it (to choose an agency),
supervisors add, change and deactivate the agencies of their own scope (rules in hotline.agencies)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from litestar import Controller, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from core.accounts import Role
from core.audit import record_audit
from core.db import AsyncSession, DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep, FieldCipher
from core.security import requires_roles
from hotline.agencies import (
    CONTACT_NAME_CONTEXT,
    AgencyForm,
    editable_agency,
    list_agencies,
    save_agency,
    set_agency_active,
)
from hotline.casework_models import Agency
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.referral_section import referral_vocabularies

__all__ = ["ActiveForm", "AgencyPages"]

supervisors_only = requires_roles(Role.SUPERVISOR)


@dataclass(frozen=True)
class ActiveForm:
    active: str = ""  # "1" to use the agency again, anything else to deactivate it


async def _directory(
    request: StaffRequest,
    db: AsyncSession,
    cipher: FieldCipher,
    *,
    form: AgencyForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    supervisor = request.user.role == Role.SUPERVISOR
    return Template(
        template_name="hotline/agencies.html",
        context={
            **page_helpers(),
            **referral_vocabularies(),
            "agencies": await list_agencies(db, cipher, request.user, keeping=supervisor),
            "supervisor": supervisor,
            "values": asdict(form or AgencyForm()),
            "errors": {field: gettext(message) for field, message in (errors or {}).items()},
        },
        status_code=status_code,
    )


def _edit_page(agency_id: int, form: AgencyForm, errors: dict[str, str], status_code: int) -> Template:
    return Template(
        template_name="hotline/agency_form.html",
        context={
            **page_helpers(),
            **referral_vocabularies(),
            "agency_id": agency_id,
            "values": asdict(form),
            "errors": {field: gettext(message) for field, message in errors.items()},
        },
        status_code=status_code,
    )


def _audit(request: StaffRequest, db: AsyncSession, action: str, agency: Agency) -> None:
    record_audit(
        db,
        actor_id=request.user.id,
        actor_label=request.user.username,
        action=action,
        object_type="agency",
        object_id=agency.id or 0,
        client_ip=client_ip(request),
    )


class AgencyPages(Controller):
    path = "/hotline/agencies"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/", name="hotline:agencies")
    async def directory(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Template:
        return await _directory(request, db, cipher)

    @post("/", name="hotline:agency_add", guards=[supervisors_only])
    async def add(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, data: URLEncodedBody[AgencyForm]
    ) -> Template | Redirect:
        try:
            agency = await save_agency(db, cipher, data, viewer=request.user)
        except FormInvalid as exc:
            await db.rollback()
            return await _directory(request, db, cipher, form=data, errors=exc.errors, status_code=400)
        _audit(request, db, "agency.create", agency)
        await db.commit()
        return Redirect(request.app.route_reverse("hotline:agencies"), status_code=303)

    @get("/{agency_id:int}", name="hotline:agency_edit", guards=[supervisors_only])
    async def edit(
        self, request: StaffRequest, db: DbSession, cipher: CipherDep, agency_id: FromPath[int]
    ) -> Template:
        agency = await editable_agency(db, agency_id, request.user)
        form = AgencyForm(
            name=agency.name,
            kind=agency.kind,
            district=agency.district,
            contact_name=cipher.decrypt_optional(agency.contact_name_ciphertext, context=CONTACT_NAME_CONTEXT)
            or "",
            contact_phone="",  # not shown again: leaving it blank keeps the number on file
            feedback_days=str(agency.feedback_days),
        )
        return _edit_page(agency_id, form, {}, 200)

    @post("/{agency_id:int}", name="hotline:agency_save", guards=[supervisors_only])
    async def save(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        agency_id: FromPath[int],
        data: URLEncodedBody[AgencyForm],
    ) -> Template | Redirect:
        agency = await editable_agency(db, agency_id, request.user)
        try:
            await save_agency(db, cipher, data, viewer=request.user, agency=agency)
        except FormInvalid as exc:
            await db.rollback()
            return _edit_page(agency_id, data, exc.errors, 400)
        _audit(request, db, "agency.update", agency)
        await db.commit()
        return Redirect(request.app.route_reverse("hotline:agencies"), status_code=303)

    @post("/{agency_id:int}/active", name="hotline:agency_active", guards=[supervisors_only])
    async def toggle(
        self, request: StaffRequest, db: DbSession, agency_id: FromPath[int], data: URLEncodedBody[ActiveForm]
    ) -> Redirect:
        agency = await editable_agency(db, agency_id, request.user)
        set_agency_active(agency, data.active == "1")
        db.add(agency)
        _audit(request, db, "agency.activate" if agency.active else "agency.deactivate", agency)
        await db.commit()
        return Redirect(request.app.route_reverse("hotline:agencies"), status_code=303)
