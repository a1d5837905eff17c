"""Tables of booking: sites, experts, weekly availability rules and appointments."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum

from sqlalchemy import Column, Index, String, Time, text
from sqlmodel import Field, SQLModel

from booking.tokens import new_token, token_hash
from core.db import UTCDateTime, utcnow
from core.transitions import Transitions

__all__ = [
    "ACTIVE_STATUSES",
    "APPOINTMENT_TRANSITIONS",
    "Appointment",
    "AppointmentMove",
    "AppointmentStatus",
    "Attendance",
    "AvailabilityRule",
    "Expert",
    "RateCount",
    "Site",
    "SiteFeed",
    "SuspensionLift",
]


class AppointmentStatus(StrEnum):
    HELD = "held"  # a parent picked the slot and is typing the SMS code
    CONFIRMED = "confirmed"
    EXPIRED = "expired"  # a hold nobody confirmed in time, or whose code was guessed wrong too often
    CANCELLED = "cancelled"


class Attendance(StrEnum):
    """What happened at a confirmed appointment, recorded by the expert afterwards (no-shows count here)."""

    ATTENDED = "attended"
    LATE = "late"
    NO_SHOW = "no_show"
    CANCELLED_LATE = "cancelled_late"  # the parent cancelled after the cutoff


APPOINTMENT_TRANSITIONS = Transitions(
    "appointment",
    {
        AppointmentStatus.HELD: {AppointmentStatus.CONFIRMED, AppointmentStatus.EXPIRED},
        AppointmentStatus.CONFIRMED: {AppointmentStatus.CANCELLED},
    },
)

# An appointment in one of these states occupies its slot; the partial unique index below enforces it.
ACTIVE_STATUSES = (AppointmentStatus.HELD, AppointmentStatus.CONFIRMED)


class Site(SQLModel, table=True):
    __tablename__ = "site"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    address: str = Field(default="", max_length=300)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit it belongs to (core.units)


class Expert(SQLModel, table=True):
    __tablename__ = "expert"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    unit_id: int = Field(foreign_key="org_unit.id", index=True)  # the unit it belongs to (core.units)
    title: str = Field(default="", max_length=120)
    bio: str = Field(default="", max_length=2000)
    specialties: str = Field(default="")  # comma-separated codes of core.vocabulary.CATEGORIES
    modes: str = Field(default="in_person,phone,video")  # comma-separated
    site_id: int | None = Field(default=None, foreign_key="site.id")
    slot_minutes: int = 50
    buffer_minutes: int = 10
    # The calendar feed link (booking.feed_links): the URL's token is an HMAC of `feed_nonce`, matched by
    # its SHA-256. Until a link is issued the hash is of a token nobody knows, so no URL opens the feed.
    # `feed_nonce` is None for a link made before revision 0018: it still works but cannot be shown again.
    feed_nonce: str | None = Field(default=None, max_length=64)
    feed_token_hash: str = Field(
        default_factory=lambda: token_hash(new_token()),
        sa_column=Column(String(64), unique=True, nullable=False),
    )
    user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The last roster edit (None: never edited). Feeds use it: a renamed expert changes their events.
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def specialty_codes(self) -> list[str]:
        return [c for c in self.specialties.split(",") if c]

    @property
    def mode_codes(self) -> list[str]:
        return [c for c in self.modes.split(",") if c]


class AvailabilityRule(SQLModel, table=True):
    """A weekly window in the site's local wall-clock time (weekday 0 = Monday)."""

    __tablename__ = "availability_rule"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    weekday: int = Field(ge=0, le=6)
    start_local: time = Field(sa_column=Column(Time(), nullable=False))
    end_local: time = Field(sa_column=Column(Time(), nullable=False))


