"""The agency directory (转介机构): the bodies a unit refers cases to, with the contact who receives the
link, and how many working days they are expected to take to report back.

Scope rule: a case may be referred to the agencies of its own unit and of every unit above it — a
province's public-security contact serves each district below — so staff choose among those (for their
own unit's cases, their unit's and its parents'). A supervisor *keeps* (adds, edits, deactivates) only
the agencies of their own unit and the units below it, as with every other record
(`core.units.visible_to`); the directory shows both. A sibling unit's agencies are neither usable nor
visible: 404.

Contact name and phone are personal data: stored encrypted, the phone masked in lists. The phone is a
mainland mobile (normalised to E.164, and the referral link goes to it by SMS) or a landline with its
area code (`0571-87001234`); an agency with only a landline gets no SMS, and the operator passes the link on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import col, select

from core.accounts import StaffUser
from core.db import AsyncSession, get_by_outside_id
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.privacy import FieldCipher, mask_phone
from core.units import OrgUnit, is_visible, visible_to
from hotline import cipher_contexts
from hotline.case_terms import AGENCY_KINDS
from hotline.casework_models import Agency

__all__ = [
    "CONTACT_NAME_CONTEXT",
    "CONTACT_PHONE_CONTEXT",
    "AgencyForm",
    "AgencyRow",
    "agency_mobile",
    "editable_agency",
    "list_agencies",
    "save_agency",
    "set_agency_active",
    "usable_agency",
]

CONTACT_NAME_CONTEXT = cipher_contexts.AGENCY_CONTACT_NAME
CONTACT_PHONE_CONTEXT = cipher_contexts.AGENCY_CONTACT_PHONE
FEEDBACK_DAYS_MIN, FEEDBACK_DAYS_MAX = 1, 60

# Area code 0 + 2 or 3 digits, then 7 or 8 digits; an extension after "-" or "转" is allowed.
_LANDLINE = re.compile(r"^(0\d{2,3})-?(\d{7,8})(?:(?:-|转)(\d{1,6}))?$")


def normalize_contact_phone(raw: str) -> str:
    """E.164 for a mobile, `0AREA-NUMBER[-EXT]` for a landline; InvalidFormat otherwise."""
    cleaned = re.sub(r"[\s()]", "", raw or "")
    landline = _LANDLINE.match(cleaned)
    if landline:
        area, number, extension = landline.groups()
        return f"{area}-{number}" + (f"-{extension}" if extension else "")
    try:
        return normalize_mainland_mobile(cleaned)
    except InvalidFormat as exc:
        raise InvalidFormat(
            N_("Enter a mainland mobile number, or a landline with its area code (e.g. 0571-87001234).")
        ) from exc


@dataclass(frozen=True)
class AgencyForm:
    name: str = ""
    kind: str = ""
    district: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    feedback_days: str = "5"  # text, so a wrong number is a field error rather than a parser's 400

    def checked(self, *, phone_on_file: bool = False) -> tuple[str, str, str, str, str, int]:
        """The cleaned fields; with `phone_on_file`, a blank phone means "keep the number we have"."""
        errors: dict[str, str] = {}
        name = " ".join(self.name.split())
        if not name or len(name) > 120:
            errors["name"] = N_("Enter the agency's name (at most 120 characters).")
        if self.kind not in AGENCY_KINDS:
            errors["kind"] = N_("Choose the kind of agency.")
        district = " ".join(self.district.split())
        if len(district) > 60:
            errors["district"] = N_("At most 60 characters.")
        contact = " ".join(self.contact_name.split())
        if not contact or len(contact) > 60:
            errors["contact_name"] = N_("Enter the contact person's name (at most 60 characters).")
        phone = ""
        if not (phone_on_file and not self.contact_phone.strip()):
            try:
                phone = normalize_contact_phone(self.contact_phone)
            except InvalidFormat as exc:
                errors["contact_phone"] = str(exc)
        days = 0
        try:
            days = int(self.feedback_days.strip())
        except ValueError:
            days = 0
        if not FEEDBACK_DAYS_MIN <= days <= FEEDBACK_DAYS_MAX:
            errors["feedback_days"] = N_("Enter a whole number of working days from 1 to 60.")
        if errors:
            raise FormInvalid(errors)
        return name, self.kind, district, contact, phone, days


@dataclass(frozen=True)
class AgencyRow:
    id: int
    name: str
    kind: str
    district: str
    contact_name: str
    contact_phone_masked: str
    feedback_days: int
    active: bool
    editable: bool  # of the viewer's unit or below: a supervisor may change it
    can_text: bool  # the contact phone is a mobile: the link goes by SMS


async def _unit_chain(session: AsyncSession, unit_id: int) -> list[int]:
    """The unit's own id and its ancestors', from its path."""
    path = (await session.exec(select(OrgUnit.path).where(OrgUnit.id == unit_id))).one()
    return [int(part) for part in path.strip("/").split("/") if part]


async def usable_agency(session: AsyncSession, agency_id: int, unit_id: int) -> Agency:
    """An active agency that a case of `unit_id` may be referred to; NotFound otherwise."""
    agency = await get_by_outside_id(session, Agency, agency_id)
    if agency is None or not agency.active or agency.unit_id not in await _unit_chain(session, unit_id):
        raise NotFound(N_("No agency has this number."))
    return agency


async def editable_agency(session: AsyncSession, agency_id: int, viewer: StaffUser) -> Agency:
    agency = await get_by_outside_id(session, Agency, agency_id)
    if agency is None or not await is_visible(session, agency.unit_id, viewer.unit_id):
        raise NotFound(N_("No agency has this number."))
    return agency


async def list_agencies(
    session: AsyncSession,
    cipher: FieldCipher,
    viewer: StaffUser,
    *,
    keeping: bool = False,
    for_unit_id: int | None = None,
) -> list[AgencyRow]:
    """The active agencies a case of `for_unit_id` (default: the viewer's unit) may be referred to.
    `keeping` (a supervisor's directory): also those of the units below and those not in use."""
    chain = await _unit_chain(session, for_unit_id or viewer.unit_id)
    if keeping:
        query = select(Agency).where(
            col(Agency.unit_id).in_(chain) | visible_to(Agency.unit_id, viewer.unit_id)
        )
    else:
        query = select(Agency).where(col(Agency.unit_id).in_(chain), col(Agency.active).is_(True))
    rows = await session.exec(query.order_by(col(Agency.kind), col(Agency.name), col(Agency.id)))
    viewer_chain = chain if for_unit_id is None else await _unit_chain(session, viewer.unit_id)
    result = []
    for agency in rows.all():
        phone = cipher.decrypt_optional(agency.contact_phone_ciphertext, context=CONTACT_PHONE_CONTEXT)
        result.append(
            AgencyRow(
                id=agency.id or 0,
                name=agency.name,
                kind=agency.kind,
                district=agency.district,
                contact_name=cipher.decrypt_optional(
                    agency.contact_name_ciphertext, context=CONTACT_NAME_CONTEXT
                )
                or "",
                contact_phone_masked=mask_phone(phone),
                feedback_days=agency.feedback_days,
                active=agency.active,
                # Of the viewer's unit or below: not one of the units above the viewer's.
                editable=agency.unit_id not in viewer_chain[:-1],
                can_text=bool(phone and phone.startswith("+86")),
            )
        )
    return result


def agency_mobile(cipher: FieldCipher, agency: Agency) -> str | None:
    """The contact's mobile in E.164, or None when the agency has a landline only."""
    phone = cipher.decrypt_optional(agency.contact_phone_ciphertext, context=CONTACT_PHONE_CONTEXT)
    return phone if phone and phone.startswith("+86") else None


async def save_agency(
    session: AsyncSession,
    cipher: FieldCipher,
    form: AgencyForm,
    *,
    viewer: StaffUser,
    agency: Agency | None = None,
) -> Agency:
    """Add an agency to the viewer's unit, or change one within the viewer's scope. Joins the caller's
    transaction."""
    name, kind, district, contact, phone, days = form.checked(phone_on_file=agency is not None)
    if agency is None:
        agency = Agency(unit_id=viewer.unit_id, name=name, kind=kind)
    agency.name = name
    agency.kind = kind
    agency.district = district
    agency.contact_name_ciphertext = cipher.encrypt(contact, context=CONTACT_NAME_CONTEXT)
    if phone:
        agency.contact_phone_ciphertext = cipher.encrypt(phone, context=CONTACT_PHONE_CONTEXT)
    agency.feedback_days = days
    session.add(agency)
    await session.flush()
    return agency


def set_agency_active(agency: Agency, active: bool) -> None:
    # Deactivated, never deleted: referrals already sent keep pointing at it.
    agency.active = active
