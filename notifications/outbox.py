"""The transactional outbox: `enqueue` adds an SMS row in the caller's transaction; after that
transaction commits, the new rows are handed to the dispatcher (arq, or the in-process runner).

If the hand-over fails (Redis down, process killed between commit and dispatch), the rows are still
`pending` in the database and the periodic sweep queues them again: nothing is lost, at worst delayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy import event, update
from sqlalchemy.orm import Session
from sqlmodel import col

from app.db import AsyncSession, utcnow
from app.privacy import FieldCipher
from notifications.models import OutboxMessage

__all__ = [
    "WITHDRAWN",
    "Dispatcher",
    "StillWanted",
    "attach_dispatcher",
    "enqueue",
    "phone_index",
    "register_still_wanted",
    "still_wanted",
    "withdraw",
]

log = logging.getLogger(__name__)

_PENDING_KEY = "outbox_new_ids"
_DISPATCHER_KEY = "outbox_dispatcher"
PHONE_INDEX_CONTEXT = "phone"

# Terminal status of a row that was never sent because what it announced no longer holds (a reminder of
# an appointment that was cancelled). Neither the worker's claim, the sweep nor a delivery callback
# matches it: each of them only moves rows out of statuses they name.
WITHDRAWN = "withdrawn"

# (session, related_id) -> is the thing this row is about still as it was when the row was written?
StillWanted = Callable[[AsyncSession, int], Awaitable[bool]]
_STILL_WANTED: dict[tuple[str, str], StillWanted] = {}


class Dispatcher(Protocol):
    async def dispatch(self, outbox_ids: list[int]) -> None:
        """Hand committed outbox rows to whatever sends them. Must not raise for transient failures."""


def phone_index(cipher: FieldCipher, e164: str) -> str:
    """The one blind index of a phone number, shared by outbox rows, opt-outs, calls and bookings."""
    return cipher.blind_index(e164, context=PHONE_INDEX_CONTEXT)


def attach_dispatcher(session: AsyncSession, dispatcher: Dispatcher | None) -> None:
    """Called by whoever opens the session (request scope, worker): after commit, new rows go here."""
    session.sync_session.info[_DISPATCHER_KEY] = dispatcher


async def enqueue(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    kind: str,
    to_e164: str,
    body: str,
    related_type: str | None = None,
    related_id: int | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        kind=kind,
        to_ciphertext=cipher.encrypt(to_e164, context="outbox.to"),
        to_index=phone_index(cipher, to_e164),
        body_ciphertext=cipher.encrypt(body, context="outbox.body"),
        related_type=related_type,
        related_id=related_id,
        not_before=not_before or utcnow(),
    )
    session.add(message)
    await session.flush()
    if message.not_before <= utcnow():
        session.sync_session.info.setdefault(_PENDING_KEY, []).append(message.id)
    return message


async def withdraw(session: AsyncSession, *, related_type: str, related_id: int, kind: str) -> int:
    """In the caller's transaction, mark the `pending` rows of one kind for one related object as
    withdrawn, so they are never sent. Returns how many. A row already claimed (`sending`) is past
    stopping here; the worker asks `still_wanted` after its claim for that case."""
    now = utcnow()
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.related_type) == related_type,
            col(OutboxMessage.related_id) == related_id,
            col(OutboxMessage.kind) == kind,
            col(OutboxMessage.status) == "pending",
        )
        .values(status=WITHDRAWN, last_error="withdrawn: no longer needed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def register_still_wanted(related_type: str, kinds: Iterable[str], check: StillWanted) -> None:
    """Let the owner of `related_type` (booking, for appointments) tell the worker whether a row of one
    of `kinds` is still wanted just before it is sent. Notifications stays free of booking imports: booking
    registers the check when it is imported; the worker only calls what was registered."""
    for kind in kinds:
        _STILL_WANTED[(related_type, kind)] = check


async def still_wanted(session: AsyncSession, message: OutboxMessage) -> bool:
    """True unless a registered check says the row's related object changed so it must not go out."""
    if message.related_type is None or message.related_id is None:
        return True
    check = _STILL_WANTED.get((message.related_type, message.kind))
    if check is None:
        return True
    return await check(session, message.related_id)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(sync_session: Session) -> None:
    ids: list[int] = sync_session.info.pop(_PENDING_KEY, [])
    dispatcher: Dispatcher | None = sync_session.info.get(_DISPATCHER_KEY)
    if not ids or dispatcher is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop (sync tooling): the sweep will pick the rows up
    task = loop.create_task(_safe_dispatch(dispatcher, ids))
    _background.add(task)
    task.add_done_callback(_background.discard)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_PENDING_KEY, None)


_background: set[asyncio.Task[None]] = set()


async def _safe_dispatch(dispatcher: Dispatcher, ids: list[int]) -> None:
    try:
        await dispatcher.dispatch(ids)
    except Exception:  # the rows stay pending; the sweep retries them
        log.exception("handing outbox rows %s to the dispatcher failed; the sweep will retry", ids)


async def wait_for_dispatches() -> None:
    """Tests and shutdown: let hand-overs already started finish."""
    if _background:
        await asyncio.gather(*list(_background), return_exceptions=True)
