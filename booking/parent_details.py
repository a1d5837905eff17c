"""What a parent (or an operator for them) types into the booking form, and its validation."""

from __future__ import annotations

from dataclasses import dataclass

from booking.errors import BookingInvalid
from booking.models import Expert
from core.i18n import N_
from core.mainland_formats import InvalidFormat, normalize_mainland_mobile
from core.vocabulary import CATEGORIES

__all__ = ["CleanDetails", "ParentBookingForm", "ParentDetails", "validate_details"]

NAME_MAX = 40
NOTES_MAX = 1000


@dataclass(frozen=True)
class ParentDetails:
    """What a parent types into the booking form, before validation."""

    name: str
    phone: str
    topic: str = "parenting"
    notes: str = ""
    # The parent's own tick on the booking page. None where the channel has no such box: an operator
    # booking on the phone heard the parent agree, and the JSON API has no consent field.
    consented: bool | None = None


@dataclass(frozen=True)
class ParentBookingForm:
    """The parent's booking page as posted (the expert is in the URL). A missing field arrives empty, so
    the page comes back with that field marked instead of a bare "malformed request"."""

    starts_at: str = ""
    name: str = ""
    phone: str = ""
    topic: str = ""
    mode: str = ""
    notes: str = ""
    consent: str = ""  # "yes" when the box is ticked; a browser sends nothing for an unticked box

    def details(self) -> ParentDetails:
        return ParentDetails(
            name=self.name,
            phone=self.phone,
            topic=self.topic,
            notes=self.notes,
            consented=self.consent == "yes",
        )


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
    if details.consented is False:
        errors["consent"] = N_("Please tick the box to agree that we use your details for this booking.")
    if errors:
        raise BookingInvalid(errors)
    return CleanDetails(name=name, phone_e164=phone, topic=topic, notes=notes)
