"""All HTTP routes of booking, gathered for the app: parents' pages, the roster, feeds and the JSON API.

Handlers only parse, call one service function and shape the answer; the rules live in
booking.appointments, booking.roster and booking.calendar.
"""

from __future__ import annotations

from typing import Any

from booking import api_routes, parent_pages, roster_routes

__all__ = ["ROUTES"]

ROUTES: list[Any] = [*parent_pages.ROUTES, *roster_routes.ROUTES, *api_routes.ROUTES]
