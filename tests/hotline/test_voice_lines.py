"""Voice numbers and opening hours from the settings, on the mainland calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.settings import SettingsError
from hotline.voice_lines import is_open, line_for_choice, menu_choices, route_number

HOURS = (
    "12355=mon-sun 00:00-24:00,hol 00:00-24:00;family_edu=mon-fri 09:00-21:00,sat 09:00-12:00,hol 10:00-16:00"
)


def _at(local: str) -> datetime:
    """A Beijing wall-clock time, as the UTC moment Twilio's request arrives at."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@pytest.mark.parametrize(
    ("line", "local", "open_"),
    [
        ("family_edu", "2026-11-25 09:00", True),  # a Wednesday, opening minute
        ("family_edu", "2026-11-25 21:00", False),  # closing minute
        ("family_edu", "2026-11-28 11:59", True),  # Saturday morning
        ("family_edu", "2026-11-29 11:00", False),  # Sunday: not listed
        ("family_edu", "2026-10-01 11:00", True),  # National Day: the `hol` hours
        ("family_edu", "2026-10-01 17:00", False),
        ("family_edu", "2026-10-10 20:00", True),  # a Saturday worked in exchange (调休): Monday's hours
        ("12355", "2026-10-01 23:30", True),
    ],
)
def test_opening_hours_follow_weekdays_and_the_holiday_calendar(settings, line, local, open_):
    settings = settings.with_overrides(voice_hours=HOURS, site_timezone="Asia/Shanghai")
    assert is_open(settings, line, _at(local)) is open_


def test_numbers_map_to_a_line_and_unit_and_an_unknown_or_lineless_number_gets_the_menu(settings):
    settings = settings.with_overrides(voice_numbers="+8657112355000=12355@3, +8657196000000=@2")

    assert (
        route_number(settings, "+8657112355000").line,
        route_number(settings, "+8657112355000").unit_id,
    ) == (
        "12355",
        3,
    )
    menu = route_number(settings, "+8657196000000")
    assert (menu.line, menu.unit_id) == (None, 2)
    assert route_number(settings, "+8610000000000").line is None
    choices = menu_choices(settings)
    assert line_for_choice(settings, menu, choices["1"]) == "family_edu"
    assert line_for_choice(settings, menu, choices["2"]) == "12355"
    assert line_for_choice(settings, menu, None) == settings.voice_default_line


def test_a_moved_crisis_digit_and_bad_settings(settings):
    moved = menu_choices(settings.with_overrides(voice_crisis_digit="9"))
    assert moved["9"].code == "child_safety" and "2" not in moved

    with pytest.raises(SettingsError):
        route_number(settings.with_overrides(voice_numbers="+861=nosuchline@1"), "+861")
    with pytest.raises(SettingsError):
        is_open(settings.with_overrides(voice_hours="12355=someday 9-5"), "12355")
