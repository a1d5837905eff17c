"""What a parent (or an operator for them) types into the booking form, and its validation."""

from __future__ import annotations

from dataclasses import dataclass

from booking.errors import BookingInvalid
from booking.models import Expert
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.vocabulary import CATEGORIES

__all__ = ["CleanDetails", "ParentDetails", "validate_details"]

NAME_MAX = 40
NOTES_MAX = 1000


@dataclass(frozen=True)
class ParentDetails:
    """What a parent types into the booking form, before validation."""

    name: str
    phone: str
    topic: str = "parenting"
    notes: str = ""


@dataclass(frozen=True)
class CleanDetails:
    name: str
    phone_e164: str
    topic: str
    notes: str


def validate_details(expert: Expert, mode: str, details: ParentDetails) -> CleanDetails:
    errors: dict[str, str] = {}
    name = " ".join(details.name.split())
    if not name:
        errors["name"] = N_("Enter your name (a surname or nickname is enough).")
    elif len(name) > NAME_MAX:
        errors["name"] = N_("A name can have at most 40 characters.")
    phone = ""
    try:
        phone = normalize_mainland_mobile(details.phone)
    except InvalidFormat as exc:
        errors["phone"] = str(exc)
    if mode not in expert.mode_codes:
        errors["mode"] = N_("Choose one of the ways this expert offers consultations.")
    topic = details.topic or "parenting"
    if topic not in CATEGORIES:
        errors["topic"] = N_("Choose a topic from the list.")
    notes = details.notes.strip()
    if len(notes) > NOTES_MAX:
        errors["notes"] = N_("Notes can have at most 1000 characters.")
    if errors:
        raise BookingInvalid(errors)
    return CleanDetails(name=name, phone_e164=phone, topic=topic, notes=notes)
