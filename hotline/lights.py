"""The supervision light (亮灯) of anything with a due time: green while on time, amber when due within
the warning window, red once overdue. Computed from `due_at` at the moment of reading, so a light
decays with time without anyone writing to it; the periodic job (hotline.red_alerts) only sends the
one alert when something turns red."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from hotline.case_terms import Light

__all__ = ["WORST_FIRST", "light_column", "light_of", "worst"]

# Red before amber before green, for sorting and for a case's light (its worst open item's).
WORST_FIRST: tuple[Light, ...] = (Light.RED, Light.AMBER, Light.GREEN)


def light_of(due_at: datetime, now: datetime, amber_window: timedelta) -> Light:
    if due_at <= now:
        return Light.RED
    if due_at <= now + amber_window:
        return Light.AMBER
    return Light.GREEN


def light_column(due_at: Any, now: datetime, amber_window: timedelta) -> ColumnElement[str]:
    """The same rule in SQL, for counting by colour in the database (`GROUP BY` the result); `due_at`
    is a datetime column."""
    due = col(due_at)
    return case(
        (due <= now, Light.RED.value),
        (due <= now + amber_window, Light.AMBER.value),
        else_=Light.GREEN.value,
    )


def worst(lights: list[Light]) -> Light | None:
    """The most urgent of some lights; None when there are none (nothing open, nothing due)."""
    for light in WORST_FIRST:
        if light in lights:
            return light
    return None
