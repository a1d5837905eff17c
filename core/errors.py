"""Errors a person can act on. Domains raise these; the server turns them into 4xx pages or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.datastructures import ResponseSpec

__all__ = ["Conflict", "ErrorBody", "FormInvalid", "NotFound", "UserFacingError", "error_responses"]


class UserFacingError(Exception):
    """`message` is an English gettext id, translated into the reader's language when shown."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None, **format_args: Any) -> None:
        super().__init__(message)
        self.message = message
        self.format_args = format_args
        self.extra = extra or {}


class FormInvalid(UserFacingError):
    """One or more fields are wrong; `errors` maps field name to a message id."""

    status_code = 400

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Some fields need correcting.", extra={"errors": errors})
        self.errors = errors


class NotFound(UserFacingError):
    status_code = 404


class Conflict(UserFacingError):
    status_code = 409


@dataclass(frozen=True)
class ErrorBody:
    """The JSON body of every error of a route in the OpenAPI description, as `app.server` shapes it.
    `detail` is one sentence for a person, in the reader's language; the other keys come only with the
    errors that carry them."""

    detail: str
    # Field name -> message (FormInvalid), or what the request parser could not read (a list).
    errors: dict[str, str] | list[dict[str, Any]] | None = None
    attempts_left: int | None = None  # a wrong SMS code
    next_free: list[str] | None = None  # a slot just taken: times still open, ISO 8601 UTC


_ERROR_DESCRIPTIONS = {
    400: "The request or some of its fields are invalid; `errors` says which.",
    401: "Not logged in.",
    403: "The role does not allow this, or the CSRF token (x-csrftoken header) is missing or wrong, or "
    "(booking) this phone number may not book online now: `detail` says why and whom to call.",
    404: "No such thing, or the link is not valid.",
    409: "Conflicts with the current state (a slot just taken, a booking already confirmed or passed).",
    410: "The slot's hold has expired.",
    429: "Too many requests of this kind for this phone number or client address; try again later.",
}


def error_responses(*status_codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses=` for a JSON route: the errors it can answer with, all shaped as ErrorBody."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_ERROR_DESCRIPTIONS[code], generate_examples=False
        )
        for code in status_codes
    }
