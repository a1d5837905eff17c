"""Text a person typed into a form: trimmed, and checked against a bound. No imports from the rest of
hotline, so every module of it (intake and reports included) can use the same rule."""

from __future__ import annotations

__all__ = ["clean_text", "written_text"]


def clean_text(value: str | None) -> str:
    """What a person typed, without the blank lines and spaces around it."""
    return (value or "").strip()


def written_text(
    errors: dict[str, str],
    field: str,
    raw: str | None,
    *,
    max_length: int,
    missing: str | None,
    too_long: str,
) -> str:
    """A text field of a form, cleaned; a message under `field` in `errors` when it is empty (and
    `missing` says it is required) or longer than `max_length`."""
    text = clean_text(raw)
    if not text and missing is not None:
        errors[field] = missing
    elif len(text) > max_length:
        errors[field] = too_long
    return text
