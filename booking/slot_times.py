"""How slot start times travel in URLs, forms and JSON: UTC instants written as ISO 8601 with `Z`."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "iso_utc"]


def iso_utc(value: datetime) -> str:
    """A UTC instant as ISO 8601 with `Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("appointment times must be timezone-aware")
    return value.astimezone(UTC)