class Appointment(SQLModel, table=True):
    """A parent's consultation. `held` while the parent confirms the SMS code, then `confirmed`.

    Parent name, phone and notes are encrypted. The public links carry random tokens; only their
    SHA-256 hashes are stored.
    """

    __tablename__ = "appointment"
    __table_args__ = (
        Index(
            "uq_appointment_active_slot",
            "expert_id",
            "starts_at",
            unique=True,
            sqlite_where=text("status IN ('held', 'confirmed')"),
            postgresql_where=text("status IN ('held', 'confirmed')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    mode: str = Field(max_length=20)  # a code of core.vocabulary.MODES
    status: str = Field(default=AppointmentStatus.HELD, max_length=20, index=True)  # AppointmentStatus
    hold_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    parent_name_ciphertext: str
    parent_phone_ciphertext: str
    parent_phone_index: str = Field(max_length=64, index=True)
    topic: str = Field(default="parenting", max_length=40)
    locale: str = Field(default="zh_Hans", max_length=10)  # language of the parent's SMS
    notes_ciphertext: str | None = None
    verify_token_hash: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    otp_hash: str | None = Field(default=None, max_length=128)
    otp_attempts: int = 0
    manage_token_hash: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    ical_uid: str = Field(sa_column=Column(String(80), unique=True, nullable=False))
    sequence: int = 0  # iCalendar SEQUENCE: bumped on every change a calendar must notice
    case_id: int | None = Field(default=None, foreign_key="referral_case.id")
    booked_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attendance: str | None = Field(default=None, max_length=20)  # Attendance, once the session is past
    attendance_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The expert's own notes after the session (booking.expert_desk): encrypted; the expert and
    # supervisors read them, coordinators and other experts never do.
    session_notes_ciphertext: str | None = None


# ---- b-fair: limits against abuse and no-show suspensions ---------------------------------------------


class RateCount(SQLModel, table=True):
    """A counter per key and fixed time window, shared by every app process (booking.limits).

    Keys hold blind indexes (of a phone number, of a client address), never the values themselves.
    Incremented with one atomic upsert, whose row lock also serialises racing requests for the same key.
    """

    __tablename__ = "rate_count"

    key: str = Field(max_length=100, primary_key=True)
    window_start: datetime = Field(sa_type=UTCDateTime, primary_key=True)
    count: int = 0


class SuspensionLift(SQLModel, table=True):
    """Staff lifted a phone's no-show suspension: no-shows before `lifted_at` no longer count."""

    __tablename__ = "suspension_lift"

    id: int | None = Field(default=None, primary_key=True)
    phone_index: str = Field(max_length=64, index=True)
    lifted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lifted_by_id: int = Field(foreign_key="staff_user.id")
    reason_ciphertext: str  # may name the family's circumstances, so encrypted like notes


class SiteFeed(SQLModel, table=True):
    """The secret calendar feed of a site for its reception: every expert of the site in one calendar.

    The token is never stored. It is an HMAC (the data key's blind-index key) of `nonce`, so the
    coordinator's page can show the link again, while a copy of the database alone cannot open the feed;
    requests are matched by the token's SHA-256. Rotating draws a new nonce: the old link stops working.
    """

    __tablename__ = "site_feed"

    id: int | None = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="site.id", unique=True)
    nonce: str = Field(max_length=64)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    rotated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AppointmentMove(SQLModel, table=True):
    """One reschedule of an appointment (booking.reschedule): where it was, where it went, who moved it.

    The appointment row itself moves (its iCalendar UID stays, its SEQUENCE rises); this table keeps the
    history a calendar cannot."""

    __tablename__ = "appointment_move"

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    from_starts_at: datetime = Field(sa_type=UTCDateTime)
    from_ends_at: datetime = Field(sa_type=UTCDateTime)
    to_starts_at: datetime = Field(sa_type=UTCDateTime)
    to_ends_at: datetime = Field(sa_type=UTCDateTime)
    moved_by_id: int | None = Field(default=None, foreign_key="staff_user.id")  # None: the parent
    moved_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
