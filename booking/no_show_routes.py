"""The coordinators' page for one phone number's standing in online booking: its no-shows, a suspension
in force, whether it opted out of SMS; and lifting the suspension with a reason (audited).

The number travels only in POST bodies (never in a URL, so never in a log), and each look-up is audited
as a read of personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, get, post
from litestar.params import URLEncodedBody
from litestar.response import Template

from booking.no_shows import lift_suspension, no_show_record
from booking.online_admission import active_bookings
from booking.roster_routes import ROSTER_EDITORS, StaffRequest
from core.audit import record_audit
from core.db import AsyncSession, DbSession, utcnow
from core.http import client_ip
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.privacy import CipherDep, FieldCipher, mask_phone, phone_index
from core.settings import Settings, SettingsDep
from notifications.opt_out import is_opted_out

__all__ = ["LiftForm", "NoShowPages", "PhoneForm"]

REASON_MAX = 500


@dataclass(frozen=True)
class PhoneForm:
    phone: str = ""


@dataclass(frozen=True)
class LiftForm:
    phone: str = ""
    reason: str = ""


def _page(context: dict[str, Any], status: int = 200) -> Template:
    base: dict[str, Any] = {"phone": "", "masked": "", "record": None, "errors": {}}
    base |= {"lifted": False, "notice": None}
    return Template(
        template_name="roster/no_shows.html",
        context={**base, **context},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


async def _standing(
    db: AsyncSession, settings: Settings, cipher: FieldCipher, phone: str, status: int = 200, **extra: Any
) -> Template:
    index = phone_index(cipher, phone)
    now = utcnow()
    return _page(
        {
            "phone": phone,
            "masked": mask_phone(phone),
            "record": await no_show_record(db, settings, index, now=now),
            "opted_out": await is_opted_out(db, index),
            "active": await active_bookings(db, index, now),
            "settings": settings,
            **extra,
        },
        status,
    )


class NoShowPages(Controller):
    path = "/roster/no-shows"
    guards = (ROSTER_EDITORS,)
    include_in_schema = False

    @get("/", name="no_shows:form")
    async def form(self) -> Template:
        return _page({})

    @post("/lookup", name="no_shows:lookup")
    async def lookup(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: URLEncodedBody[PhoneForm],
    ) -> Template:
        try:
            phone = normalize_mainland_mobile(data.phone)
        except InvalidFormat as exc:
            return _page({"phone": data.phone, "errors": {"phone": str(exc)}}, 400)
        record_audit(
            db,
            actor_id=request.user.id,
            actor_label=request.user.username,
            action="booking.no_show_lookup",
            object_type="phone",
            object_id=mask_phone(phone),
            client_ip=client_ip(request),
        )
        await db.commit()
        return await _standing(db, settings, cipher, phone)

    @post("/lift", name="no_shows:lift")
    async def lift(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        data: URLEncodedBody[LiftForm],
    ) -> Template:
        try:
            phone = normalize_mainland_mobile(data.phone)
        except InvalidFormat as exc:
            return _page({"phone": data.phone, "errors": {"phone": str(exc)}}, 400)
        reason = " ".join(data.reason.split())
        if not reason or len(reason) > REASON_MAX:
            errors = {"reason": N_("Write why the suspension is lifted (at most 500 characters).")}
            return await _standing(db, settings, cipher, phone, 400, errors=errors)
        record = await no_show_record(db, settings, phone_index(cipher, phone))
        if not record.suspended:
            notice = N_("This number is not suspended.")
            return await _standing(db, settings, cipher, phone, 409, notice=notice)
        await lift_suspension(
            db,
            cipher,
            phone_index=phone_index(cipher, phone),
            reason=reason,
            actor_id=request.user.id or 0,
            actor_label=request.user.username,
            client_ip=client_ip(request),
        )
        return await _standing(db, settings, cipher, phone, lifted=True)
