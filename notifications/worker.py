"""The SMS jobs: send one outbox row, sweep stalled and due rows; and the arq worker that runs them.

The jobs are plain `async def job(ctx, ...)` functions. arq runs them in `family-hotline worker`; in
embedded mode (no Redis) the web process runs the very same functions as asyncio tasks. The database row
is the source of truth, never the queue: a job claims its row with a conditional UPDATE, so a job that
runs twice, or on two workers at once, sends at most once, and a lost job is found again by the sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, update
from sqlmodel import col, select

from app.db import AsyncSession, create_engine, create_sessionmaker, utcnow
from app.privacy import DecryptionError, FieldCipher, mask_phone
from notifications.delivery import status_callback_url
from notifications.models import OutboxMessage
from notifications.opt_out import is_opted_out, record_opt_out
from notifications.outbox import WITHDRAWN, still_wanted
from notifications.sms import SmsRejected, SmsSender, SmsTemporarilyUnavailable, build_sender

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from app.settings import Settings
    from notifications.outbox import Dispatcher

__all__ = [
    "SEND_JOB",
    "job_context",
    "job_id_for",
    "retry_delay",
    "run_worker",
    "send_outbox_message",
    "sweep_outbox",
    "sweep_schedule",
    "worker_settings",
]

log = logging.getLogger(__name__)

SEND_JOB = "send_outbox_message"

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


def job_id_for(outbox_id: int) -> str:
    """The arq job id of a row: enqueueing the same row twice while it waits is a no-op."""
    return f"outbox:{outbox_id}"


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed try."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def job_context(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    sender: SmsSender,
    dispatcher: Dispatcher | None,
) -> dict[str, Any]:
    """What the jobs find in `ctx`, whether arq or the in-process runner calls them."""
    return {
        "settings": settings,
        "sessionmaker": sessionmaker,
        "cipher": cipher,
        "sender": sender,
        "dispatcher": dispatcher,
    }


async def send_outbox_message(ctx: dict[str, Any], outbox_id: int) -> str:
    """Send one outbox row if it is still due. Returns what happened, for logs and tests."""
    settings: Settings = ctx["settings"]
    maker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    cipher: FieldCipher = ctx["cipher"]
    sender: SmsSender = ctx["sender"]

    async with maker() as session:
        message = await _claim(session, outbox_id)
        if message is None:
            return "skipped"  # already sent, in flight elsewhere, not due yet, or gone
        attempt = message.attempts
        if not await still_wanted(session, message):
            # Belt and braces: the owner of the related object (booking, for an appointment's reminder)
            # says it changed, e.g. cancelled by a path that forgot `outbox.withdraw`.
            await _finish(
                session, outbox_id, attempt, status=WITHDRAWN, last_error="withdrawn: no longer needed"
            )
            return "withdrawn"
        if message.kind != "otp" and await is_opted_out(session, message.to_index):
            # A one-time code is exempt: the parent asked for it moments ago on our booking page.
            await _finish(session, outbox_id, attempt, status="suppressed", last_error="recipient opted out")
            return "suppressed"
        try:
            to_e164 = cipher.decrypt(message.to_ciphertext, context="outbox.to")
            body = cipher.decrypt(message.body_ciphertext, context="outbox.body")
        except DecryptionError:
            log.error("outbox %s cannot be decrypted with the configured data key", outbox_id)
            await _finish(session, outbox_id, attempt, status="failed", last_error="cannot decrypt")
            return "failed"
        # End the read transaction before the network call: on SQLite an open transaction would hold
        # up other writers for as long as Twilio takes to answer.
        await session.commit()

        try:
            sent = await sender.send(to_e164, body, status_callback=status_callback_url(settings, outbox_id))
        except SmsRejected as exc:
            log.warning("SMS %s to %s rejected: %s", outbox_id, mask_phone(to_e164), exc)
            if exc.code == TWILIO_UNSUBSCRIBED:
                await record_opt_out(session, message.to_index, source="twilio_21610")
            await _finish(session, outbox_id, attempt, status="failed", last_error=str(exc))
            return "failed"
        except Exception as exc:
            # SmsTemporarilyUnavailable, and also anything unexpected from a sender: retrying later
            # is safer than leaving the row in `sending` until the sweep notices.
            if not isinstance(exc, SmsTemporarilyUnavailable):
                log.exception("unexpected error sending SMS %s", outbox_id)
            return await _retry_later(session, settings, outbox_id, attempt, str(exc) or type(exc).__name__)

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
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.not_before) <= now,
        )
        .values(status="sending", attempts=col(OutboxMessage.attempts) + 1, claimed_at=now, updated_at=now)
    )
    await session.commit()
    if claimed.rowcount != 1:
        return None
    return await session.get(OutboxMessage, outbox_id, populate_existing=True)


async def _finish(
    session: AsyncSession, outbox_id: int, attempt: int, *, status: str, last_error: str | None
) -> None:
    # `attempts == attempt` fences off a worker whose row was meanwhile re-queued by the sweep and
    # claimed by another: the late one must not overwrite the newer outcome.
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == outbox_id,
            col(OutboxMessage.status) == "sending",
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
        await _finish(session, outbox_id, attempt, status="failed", last_error=f"gave up: {error}")
        return "failed"
    next_try = utcnow() + retry_delay(attempt)
    log.warning("SMS %s not sent (attempt %s), retrying after %s: %s", outbox_id, attempt, next_try, error)
    await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == outbox_id,
            col(OutboxMessage.status) == "sending",
            col(OutboxMessage.attempts) == attempt,
        )
        .values(status="pending", not_before=next_try, last_error=error[:500], updated_at=utcnow())
    )
    await session.commit()
    return "retry"


async def _mark_sent(
    session: AsyncSession, outbox_id: int, attempt: int, provider_sid: str, status: str
) -> None:
    now = utcnow()
    current = col(OutboxMessage.status)
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == outbox_id, col(OutboxMessage.attempts) == attempt)
        .values(
            # A status callback may already have moved the row on (to delivered, say): keep that.
            status=case((current.in_(["sending", "pending"]), "sent"), else_=current),
            provider_sid=provider_sid,
            provider_status=case(
                (current.in_(["sending", "pending"]), status[:20]), else_=col(OutboxMessage.provider_status)
            ),
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
    settings: Settings = ctx["settings"]
    maker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    dispatcher: Dispatcher | None = ctx.get("dispatcher")
    now = utcnow()
    async with maker() as session:
        await _release_stalled(session, settings, now)
        due = await session.exec(
            select(OutboxMessage.id)
            .where(col(OutboxMessage.status) == "pending", col(OutboxMessage.not_before) <= now)
            .order_by(col(OutboxMessage.not_before))
            .limit(SWEEP_BATCH)
        )
        ids = [outbox_id for outbox_id in due.all() if outbox_id is not None]
        if ids:
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(queued_at=now)
            )
        await session.commit()
    if ids and dispatcher is not None:
        await dispatcher.dispatch(ids)
    return len(ids)


async def _release_stalled(session: AsyncSession, settings: Settings, now: datetime) -> None:
    stalled = (
        col(OutboxMessage.status) == "sending",
        col(OutboxMessage.claimed_at) < now - SENDING_TIMEOUT,
    )
    # We cannot know whether the dead worker reached Twilio. Sending again risks a duplicate; not
    # sending risks a parent never getting the code or confirmation. A duplicate is the lesser harm.
    released = await session.exec(
        update(OutboxMessage)
        .where(*stalled, col(OutboxMessage.attempts) < settings.outbox_max_attempts)
        .values(status="pending", not_before=now, last_error="worker stopped while sending", updated_at=now)
    )
    exhausted = await session.exec(
        update(OutboxMessage)
        .where(*stalled, col(OutboxMessage.attempts) >= settings.outbox_max_attempts)
        .values(status="failed", last_error="worker stopped while sending; attempts used up", updated_at=now)
    )
    if released.rowcount or exhausted.rowcount:
        log.warning(
            "sweep: %s stalled SMS re-queued, %s given up", released.rowcount or 0, exhausted.rowcount or 0
        )


def sweep_schedule(every_seconds: int) -> dict[str, set[int] | int]:
    """arq cron fields for "every N seconds" (cron has no interval, only sets of seconds and minutes)."""
    every_seconds = max(every_seconds, 1)
    if every_seconds < 60:
        return {"second": set(range(0, 60, every_seconds))}
    return {"minute": set(range(0, 60, max(every_seconds // 60, 1))), "second": 0}


async def _worker_startup(ctx: dict[str, Any]) -> None:
    from notifications.dispatch import ArqDispatcher

    settings: Settings = ctx["settings"]
    engine = create_engine(settings.database_url)
    ctx["engine"] = engine
    ctx.update(
        job_context(
            settings,
            create_sessionmaker(engine),
            FieldCipher(settings.data_key),
            ctx.get("sender") or build_sender(settings),
            ArqDispatcher.from_pool(ctx["redis"]),
        )
    )
    # Whatever piled up while no worker ran goes out now, not at the next cron tick.
    try:
        queued = await sweep_outbox(ctx)
        log.info("worker started; %s waiting SMS queued", queued)
    except Exception:
        log.exception("start-up sweep failed; the periodic sweep will retry")


async def _worker_shutdown(ctx: dict[str, Any]) -> None:
    sender = ctx.get("sender")
    close = getattr(sender, "aclose", None)
    if close is not None:
        await close()
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()


def worker_settings(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker`, built from our Settings (arq's WorkerSettings, as data)."""
    from arq.connections import RedisSettings
    from arq.cron import cron
    from arq.worker import func

    if not settings.redis_url:
        raise ValueError("the arq worker needs FH_REDIS_URL")
    return {
        # keep_result=0: a finished job leaves no result key behind, because a kept result would make
        # arq refuse a later enqueue under the same job id, and the sweep must be able to re-queue a row
        # (after a retry backoff, say) under "outbox:<id>" again. max_tries=1: retries are ours, driven
        # by the row's status and not_before, not arq's.
        "functions": [func(send_outbox_message, name=SEND_JOB, keep_result=0, max_tries=1)],
        "cron_jobs": [
            cron(
                sweep_outbox,
                name="sweep_outbox",
                unique=True,  # one sweep per tick however many workers run
                timeout=JOB_TIMEOUT_SECONDS,
                **sweep_schedule(settings.outbox_sweep_seconds),  # type: ignore[arg-type]
            )
        ],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "ctx": {"settings": settings},
        "on_startup": _worker_startup,
        "on_shutdown": _worker_shutdown,
        "keep_result": 0,
        "job_timeout": JOB_TIMEOUT_SECONDS,
        "max_jobs": 10,
    }


def run_worker(settings: Settings) -> None:
    """`family-hotline worker`: runs until SIGINT/SIGTERM."""
    from arq.worker import run_worker as run_arq_worker

    run_arq_worker(worker_settings(settings))  # type: ignore[arg-type]
