"""Errors a person can act on. Domains raise these; the server turns them into 4xx pages or JSON."""

from __future__ import annotations

from typing import Any

__all__ = ["Conflict", "FormInvalid", "NotFound", "UserFacingError"]


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
