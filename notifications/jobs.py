"""The SMS jobs: send one outbox row; sweep the outbox for rows that are due.

They are plain `async def job(ctx, ...)` functions. arq runs the send job when the web process rings the
doorbell (Redis); every process that sends also runs the sweep on its own clock and sends what it finds
itself, so nothing waits on Redis. Either way `ctx["sms"]` holds their `SmsJobDeps`. The database row is
the source of truth, never the queue: a job claims its row with a conditional UPDATE, so a job that runs
twice, or on two workers at once, sends at most once, and a lost job is found again by the sweep.

Each attempt either ends with a known outcome (sent with a SID, refused, failed before the request left)
or leaves the row *in doubt*: its worker died or was stopped mid-send, or no answer came. A row in doubt
is looked up at Twilio before it is sent again (`notifications.reconcile`), so a parent never receives
the same code or link twice and never loses one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from core.db import AsyncSession, utcnow
from core.privacy import DecryptionError, FieldCipher, mask_phone
from core.settings import Settings
from notifications.delivery import our_status_for, status_callback_url
from notifications.in_flight import SendsInFlight
from notifications.liveness import claimant_gone, new_worker_name
from notifications.models import (
    OUTBOX_TRANSITIONS,
    SEND_PRIORITY,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)
from notifications.opt_out import is_opted_out, record_opt_out
from notifications.outbox import Dispatcher, Ready, SendChecks
from notifications.reconcile import find_earlier_send
from notifications.sms import SmsRejected, SmsSender, SmsTemporarilyUnavailable

__all__ = [
    "SEND_JOB",
    "SmsJobDeps",
    "job_context",
    "job_id_for",
    "release_own_claims",
    "retry_delay",
    "send_outbox_message",
    "sweep_outbox",
]

log = logging.getLogger(__name__)

SEND_JOB = "send_outbox_message"

# Retries after a provider outage: 30 s, 1 min, 2 min ... capped at an hour. With the default of 8
# attempts a message keeps trying for about two hours before it is marked failed. A one-time code backs
# off from 5 s: its parent is waiting on the page, and after 8 tries (about 10 minutes, the length of a
# hold) a code would be too late anyway.
RETRY_BASE = timedelta(seconds=30)
OTP_RETRY_BASE = timedelta(seconds=5)
RETRY_CAP = timedelta(hours=1)

JOB_TIMEOUT_SECONDS = 60

SWEEP_BATCH = 500

# Twilio error 21610: the recipient has replied STOP to our number. Twilio blocks further messages, so we
# record the opt-out too and stop trying.
TWILIO_UNSUBSCRIBED = 21610

_S = OutboxStatus


@dataclass(frozen=True)
class SmsJobDeps:
    """What the jobs need, whether arq or the in-process runner calls them.

    `worker` is the name this process claims rows under and beats its heartbeat as; `in_flight` the
    sends it has running, which a stop waits for.
    """

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    cipher: FieldCipher
    sender: SmsSender
    dispatcher: Dispatcher | None
    checks: SendChecks
    worker: str = field(default_factory=new_worker_name)
    in_flight: SendsInFlight = field(default_factory=SendsInFlight)

    def with_sender(self, sender: SmsSender) -> SmsJobDeps:
        return replace(self, sender=sender)


def job_context(deps: SmsJobDeps) -> dict[str, Any]:
    """The `ctx` the jobs are called with (arq adds its own keys beside ours)."""
    return {"sms": deps}


def job_id_for(outbox_id: int) -> str:
    """The arq job id of a row: enqueueing the same row twice while it waits is a no-op."""
    return f"outbox:{outbox_id}"


def retry_delay(attempts: int, kind: str | None = None) -> timedelta:
    """Exponential backoff after the `attempts`-th failed try."""
    base = OTP_RETRY_BASE if kind == MessageKind.OTP else RETRY_BASE
    delay: timedelta = base * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_CAP)


async def send_outbox_message(ctx: dict[str, Any], outbox_id: int) -> str:
    """Send one outbox row if it is still due. Returns what happened, for logs and tests."""
    deps: SmsJobDeps = ctx["sms"]
    if deps.in_flight.stopping:
        return "skipped"  # this process is stopping: the row stays pending for the next worker
    with deps.in_flight.track(outbox_id):
        attempt: int | None = None
        try:
            async with deps.sessionmaker() as session:
                message = await _claim(session, outbox_id, deps.worker)
                if message is None:
                    return "skipped"  # already sent, in flight elsewhere, not due yet, or gone
                attempt = message.attempts
                return await _attempt(deps, session, message)
        except asyncio.CancelledError:
            # Cut off mid-send (a stop outlived its grace, or arq's job timeout): whether Twilio got the
            # message is unknown. Written after the session above is closed, so that on SQLite its
            # transaction cannot hold up this write.
            if attempt is not None:
                await asyncio.shield(_record_cut_off(deps, outbox_id, attempt))
            raise


async def _attempt(deps: SmsJobDeps, session: AsyncSession, message: OutboxMessage) -> str:
    outbox_id, attempt = message.id or 0, message.attempts
    if not await deps.checks.still_wanted(session, message):
        # Belt and braces: the owner of the related object (booking, for an appointment's reminder)
        # says it changed, e.g. cancelled by a path that forgot `outbox.withdraw`.
        await _finish(session, outbox_id, attempt, _S.WITHDRAWN, "withdrawn: no longer needed")
        return "withdrawn"
    if message.kind != MessageKind.OTP and await is_opted_out(session, message.to_index):
        # A one-time code is exempt: the parent asked for it moments ago on our booking page.
        await _finish(session, outbox_id, attempt, _S.SUPPRESSED, "recipient opted out")
        return "suppressed"
    try:
        to_e164 = deps.cipher.decrypt(message.to_ciphertext, context="outbox.to")
        body = deps.cipher.decrypt(message.body_ciphertext, context="outbox.body")
    except DecryptionError:
        log.error("outbox %s cannot be decrypted with the configured data key", outbox_id)
        await _finish(session, outbox_id, attempt, _S.FAILED, "cannot decrypt")
        return "failed"
    # End the read transaction before the network call: on SQLite an open transaction would hold up
    # other writers for as long as Twilio takes to answer.
    await session.commit()

    if message.in_doubt_since is not None:
        try:
            earlier = await find_earlier_send(
                session, deps.sender, to_e164=to_e164, body=body, since=message.in_doubt_since
            )
        except Exception as exc:
            # Unable to look means unable to know: sending now could be the duplicate. Try later.
            if not isinstance(exc, SmsTemporarilyUnavailable):
                log.exception("looking up SMS %s at the provider failed", outbox_id)
            error = f"could not check for an earlier attempt: {exc or type(exc).__name__}"
            return await _retry_later(session, deps.settings, message, error, in_doubt=True)
        await session.commit()
        if earlier is not None:
            outcome = OutboxStatus(our_status_for(earlier.status) or _S.SENT)
            await _mark_sent(session, outbox_id, attempt, earlier.provider_sid, earlier.status, outcome)
            log.info("SMS %s had reached Twilio as %s; not sent again", outbox_id, earlier.provider_sid)
            return "found"
    if attempt > deps.settings.outbox_max_attempts:
        # Only a row released from a gone worker on its last attempt gets here; nothing was found of it.
        await _finish(session, outbox_id, attempt, _S.FAILED, "gave up: attempts used up")
        return "failed"

    try:
        sent = await deps.sender.send(
            to_e164, body, status_callback=status_callback_url(deps.settings, outbox_id)
        )
    except SmsRejected as exc:
        log.warning("SMS %s to %s rejected: %s", outbox_id, mask_phone(to_e164), exc)
        if exc.code == TWILIO_UNSUBSCRIBED:
            await record_opt_out(session, message.to_index, source="twilio_21610")
        await _finish(session, outbox_id, attempt, _S.FAILED, str(exc))
        return "failed"
    except Exception as exc:
        # SmsTemporarilyUnavailable, and also anything unexpected from a sender: retrying later is safer
        # than leaving the row in `sending`. Unless the sender is sure the request never arrived, the
        # retry looks for it first.
        if isinstance(exc, SmsTemporarilyUnavailable):
            in_doubt = exc.may_have_arrived
        else:
            log.exception("unexpected error sending SMS %s", outbox_id)
            in_doubt = True
        error = str(exc) or type(exc).__name__
        return await _retry_later(session, deps.settings, message, error, in_doubt=in_doubt)

    await _mark_sent(session, outbox_id, attempt, sent.provider_sid, sent.status)
    log.info("SMS %s sent to %s as %s", outbox_id, mask_phone(to_e164), sent.provider_sid)
    return "sent"


async def _claim(session: AsyncSession, outbox_id: int, worker: str) -> OutboxMessage | None:
    """pending → sending, attempts + 1, in one conditional UPDATE: of two workers racing for a row, the
    database lets exactly one of them match it."""
    now = utcnow()
    claimed = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == outbox_id,
            col(OutboxMessage.status).in_(OUTBOX_TRANSITIONS.sources_of(_S.SENDING)),
            col(OutboxMessage.not_before) <= now,
        )
        .values(
            status=_S.SENDING,
            attempts=col(OutboxMessage.attempts) + 1,
            claimed_at=now,
            claimed_by=worker,
            updated_at=now,
        )
    )
    await session.commit()
    if claimed.rowcount != 1:
        return None
    return await session.get(OutboxMessage, outbox_id, populate_existing=True)


def _claimed_attempt(outbox_id: int, attempt: int) -> tuple[Any, ...]:
    """WHERE clause of a write about one attempt. `attempts == attempt` fences off a worker whose row was
    meanwhile released and claimed by another: the late one must not overwrite the newer outcome."""
    return (
        col(OutboxMessage.id) == outbox_id,
        col(OutboxMessage.status) == _S.SENDING,
        col(OutboxMessage.attempts) == attempt,
    )


async def _finish(
    session: AsyncSession, outbox_id: int, attempt: int, status: OutboxStatus, last_error: str | None
) -> None:
    """The claiming worker records how its attempt ended."""
    OUTBOX_TRANSITIONS.check(_S.SENDING, status)
    await session.exec(
        update(OutboxMessage)
        .where(*_claimed_attempt(outbox_id, attempt))
        .values(status=status, last_error=(last_error or "")[:500] or None, updated_at=utcnow())
    )
    await session.commit()


def _back_to_pending(now: datetime, reason: str, *, in_doubt: bool) -> dict[str, Any]:
    """Values that return a `sending` row to `pending`. In doubt: the first attempt whose outcome is
    unknown is remembered (by its claim time) until a later one ends in a known outcome."""
    OUTBOX_TRANSITIONS.check(_S.SENDING, _S.PENDING)
    values: dict[str, Any] = {"status": _S.PENDING, "last_error": reason[:500], "updated_at": now}
    if in_doubt:
        values["in_doubt_since"] = func.coalesce(
            col(OutboxMessage.in_doubt_since), col(OutboxMessage.claimed_at)
        )
    return values


async def _retry_later(
    session: AsyncSession, settings: Settings, message: OutboxMessage, error: str, *, in_doubt: bool
) -> str:
    outbox_id, attempt = message.id or 0, message.attempts
    if attempt >= settings.outbox_max_attempts:
        log.error("SMS %s failed after %s attempts: %s", outbox_id, attempt, error)
        await _finish(session, outbox_id, attempt, _S.FAILED, f"gave up: {error}")
        return "failed"
    now = utcnow()
    next_try = now + retry_delay(attempt, message.kind)
    log.warning("SMS %s not sent (attempt %s), retrying after %s: %s", outbox_id, attempt, next_try, error)
    await session.exec(
        update(OutboxMessage)
        .where(*_claimed_attempt(outbox_id, attempt))
        .values(not_before=next_try, **_back_to_pending(now, error, in_doubt=in_doubt))
    )
    await session.commit()
    return "retry"


async def _record_cut_off(deps: SmsJobDeps, outbox_id: int, attempt: int) -> None:
    now = utcnow()
    reason = "stopped while sending: Twilio is checked before it is sent again"
    try:
        async with deps.sessionmaker() as session:
            await session.exec(
                update(OutboxMessage)
                .where(*_claimed_attempt(outbox_id, attempt))
                .values(not_before=now, **_back_to_pending(now, reason, in_doubt=True))
            )
            await session.commit()
    except Exception:
        # The row stays `sending` under our name with no send behind it: our own next sweep, our stop,
        # or (after a crash) our silent heartbeat hands it on in the same state.
        log.exception("could not record that SMS %s was cut off mid-send", outbox_id)


async def _mark_sent(
    session: AsyncSession,
    outbox_id: int,
    attempt: int,
    provider_sid: str,
    provider_status: str,
    outcome: OutboxStatus = _S.SENT,
) -> None:
    now = utcnow()
    current = col(OutboxMessage.status)
    behind = current.in_(OUTBOX_TRANSITIONS.sources_of(outcome))
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id, col(OutboxMessage.attempts) == attempt)
        .values(
            # A status callback may already have moved the row on (to delivered, say): keep that.
            status=case((behind, outcome), else_=current),
            provider_sid=provider_sid,
            provider_status=case((behind, provider_status[:20]), else_=col(OutboxMessage.provider_status)),
            sent_at=now,
            in_doubt_since=None,
            last_error=None,
            updated_at=now,
        )
    )
    await session.commit()


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Hand every row that is due to the dispatcher, one-time codes first: pending rows whose hand-over
    was lost (Redis down, process killed after commit), retries whose backoff has passed, reminders whose
    time has come, and rows released here because the worker that claimed them is gone. Returns how many
    rows were handed over."""
    deps: SmsJobDeps = ctx["sms"]
    now = utcnow()
    async with deps.sessionmaker() as session:
        await _release_from_gone_workers(session, deps, now)
        due = await session.exec(
            select(OutboxMessage.id, OutboxMessage.kind)
            .where(col(OutboxMessage.status) == _S.PENDING, col(OutboxMessage.not_before) <= now)
            .order_by(
                case(SEND_PRIORITY, value=col(OutboxMessage.kind), else_=1),
                col(OutboxMessage.not_before),
            )
            .limit(SWEEP_BATCH)
        )
        ready = [Ready.of(outbox_id, kind) for outbox_id, kind in due.all() if outbox_id is not None]
        if ready:
            await session.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_([item.outbox_id for item in ready]))
                .values(queued_at=now)
            )
        await session.commit()
    if ready and deps.dispatcher is not None:
        await deps.dispatcher.dispatch(ready)
    return len(ready)


