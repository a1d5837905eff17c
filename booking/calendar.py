"""Secret iCalendar feeds: one per expert for their calendar app, one per site for its reception.

A feed leaves our servers and is copied into phones and cloud calendars we do not control, so it carries
no parent name and no phone in clear: only a masked phone, the topic and the way of meeting. The secret
feed URL is the only key; a coordinator can regenerate it, which cuts off old subscribers.

Calendar apps poll every few minutes, so an unchanged feed is answered `304 Not Modified`: its validator
(ETag and Last-Modified) is one aggregate query — count, latest `updated_at` and the sum of SEQUENCE over
the feed's events — plus a fingerprint of what the calendar shows besides its events (names, places,
language). Every change to an event bumps its `updated_at` (a cancellation bumps SEQUENCE too), so the
validator changes with it. A full feed is written by `booking.ical_text`, off the event loop when large,
and kept by its ETag (`booking.feed_cache`) for the polls that send no validator.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sql_select  # sqlmodel's select() types at most four columns
from sqlmodel import col, select

from booking.feed_cache import RenderedFeeds
from booking.feed_links import SITE_FEED, feed_token
from booking.ical_text import CalendarWriter, content_line, escape_text, utc_stamp
from booking.models import Appointment, AppointmentStatus, Expert, Site, SiteFeed
from booking.tokens import token_hash
from core.db import AsyncSession, utcnow
from core.errors import NotFound
from core.i18n import N_, load_translations
from core.privacy import FieldCipher, mask_phone
from core.settings import Settings
from core.vocabulary import CATEGORIES, MODES, label

__all__ = [
    "RENDERED",
    "Feed",
    "FeedEntry",
    "FeedScope",
    "FeedVersion",
    "expert_feed",
    "is_unchanged",
    "render_feed",
    "site_feed",
    "site_feed_token",
]

REFRESH = "PT15M"
HISTORY = timedelta(days=90)  # past consultations kept in the feed; older ones drop out
THREAD_FROM = 200  # events from which a feed is decrypted and written in a worker thread
RENDERED = RenderedFeeds(max_bytes=32 * 1024 * 1024)  # about fifteen 5,000-event feeds
_FORMAT = "2"  # part of every ETag: a change to how feeds are written invalidates every cached copy
_FEED_STATUSES = (AppointmentStatus.CONFIRMED, AppointmentStatus.CANCELLED)
_NOT_VALID = N_("This calendar link is not valid any more. Ask the coordinator for the new one.")


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
    detail_url: str = ""  # the expert's page, for staff who log in
    expert_name: str = ""  # set in a site's feed, where events of several experts meet


@dataclass(frozen=True)
class FeedExpert:
    name: str
    place: str  # the site's name, shown as LOCATION of in-person consultations
    detail_url: str


@dataclass(frozen=True)
class FeedScope:
    """Whose events a feed holds and what it shows besides them."""

    title: str  # X-WR-CALNAME, translated
    locale: str
    experts: dict[int, FeedExpert]
    edited_at: datetime  # the latest change to the experts themselves (their roster entries)
    per_expert_summary: bool = False  # a site's feed names the expert in each event
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        parts = [self.title, self.locale, str(self.per_expert_summary)]
        parts += [f"{i}\x1f{e.name}\x1f{e.place}\x1f{e.detail_url}" for i, e in sorted(self.experts.items())]
        object.__setattr__(self, "fingerprint", hashlib.sha256("\x1e".join(parts).encode()).hexdigest())


@dataclass(frozen=True)
class FeedVersion:
    etag: str  # quoted, as sent in the ETag header
    last_modified: datetime


@dataclass(frozen=True)
class Feed:
    version: FeedVersion
    body: bytes | None  # None: the client's copy is current, answer 304


def _version(scope: FeedScope, count: int, latest: datetime | None, sequences: int) -> FeedVersion:
    stamp = latest.isoformat() if latest else "-"
    digest = hashlib.sha256(f"{_FORMAT}|{count}|{stamp}|{sequences}|{scope.fingerprint}".encode())
    last_modified = max(latest, scope.edited_at) if latest else scope.edited_at
    return FeedVersion(etag=f'"{digest.hexdigest()[:40]}"', last_modified=last_modified)


def is_unchanged(version: FeedVersion, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """RFC 9110 §13.1: If-None-Match decides when present (weak comparison); otherwise If-Modified-Since,
    at the one-second precision of HTTP dates. An unreadable date is ignored, as the RFC says."""
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or version.etag in tags
    if not if_modified_since:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    since = since.replace(tzinfo=UTC) if since.tzinfo is None else since
    return version.last_modified.replace(microsecond=0) <= since


# ---- rendering ----------------------------------------------------------------------------------------


def render_feed(scope: FeedScope, entries: list[FeedEntry]) -> bytes:
    """Pure: the calendar text. Times are UTC (`Z`), so no VTIMEZONE is needed."""
    translate = load_translations(scope.locale).gettext
    out = CalendarWriter()
    out.raw("BEGIN", "VCALENDAR")
    out.raw("VERSION", "2.0")
    out.text("PRODID", "-//family-hotline//expert bookings//ZH")
    out.raw("CALSCALE", "GREGORIAN")
    out.raw("METHOD", "PUBLISH")
    out.text("X-WR-CALNAME", scope.title)
    # Hints for subscribing apps: RFC 7986 and the older Microsoft/Apple property.
    out.raw("REFRESH-INTERVAL;VALUE=DURATION", REFRESH)
    out.raw("X-PUBLISHED-TTL", REFRESH)
    summary_of = translate(N_("Consultation: {topic} ({mode})"))
    expert_summary_of = translate(N_("{expert}: {summary}"))
    phone_line, details_line = (
        translate(N_("Parent's phone: {phone}")),
        translate(N_("Details after logging in: {url}")),
    )
    summaries: dict[tuple[str, str, str], str] = {}  # folded SUMMARY lines
    stamps: dict[datetime, str] = {}  # DTSTAMP and CREATED repeat across events
    details_of: dict[str, str] = {}
    for entry in entries:
        key = (entry.topic, entry.mode, entry.expert_name)
        summary = summaries.get(key)
        if summary is None:
            text = summary_of.format(
                topic=translate(label(CATEGORIES, entry.topic)),
                mode=translate(MODES.get(entry.mode, entry.mode)),
            )
            if scope.per_expert_summary:
                text = expert_summary_of.format(expert=entry.expert_name, summary=text)
            summary = summaries[key] = out.text_line("SUMMARY", text)
        details = details_of.get(entry.detail_url)
        if details is None:
            details = details_of[entry.detail_url] = escape_text(details_line.format(url=entry.detail_url))
        phone = escape_text(phone_line.format(phone=entry.masked_phone or "—"))
        description = content_line("DESCRIPTION", phone + "\\n" + details)  # both halves escaped
        changed = stamps.get(entry.updated_at) or stamps.setdefault(
            entry.updated_at, utc_stamp(entry.updated_at)
        )
        created = stamps.get(entry.created_at) or stamps.setdefault(
            entry.created_at, utc_stamp(entry.created_at)
        )
        status = "CANCELLED" if entry.status == AppointmentStatus.CANCELLED else "CONFIRMED"
        location = f"\r\n{out.text_line('LOCATION', entry.place)}" if entry.place else ""
        # One string per event: a feed has thousands. DTSTAMP/LAST-MODIFIED follow the booking's own
        # changes, so an unchanged event reads the same on every fetch and calendar apps do not churn.
        out.lines(
            f"BEGIN:VEVENT\r\n{content_line('UID', escape_text(entry.uid))}"
            f"\r\nDTSTAMP:{changed}\r\nLAST-MODIFIED:{changed}\r\nCREATED:{created}"
            f"\r\nDTSTART:{utc_stamp(entry.starts_at)}\r\nDTEND:{utc_stamp(entry.ends_at)}"
            f"\r\nSEQUENCE:{entry.sequence:d}\r\nSTATUS:{status}\r\nCLASS:PRIVATE\r\nTRANSP:OPAQUE"
            f"\r\n{summary}\r\n{description}{location}"
            "\r\nEND:VEVENT"
        )
    out.raw("END", "VCALENDAR")
    return out.to_bytes()


# ---- reading a feed's events ----------------------------------------------------------------------------


def _events_of(scope: FeedScope, now: datetime) -> list[ColumnElement[bool]]:
    return [
        col(Appointment.expert_id).in_(list(scope.experts)),
        col(Appointment.status).in_(_FEED_STATUSES),
        col(Appointment.confirmed_at).is_not(None),  # holds never confirmed are not events
        col(Appointment.starts_at) >= now - HISTORY,
    ]


async def _current_version(session: AsyncSession, scope: FeedScope, now: datetime) -> FeedVersion:
    """The validator from one aggregate query: no event is read or decrypted."""
    query = select(
        func.count(),
        func.max(Appointment.updated_at),
        func.coalesce(func.sum(Appointment.sequence), 0),
    ).where(*_events_of(scope, now))
    count, latest, sequences = (await session.exec(query)).one()
    return _version(scope, int(count), latest, int(sequences))


_COLUMNS = [
    col(Appointment.ical_uid),
    col(Appointment.starts_at),
    col(Appointment.ends_at),
    col(Appointment.status),
    col(Appointment.sequence),
    col(Appointment.updated_at),
    col(Appointment.created_at),
    col(Appointment.topic),
    col(Appointment.mode),
    col(Appointment.parent_phone_ciphertext),
    col(Appointment.expert_id),
]


def _entries(scope: FeedScope, cipher: FieldCipher, rows: list[Any]) -> list[FeedEntry]:
    entries = []
    for uid, starts, ends, status, sequence, updated, created, topic, mode, phone, expert_id in rows:
        expert = scope.experts[expert_id]
        entries.append(
            FeedEntry(
                uid=uid,
                starts_at=starts,
                ends_at=ends,
                status=status,
                sequence=sequence,
                updated_at=updated,
                created_at=created,
                topic=topic,
                mode=mode,
                masked_phone=mask_phone(cipher.decrypt(phone, context="appointment.parent_phone")),
                place=expert.place if mode == "in_person" else "",
                detail_url=expert.detail_url,
                expert_name=expert.name if scope.per_expert_summary else "",
            )
        )
    return entries


def _decrypt_and_render(scope: FeedScope, cipher: FieldCipher, rows: list[Any]) -> tuple[bytes, FeedVersion]:
    entries = _entries(scope, cipher, rows)
    latest = max((e.updated_at for e in entries), default=None)
    # The validator of exactly what was written (an event may have changed since the aggregate query).
    version = _version(scope, len(entries), latest, sum(e.sequence for e in entries))
    return render_feed(scope, entries), version


async def _feed(
    session: AsyncSession,
    cipher: FieldCipher,
    scope: FeedScope,
    *,
    if_none_match: str | None,
    if_modified_since: str | None,
    now: datetime,
) -> Feed:
    version = await _current_version(session, scope, now)
    if is_unchanged(version, if_none_match, if_modified_since):
        return Feed(version=version, body=None)
    cached = RENDERED.get(version.etag)
    if cached is not None:
        return Feed(version=version, body=cached)
    query = sql_select(*_COLUMNS).where(*_events_of(scope, now)).order_by(col(Appointment.starts_at))
    rows = list((await session.exec(query)).all())  # type: ignore[call-overload]
    work = partial(_decrypt_and_render, scope, cipher, rows)
    # Thousands of AES-GCM decryptions and lines are CPU work: off the event loop, so /health and every
    # other request keep being served meanwhile.
    if len(rows) < THREAD_FROM:
        body, version = work()
    else:
        body, version = await anyio.to_thread.run_sync(work, limiter=_render_limiter())
    RENDERED.put(version.etag, body)
    return Feed(version=version, body=body)


# One large feed written at a time per process: render threads share the GIL with the event loop, and
# each more of them running at once leaves the loop a smaller share. Per event loop, because a limiter
# belongs to the loop it was made on (tests run several).
_RENDER_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _render_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _RENDER_LIMITERS.get(loop)
    if limiter is None:
        limiter = _RENDER_LIMITERS[loop] = anyio.CapacityLimiter(1)
    return limiter


def _detail_url(settings: Settings, expert_id: int | None) -> str:
    return f"{settings.public_base_url}/roster/experts/{expert_id}"


async def expert_feed(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    token: str,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    now: datetime | None = None,
) -> Feed:
    """The feed of the expert whose current feed token this is; NotFound for anything else."""
    # One query for the expert and their site: a calendar app's poll costs this and the aggregate query.
    query = (
        select(Expert, Site)
        .join(Site, col(Expert.site_id) == Site.id, isouter=True)
        .where(Expert.feed_token_hash == token_hash(token))
    )
    found = (await session.exec(query)).first() if token else None
    if found is None:
        raise NotFound(_NOT_VALID)
    expert, site = found
    expert_id = expert.id or 0
    translate = load_translations(settings.default_locale).gettext
    scope = FeedScope(
        title=translate(N_("Consultations: {name}")).format(name=expert.name),
        locale=settings.default_locale,
        experts={
            expert_id: FeedExpert(expert.name, site.name if site else "", _detail_url(settings, expert_id))
        },
        edited_at=expert.updated_at or expert.created_at,
    )
    return await _feed(
        session,
        cipher,
        scope,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        now=now or utcnow(),
    )


# ---- a site's feed for its reception ----------------------------------------------------------------------


def site_feed_token(cipher: FieldCipher, feed: SiteFeed) -> str:
    """The secret in the site's feed URL (booking.feed_links)."""
    return feed_token(cipher, feed.nonce, context=SITE_FEED)


