"""All HTTP routes of booking, gathered for the app: parents' pages, the roster, feeds and the JSON API.

Handlers only parse, call one service function and shape the answer; the rules live in
booking.appointments, booking.roster and booking.calendar.
"""

from __future__ import annotations

from litestar import Router

from booking.api_routes import BookingApi, CalendarFeeds, SiteCalendarFeeds
from booking.availability_routes import ExpertAvailability
from booking.day_routes import CoordinatorDay
from booking.expert_desk_routes import ExpertDeskPages
from booking.no_show_routes import NoShowPages
from booking.parent_pages import ParentBookingPages
from booking.reschedule_pages import ParentReschedulePages
from booking.roster_edit_routes import RosterChanges
from booking.roster_routes import RosterEditing, RosterReading
from booking.site_edit_routes import SiteEditing
from booking.soonest_routes import SoonestApi
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
        NoShowPages,  # b-fair
        SiteCalendarFeeds,
        RosterChanges,
        ExpertAvailability,
        SoonestApi,
        # issue 9: reschedule, the coordinator's day, the expert's own page
        ParentReschedulePages,
        StaffReschedule,
        CoordinatorDay,
        ExpertDeskPages,
        SiteEditing,  # b-secure: a coordinator edits a site of their unit
    ],
)
