"""Before a message is sent again after an attempt in doubt, look for that attempt at Twilio.

An attempt is in doubt when Twilio may have accepted it without our learning the SID: its worker was
killed or stopped mid-send, or the answer never came (timeout, dropped connection, 5xx). Sending again
blindly would give the parent the same code or link twice; never sending would lose it. So we ask.

The marker. Twilio does not echo the status-callback URL (which carries our outbox id) when it lists
messages; what it does give back is recipient, sender, body and creation time. A match is: sent from our
number to the row's number, with exactly the row's body, created no earlier than the first attempt in
doubt was claimed (less a margin for the two clocks), and with a SID no other outbox row holds. That is
sound because every body we send is unique to its row: a one-time code is fresh per hold, a confirmation
and a reminder carry a manage link with a fresh secret token. The one body that can repeat (a
cancellation of the same slot, booked and cancelled twice) is told apart by the SID rule: the first
cancellation's SID is already recorded on its own row. Nothing found means the attempt never arrived (a
message is created before Twilio answers the request, and we only look once the attempt is over), so
the message is sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from core.db import AsyncSession
from notifications.models import OutboxMessage
from notifications.sms import ListedSms, SmsSender

__all__ = ["CLOCK_MARGIN", "find_earlier_send"]

# Twilio stamps `date_created` by its clock, to the second; ours stamped the claim. The margin only widens
# the window (a costlier lookup, never a wrong match: the body and SID rules decide).
CLOCK_MARGIN = timedelta(minutes=2)


async def find_earlier_send(
    session: AsyncSession, sender: SmsSender, *, to_e164: str, body: str, since: datetime
) -> ListedSms | None:
    """The message an attempt in doubt created at the provider, or None if there is none.
    Raises SmsTemporarilyUnavailable when the provider cannot be asked: then nothing may be sent."""
    for listed in await sender.sent_to(to_e164, since=since - CLOCK_MARGIN):
        if (listed.to, listed.body) == (to_e164, body) and not await _recorded_on_a_row(
            session, listed.provider_sid
        ):
            return listed
    return None


async def _recorded_on_a_row(session: AsyncSession, provider_sid: str) -> bool:
    found = await session.exec(
        select(OutboxMessage.id).where(col(OutboxMessage.provider_sid) == provider_sid).limit(1)
    )
    return found.first() is not None
