"""What can go wrong when a parent or an operator books, each with a message a person can act on."""

from __future__ import annotations

from datetime import datetime

from booking.slot_times import iso_utc
from core.errors import Conflict, FormInvalid, UserFacingError
from core.i18n import N_

__all__ = ["BookingInvalid", "HoldExpired", "SlotTaken", "WrongCode"]


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
