"""Per-expert iCalendar feeds that experts subscribe to in their calendar apps.

The feed leaves our servers and is copied into phones and cloud calendars we do not control, so it
carries no parent name and no phone in clear: only a masked phone, the topic and the way of meeting.
The secret feed URL is the only key; a coordinator can regenerate it, which cuts off old subscribers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import col, select

from booking.models import Appointment, AppointmentStatus, Expert
from booking.roster import site_of
from core.db import AsyncSession, utcnow
from core.errors import NotFound
from core.i18n import N_, load_translations
from core.privacy import FieldCipher, mask_phone
from core.settings import Settings
from core.vocabulary import CATEGORIES, MODES, label

__all__ = ["FeedEntry", "feed_for_token", "render_feed"]

REFRESH = timedelta(minutes=15)
HISTORY = timedelta(days=90)  # past consultations kept in the feed; older ones drop out


@dataclass(frozen=True)
class FeedEntry:
    uid: str
    starts_at: datetime
    ends_at: datetime
    status: str  # confirmed | cancelled
    sequence: int
    updated_at: datetime
    created_at: datetime
    topic: str
    mode: str
    masked_phone: str
    place: str


def render_feed(expert_name: str, entries: list[FeedEntry], *, locale: str, detail_url: str) -> bytes:
    """Pure: the calendar text for one expert. Times are UTC (`Z`), so no VTIMEZONE is needed."""
    translate = load_translations(locale).gettext
    cal = Calendar()
    cal.add("prodid", "-//family-hotline//expert bookings//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", translate(N_("Consultations: {name}")).format(name=expert_name))
    # Hints for subscribing apps: RFC 7986 and the older Microsoft/Apple property.
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT15M")
    for entry in entries:
        event = Event()
        event.add("uid", entry.uid)
        # DTSTAMP/LAST-MODIFIED follow the booking's own changes, so an unchanged event reads the same
        # on every fetch and calendar apps do not churn.
        event.add("dtstamp", entry.updated_at)
        event.add("last-modified", entry.updated_at)
        event.add("created", entry.created_at)
        event.add("dtstart", entry.starts_at)
        event.add("dtend", entry.ends_at)
        event.add("sequence", entry.sequence)
        event.add("status", "CANCELLED" if entry.status == AppointmentStatus.CANCELLED else "CONFIRMED")
        event.add("class", "PRIVATE")
        event.add("transp", "OPAQUE")
        mode = translate(MODES.get(entry.mode, entry.mode))
        event.add(
            "summary",
            translate(N_("Consultation: {topic} ({mode})")).format(
                topic=translate(label(CATEGORIES, entry.topic)), mode=mode
            ),
        )
        lines = [translate(N_("Parent's phone: {phone}")).format(phone=entry.masked_phone or "—")]
        lines.append(translate(N_("Details after logging in: {url}")).format(url=detail_url))
        event.add("description", "\n".join(lines))
        if entry.place:
            event.add("location", entry.place)
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical


async def feed_for_token(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, token: str, *, now: datetime | None = None
) -> bytes:
    """The feed of the expert whose current feed token this is; NotFound for anything else."""
    now = now or utcnow()
    expert = (await session.exec(select(Expert).where(Expert.feed_token == token))).first()
    if expert is None or not token:
        raise NotFound(N_("This calendar link is not valid any more. Ask the coordinator for the new one."))
    site = await site_of(session, expert)
    rows = (
        await session.exec(
            select(Appointment)
            .where(
                Appointment.expert_id == expert.id,
                col(Appointment.status).in_((AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED)),
                col(Appointment.confirmed_at).is_not(None),  # holds never confirmed are not events
                Appointment.starts_at >= now - HISTORY,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    entries = [
        FeedEntry(
            uid=a.ical_uid,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            status=a.status,
            sequence=a.sequence,
            updated_at=a.updated_at,
            created_at=a.created_at,
            topic=a.topic,
            mode=a.mode,
            masked_phone=mask_phone(
                cipher.decrypt(a.parent_phone_ciphertext, context="appointment.parent_phone")
            ),
            place=site.name if (site and a.mode == "in_person") else "",
        )
        for a in rows
    ]
    return render_feed(
        expert.name,
        entries,
        locale=settings.default_locale,
        detail_url=f"{settings.public_base_url}/roster/experts/{expert.id}",
    )