async def site_feed(
    session: AsyncSession,
    cipher: FieldCipher,
    settings: Settings,
    token: str,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    now: datetime | None = None,
) -> Feed:
    """Every expert of the site, active or not (a deactivated expert's booked parents still come until
    they are rebooked), in one calendar; NotFound for anything but the site's current token."""
    feed = (await session.exec(select(SiteFeed).where(SiteFeed.token_hash == token_hash(token)))).first()
    site = await session.get(Site, feed.site_id) if feed and token else None
    if feed is None or site is None:
        raise NotFound(_NOT_VALID)
    experts = (await session.exec(select(Expert).where(Expert.site_id == site.id))).all()
    translate = load_translations(settings.default_locale).gettext
    scope = FeedScope(
        title=translate(N_("Consultations at {site}")).format(site=site.name),
        locale=settings.default_locale,
        experts={
            e.id: FeedExpert(e.name, site.name, _detail_url(settings, e.id))
            for e in experts
            if e.id is not None
        },
        edited_at=max([feed.rotated_at, *(e.updated_at or e.created_at for e in experts)]),
        per_expert_summary=True,
    )
    return await _feed(
        session,
        cipher,
        scope,
        if_none_match=if_none_match,
        if_modified_since=if_modified_since,
        now=now or utcnow(),
    )