_WORKER_GONE = "its worker stopped while sending: Twilio is checked before it is sent again"


async def _release_from_gone_workers(session: AsyncSession, deps: SmsJobDeps, now: datetime) -> None:
    """A row in `sending` whose worker has no fresh heartbeat will never be finished by it. Whether its
    request reached Twilio is unknown, so it goes back to `pending` in doubt: the next attempt asks Twilio
    first. While a worker beats, its rows are left alone however long a send takes. The sweeping worker
    judges its own rows by what it knows, not by its heartbeat row (which may lag behind a busy
    database): a row of its own is released only if none of its sends is working on it (a cut-off send
    that could not record itself). A send registers before it claims, so a row claimed before `now` and
    missing from the list taken after `now` has no send behind it."""
    stall = timedelta(seconds=deps.settings.outbox_stall_seconds)
    claimant = col(OutboxMessage.claimed_by)
    orphan_of_mine = and_(
        claimant == deps.worker,
        col(OutboxMessage.claimed_at) < now,
        col(OutboxMessage.id).not_in(deps.in_flight.outbox_ids),
    )
    released = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.status) == _S.SENDING,
            or_(and_(claimant.is_distinct_from(deps.worker), claimant_gone(now, stall)), orphan_of_mine),
        )
        .values(not_before=now, **_back_to_pending(now, _WORKER_GONE, in_doubt=True))
        .execution_options(synchronize_session=False)
    )
    if released.rowcount:
        log.warning("sweep: %s SMS of gone workers released, each checked at Twilio first", released.rowcount)


async def release_own_claims(maker: async_sessionmaker[AsyncSession], worker: str) -> int:
    """At the end of a stop, after the sends in flight have settled: any row still `sending` under this
    worker's name (a cut-off send that could not record itself) goes back to `pending` in doubt, so a
    clean stop leaves nothing in `sending`."""
    now = utcnow()
    async with maker() as session:
        released = await session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.status) == _S.SENDING, col(OutboxMessage.claimed_by) == worker)
            .values(not_before=now, **_back_to_pending(now, "stopped while sending", in_doubt=True))
        )
        await session.commit()
    return released.rowcount or 0
