"""Tables for what changes an expert's weekly hours on given dates, and the booking rules of a site.

Kept apart from booking.models so the weekly-hours tables stay small; app.models imports both.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Column, Time
from sqlmodel import Field, SQLModel

from core.db import UTCDateTime, utcnow

__all__ = ["AvailabilityException", "BookingRules", "ExceptionKind"]


class ExceptionKind(StrEnum):
    OFF = "off"  # away: whole days, or the given hours of each day in the range
    EXTRA = "extra"  # extra hours on each day of the range, on top of (or instead of) the weekly hours


class AvailabilityException(SQLModel, table=True):
    """One change to an expert's hours on a range of local dates (both ends included)."""

    __tablename__ = "availability_exception"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: int = Field(foreign_key="expert.id", index=True)
    kind: str = Field(max_length=10)  # ExceptionKind
    first_day: date
    last_day: date
    # Local wall-clock hours; both None on a whole-day absence, both set otherwise.
    start_local: time | None = Field(default=None, sa_column=Column(Time(), nullable=True))
    end_local: time | None = Field(default=None, sa_column=Column(Time(), nullable=True))
    created_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BookingRules(SQLModel, table=True):
    """Booking rules of one site (site_id set) or one expert's overrides (expert_id set).

    Every rule is nullable: None inherits (expert → site → the defaults in settings). See
    booking.booking_rules for what each rule means and where it is enforced.
    """

    __tablename__ = "booking_rules"

    id: int | None = Field(default=None, primary_key=True)
    site_id: int | None = Field(default=None, foreign_key="site.id", unique=True)
    expert_id: int | None = Field(default=None, foreign_key="expert.id", unique=True)
    min_notice_minutes: int | None = None
    window_days: int | None = None
    # Release schedule: the slots of local day D open at `release_at` on day D - release_days_before.
    release_days_before: int | None = None
    release_at: time | None = Field(default=None, sa_column=Column(Time(), nullable=True))
    daily_cap: int | None = None  # at most this many held or confirmed appointments per expert and day
    # Cancel/reschedule cutoff: N hours before the start, or by HH:MM of the working day before.
    cutoff_hours: int | None = None
    cutoff_day_before_at: time | None = Field(default=None, sa_column=Column(Time(), nullable=True))
    follows_holidays: bool | None = None  # sites only: statutory holidays off, make-up days worked
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
