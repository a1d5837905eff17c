"""All HTTP routes of booking, gathered for the app: parents' pages, the roster, feeds and the JSON API.

Handlers only parse, call one service function and shape the answer; the rules live in
booking.appointments, booking.roster and booking.calendar.
"""

from __future__ import annotations

from litestar import Router

from booking import api_routes, parent_pages, roster_routes

__all__ = ["router"]

router = Router(path="/", route_handlers=[*parent_pages.ROUTES, *roster_routes.ROUTES, *api_routes.ROUTES])
