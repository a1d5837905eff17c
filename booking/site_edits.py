"""Coordinators edit a site of their unit scope: its name and address, and its booking rules (the holiday
switch included), which until now could only be reached from an expert of the site's availability page.
The rules form is availability's own (`parse_rules_form`): one reading of those fields."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import select

from booking.availability_exceptions import parse_rules_form
from booking.availability_models import BookingRules
from booking.models import Site
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import FormInvalid, NotFound
from core.i18n import N_
from core.units import get_visible

__all__ = ["SiteDraft", "parse_site_form", "save_site", "site_rules", "visible_site"]

NAME_MAX, ADDRESS_MAX = 120, 300  # the columns' lengths (booking.models.Site)


@dataclass(frozen=True)
class SiteDraft:
    name: str
    address: str
    rules: dict[str, object]  # BookingRules column -> value, None inherits the defaults


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0].strip()


def parse_site_form(form: dict[str, list[str]]) -> SiteDraft:
    """The whole form; FormInvalid names every wrong field at once."""
    errors: dict[str, str] = {}
    name, address = _first(form, "name"), _first(form, "address")
    if not name:
        errors["name"] = N_("Enter the site's name.")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("The name is too long (at most 120 characters).")
    if len(address) > ADDRESS_MAX:
        errors["address"] = N_("The address is too long (at most 300 characters).")
    try:
        rules = parse_rules_form(form)
    except FormInvalid as exc:
        errors.update(exc.errors)
        rules = {}
    if errors:
        raise FormInvalid(errors)
    return SiteDraft(name=name, address=address, rules=rules)


async def visible_site(session: AsyncSession, site_id: int, viewer: StaffUser) -> Site:
    site = await get_visible(session, Site, site_id, viewer.unit_id)
    if site is None:
        raise NotFound(N_("No such site."))
    return site


async def site_rules(session: AsyncSession, site_id: int) -> BookingRules | None:
    return (await session.exec(select(BookingRules).where(BookingRules.site_id == site_id))).first()


async def save_site(
    session: AsyncSession, site_id: int, draft: SiteDraft, *, viewer: StaffUser, client_ip: str | None
) -> Site:
    """Name, address and rules in one commit, audited with the names of what changed."""
    site = await visible_site(session, site_id, viewer)
    rules = await site_rules(session, site.id or 0)
    if rules is None:
        rules = BookingRules(site_id=site.id)
        session.add(rules)
    changed = [field for field in ("name", "address") if getattr(site, field) != getattr(draft, field)]
    changed += [column for column, value in draft.rules.items() if getattr(rules, column) != value]
    site.name, site.address = draft.name, draft.address
    for column, value in draft.rules.items():
        setattr(rules, column, value)
    rules.updated_at = utcnow()
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.site.update",
        object_type="site",
        object_id=site.id or 0,
        detail={"changed": changed},
        client_ip=client_ip,
    )
    await session.commit()
    return site
