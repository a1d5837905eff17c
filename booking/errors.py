"""What can go wrong when a parent or an operator books, each with a message a person can act on."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from booking.slot_times import iso_utc
from core.errors import Conflict, FormInvalid, UserFacingError
from core.i18n import N_

__all__ = [
    "BookingInvalid",
    "BookingSuspended",
    "HoldExpired",
    "OptedOutOfSms",
    "SlotTaken",
    "SlotUnavailable",
    "TooManyActive",
    "TooManyCodes",
    "WrongCode",
]


class BookingInvalid(FormInvalid):
    """Fields are wrong. The first problem becomes the headline, so an API client reads a real reason."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.message = next(iter(errors.values()))


class SlotTaken(Conflict):
    """Someone else holds or booked this time. `next_free` lists times still open (ISO 8601 UTC)."""

    def __init__(self, next_free: list[datetime]) -> None:
        super().__init__(
            N_("Sorry, this time has just been taken by someone else. Please choose another time."),
            extra={"next_free": [iso_utc(t) for t in next_free]},
        )
        self.next_free = next_free


class HoldExpired(UserFacingError):
    status_code = 410

    def __init__(self) -> None:
        super().__init__(
            N_("This time was held for you but the code was not entered in time. Please choose a time again.")
        )


class WrongCode(UserFacingError):
    def __init__(self, attempts_left: int) -> None:
        if attempts_left > 0:
            super().__init__(
                N_("That code is not right. Attempts left: {left}."),
                extra={"attempts_left": attempts_left},
                left=attempts_left,
            )
        else:
            super().__init__(
                N_("Too many wrong codes. The time has been released; please choose a time again."),
                extra={"attempts_left": 0},
            )
        self.attempts_left = attempts_left


# ---- b-fair: why a number may not book online; each says whom to call -----------------------------------


class BookingSuspended(UserFacingError):
    status_code = 403

    def __init__(self, *, until: str, limit: int, months: int, hotline: str) -> None:
        super().__init__(
            N_(
                "This mobile number cannot book online until {until}: {limit} booked consultations within "
                "{months} months were missed without cancelling. To book, or if this is a mistake, please "
                "call {hotline}."
            ),
            until=until,
            limit=limit,
            months=months,
            hotline=hotline,
        )


class OptedOutOfSms(UserFacingError):
    status_code = 403

    def __init__(self, *, hotline: str) -> None:
        super().__init__(
            N_(
                "This mobile number has turned off our text messages (it replied STOP or 退订), so we "
                "cannot send it a booking code. To turn them on again, reply START to any of our "
                "messages, then try again. Or call {hotline} and we will book for you."
            ),
            hotline=hotline,
        )


class TooManyActive(Conflict):
    def __init__(self, *, limit: int, hotline: str) -> None:
        super().__init__(
            N_(
                "This mobile number already has {limit} upcoming or held consultations, the most one "
                "number can book online. Cancel one with the link in its SMS, or call {hotline}."
            ),
            limit=limit,
            hotline=hotline,
        )


class TooManyCodes(UserFacingError):
    status_code = 429

    def __init__(self, *, after: str, hotline: str) -> None:
        super().__init__(
            N_(
                "Too many code messages have been requested for this number or from this network. Please "
                "try again after {after}, or call {hotline}."
            ),
            after=after,
            hotline=hotline,
        )


class SlotUnavailable(SlotTaken):
    """The time is not offered for a reason other than another booking: too soon, too far ahead, not yet
    released, the expert's day full, or not among the day's hours (a day off, a holiday). A SlotTaken, so
    every page that offers other times on a conflict does so here too, with this reason as its message."""

    REASONS: ClassVar[dict[str, str]] = {
        "too_soon": N_("This time starts too soon to be booked. Please choose a later time."),
        "too_far": N_("This time is further ahead than bookings are taken. Please choose an earlier time."),
        "not_released": N_("Times on this day are not open for booking yet. Please choose an earlier day."),
        "day_full": N_("This expert takes no more bookings on that day. Please choose another day."),
        "not_open": N_(
            "The expert does not see parents at this time (a day off, a holiday or outside their hours). "
            "Please choose a time from the list."
        ),
    }

    def __init__(self, reason: str, next_free: list[datetime]) -> None:
        super().__init__(next_free)
        self.message = self.REASONS[reason]
        self.reason = reason
