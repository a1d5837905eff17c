"""The SMS jobs: send one outbox row; sweep stalled and due rows back to the dispatcher.

They are plain `async def job(ctx, ...)` functions. arq runs them in the worker process; in embedded mode
(no Redis) the web process runs the very same functions as asyncio tasks. Either way `ctx["sms"]` holds
their `SmsJobDeps`. The database row is the source of truth, never the queue: a job claims its row with a
conditional UPDATE, so a job that runs twice, or on two workers at once, sends at most once, and a lost
job is found again by the sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select

from core.db import AsyncSession, utcnow
from core.privacy import DecryptionError, FieldCipher, mask_phone
from core.settings import Settings
from notifications.delivery import status_callback_url
from notifications.models import OUTBOX_TRANSITIONS, MessageKind, OutboxMessage, OutboxStatus
from notifications.opt_out import is_opted_out, record_opt_out
from notifications.outbox import Dispatcher, SendChecks
from notifications.sms import SmsRejected, SmsSender, SmsTemporarilyUnavailable

__all__ = [
    "SENDING_TIMEOUT",
    "SEND_JOB",
    "SWEEP_JOB",
    "SmsJobDeps",
    "job_context",
    "job_id_for",
    "retry_delay",
    "send_outbox_message",
    "sweep_outbox",
]

log = logging.getLogger(__name__)

SEND_JOB = "send_outbox_message"
SWEEP_JOB = "sweep_outbox"

# Retries after a provider outage: 30 s, 1 min, 2 min ... capped at an hour. With the default of 8
# attempts a message keeps trying for about two hours before it is marked failed.
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)

# A row left in `sending` longer than this belonged to a worker that died mid-send. It is well above the
# job timeout, so a slow but living job is never sent a second time alongside itself.
SENDING_TIMEOUT = timedelta(minutes=5)
JOB_TIMEOUT_SECONDS = 60

SWEEP_BATCH = 500

# Twilio error 21610: the recipient has replied STOP to our number. Twilio blocks further messages, so we
# record the opt-out too and stop trying.
TWILIO_UNSUBSCRIBED = 21610

_S = OutboxStatus


@dataclass(frozen=True)
class SmsJobDeps:
    """What the jobs need, whether arq or the in-process runner calls them."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    cipher: FieldCipher
    sender: SmsSender
    dispatcher: Dispatcher | None
    checks: SendChecks

    def with_sender(self, sender: SmsSender) -> SmsJobDeps:
        return replace(self, sender=sender)


def job_context(deps: SmsJobDeps) -> dict[str, Any]:
    """The `ctx` the jobs are called with (arq adds its own keys beside ours)."""
    return {"sms": deps}


