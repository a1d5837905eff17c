"""All HTTP routes of booking, gathered for the app: parents' pages, the roster, feeds and the JSON API.

Handlers only parse, call one service function and shape the answer; the rules live in
booking.appointments, booking.roster and booking.calendar.
"""

from __future__ import annotations

from litestar import Router

from booking.api_routes import BookingApi, CalendarFeeds
from booking.day_routes import CoordinatorDay
from booking.expert_desk_routes import ExpertDeskPages
from booking.parent_pages import ParentBookingPages
from booking.reschedule_pages import ParentReschedulePages
from booking.roster_routes import RosterEditing, RosterReading
from booking.staff_reschedule_routes import StaffReschedule

__all__ = ["router"]

router = Router(
    path="/",
    route_handlers=[
        ParentBookingPages,
        RosterReading,
        RosterEditing,
        CalendarFeeds,
        BookingApi,
        # issue 9: reschedule, the coordinator's day, the expert's own page
        ParentReschedulePages,
        StaffReschedule,
        CoordinatorDay,
        ExpertDeskPages,
    ],
)