def job_id_for(outbox_id: int) -> str:
    """The arq job id of a row: enqueueing the same row twice while it waits is a no-op."""
    return f"outbox:{outbox_id}"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed try."""
    delay: timedelta = RETRY_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_CAP)


async def send_outbox_message(ctx: dict[str, Any], outbox_id: int) -> str:
    """Send one outbox row if it is still due. Returns what happened, for logs and tests."""
    deps: SmsJobDeps = ctx["sms"]
    async with deps.sessionmaker() as session:
        message = await _claim(session, outbox_id)
        if message is None:
            return "skipped"  # already sent, in flight elsewhere, not due yet, or gone
        attempt = message.attempts
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
        # End the read transaction before the network call: on SQLite an open transaction would hold
        # up other writers for as long as Twilio takes to answer.
        await session.commit()

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
            # SmsTemporarilyUnavailable, and also anything unexpected from a sender: retrying later
            # is safer than leaving the row in `sending` until the sweep notices.
            if not isinstance(exc, SmsTemporarilyUnavailable):
                log.exception("unexpected error sending SMS %s", outbox_id)
            return await _retry_later(
                session, deps.settings, outbox_id, attempt, str(exc) or type(exc).__name__
            )

        await _mark_sent(session, outbox_id, attempt, sent.provider_sid, sent.status)
        log.info("SMS %s sent to %s as %s", outbox_id, mask_phone(to_e164), sent.provider_sid)
        return "sent"


async def _claim(session: AsyncSession, outbox_id: int) -> OutboxMessage | None:
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
        .values(status=_S.SENDING, attempts=col(OutboxMessage.attempts) + 1, claimed_at=now, updated_at=now)
    )
    await session.commit()
    if claimed.rowcount != 1:
        return None
    return await session.get(OutboxMessage, outbox_id, populate_existing=True)


async def _finish(
    session: AsyncSession, outbox_id: int, attempt: int, status: OutboxStatus, last_error: str | None
) -> None:
    """The claiming worker records how its attempt ended. `attempts == attempt` fences off a worker whose
    row was meanwhile re-queued by the sweep and claimed by another: the late one must not overwrite the
    newer outcome."""
    OUTBOX_TRANSITIONS.check(_S.SENDING, status)
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == outbox_id,
            col(OutboxMessage.status) == _S.SENDING,
            col(OutboxMessage.attempts) == attempt,
        )
        .values(status=status, last_error=(last_error or "")[:500] or None, updated_at=utcnow())
    )
    await session.commit()


async def _retry_later(
    session: AsyncSession, settings: Settings, outbox_id: int, attempt: int, error: str
) -> str:
    if attempt >= settings.outbox_max_attempts:
        log.error("SMS %s failed after %s attempts: %s", outbox_id, attempt, error)
        await _finish(session, outbox_id, attempt, _S.FAILED, f"gave up: {error}")
        return "failed"
    next_try = utcnow() + retry_delay(attempt)
    log.warning("SMS %s not sent (attempt %s), retrying after %s: %s", outbox_id, attempt, next_try, error)
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == outbox_id,
            col(OutboxMessage.status) == _S.SENDING,
            col(OutboxMessage.attempts) == attempt,
        )
        .values(status=_S.PENDING, not_before=next_try, last_error=error[:500], updated_at=utcnow())
    )
    await session.commit()
    return "retry"


async def _mark_sent(
    session: AsyncSession, outbox_id: int, attempt: int, provider_sid: str, status: str
) -> None:
    now = utcnow()
    current = col(OutboxMessage.status)
    not_yet_sent = current.in_(OUTBOX_TRANSITIONS.sources_of(_S.SENT))
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id, col(OutboxMessage.attempts) == attempt)
        .values(
            # A status callback may already have moved the row on (to delivered, say): keep that.
            status=case((not_yet_sent, _S.SENT), else_=current),
            provider_sid=provider_sid,
            provider_status=case((not_yet_sent, status[:20]), else_=col(OutboxMessage.provider_status)),
            sent_at=now,
            last_error=None,
            updated_at=now,
        )
    )
    await session.commit()


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-queue what would otherwise wait forever: rows a dead worker left in `sending`, pending rows
    whose hand-over was lost (Redis down, process killed after commit), retries whose backoff has passed,
    and reminders whose `not_before` has come. Returns how many rows were handed to the dispatcher."""
    deps: SmsJobDeps = ctx["sms"]
    now = utcnow()
    async with deps.sessionmaker() as session:
        await _release_stalled(session, deps.settings, now)
        due = await session.exec(
            select(OutboxMessage.id)
            .where(col(OutboxMessage.status) == _S.PENDING, col(OutboxMessage.not_before) <= now)
            .order_by(col(OutboxMessage.not_before))
            .limit(SWEEP_BATCH)
        )
        ids = [outbox_id for outbox_id in due.all() if outbox_id is not None]
        if ids:
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(queued_at=now)
            )
        await session.commit()
    if ids and deps.dispatcher is not None:
        await deps.dispatcher.dispatch(ids)
    return len(ids)


async def _release_stalled(session: AsyncSession, settings: Settings, now: datetime) -> None:
    stalled = (
        col(OutboxMessage.status) == _S.SENDING,
        col(OutboxMessage.claimed_at) < now - SENDING_TIMEOUT,
    )
    # We cannot know whether the dead worker reached Twilio. Sending again risks a duplicate; not
    # sending risks a parent never getting the code or confirmation. A duplicate is the lesser harm.
    released = await session.exec(
        update(OutboxMessage)
        .where(*stalled, col(OutboxMessage.attempts) < settings.outbox_max_attempts)
        .values(status=_S.PENDING, not_before=now, last_error="worker stopped while sending", updated_at=now)
    )
    exhausted = await session.exec(
        update(OutboxMessage)
        .where(*stalled, col(OutboxMessage.attempts) >= settings.outbox_max_attempts)
        .values(status=_S.FAILED, last_error="worker stopped while sending; attempts used up", updated_at=now)
    )
    if released.rowcount or exhausted.rowcount:
        log.warning(
            "sweep: %s stalled SMS re-queued, %s given up", released.rowcount or 0, exhausted.rowcount or 0
        )
