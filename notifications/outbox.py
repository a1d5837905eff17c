"""The transactional outbox: `enqueue` adds an SMS row in the caller's transaction; after that
transaction commits, the new rows are handed to the dispatcher (arq, or the in-process runner).

If the hand-over fails (Redis down, process killed between commit and dispatch), the rows are still
`pending` in the database and the periodic sweep of a worker sends them: nothing is lost, at worst
delayed by a sweep interval.

Nothing here happens on import. The application calls `dispatch_after_commit` on its own sessionmaker,
and builds one `SendChecks` that the areas owning related objects add their checks to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Protocol

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import AsyncSession, utcnow
from core.privacy import FieldCipher, phone_index
from notifications.models import (
    OUTBOX_TRANSITIONS,
    SEND_PRIORITY,
    MessageKind,
    OutboxMessage,
    OutboxStatus,
)

__all__ = [
    "Dispatcher",
    "Ready",
    "SendChecks",
    "StillWanted",
    "dispatch_after_commit",
    "enqueue",
    "wait_for_dispatches",
    "withdraw",
]

log = logging.getLogger(__name__)

_PENDING_KEY = "outbox_new_ids"

# (session, related_id) -> is the thing this row is about still as it was when the row was written?
StillWanted = Callable[[AsyncSession, int], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Ready:
    """A committed outbox row that may be sent now, and how urgent it is (`SEND_PRIORITY`: lower first)."""

    outbox_id: int
    priority: int = 1

    @classmethod
    def of(cls, outbox_id: int, kind: str) -> Ready:
        return cls(outbox_id, SEND_PRIORITY.get(kind, 1))


class Dispatcher(Protocol):
    async def dispatch(self, ready: list[Ready]) -> None:
        """Hand committed outbox rows to whatever sends them, the most urgent first. Must not raise for
        transient failures."""


class SendChecks:
    """Checks the worker asks, after claiming a row and before sending it, whether it is still wanted.

    The area that owns the related object adds its check (booking: is the appointment still confirmed?),
    so notifications imports no area above it. The application builds one instance for the web process
    and one for the worker, through the same wiring, so no way of starting a worker can miss a check.
    """

    def __init__(self) -> None:
        self._checks: dict[tuple[str, str], StillWanted] = {}

    def add(self, related_type: str, kinds: Iterable[MessageKind], check: StillWanted) -> None:
        for kind in kinds:
            self._checks[(related_type, kind)] = check

    def covers(self, related_type: str, kind: MessageKind) -> bool:
        return (related_type, kind) in self._checks

    async def still_wanted(self, session: AsyncSession, message: OutboxMessage) -> bool:
        """True unless a check says the row's related object changed so that it must not go out."""
        if message.related_type is None or message.related_id is None:
            return True
        check = self._checks.get((message.related_type, message.kind))
        if check is None:
            return True
        return await check(session, message.related_id)


async def enqueue(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    kind: MessageKind,
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
    if message.not_before <= utcnow() and message.id is not None:
        session.sync_session.info.setdefault(_PENDING_KEY, []).append(Ready.of(message.id, kind))
    return message


async def withdraw(session: AsyncSession, *, related_type: str, related_id: int, kind: MessageKind) -> int:
    """In the caller's transaction, mark the `pending` rows of one kind for one related object as
    withdrawn, so they are never sent. Returns how many. A row already claimed (`sending`) is past
    stopping here; the worker asks `SendChecks.still_wanted` after its claim for that case."""
    OUTBOX_TRANSITIONS.check(OutboxStatus.PENDING, OutboxStatus.WITHDRAWN)
    now = utcnow()
    result = await session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.related_type) == related_type,
            col(OutboxMessage.related_id) == related_id,
            col(OutboxMessage.kind) == kind,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
        )
        .values(status=OutboxStatus.WITHDRAWN, last_error="withdrawn: no longer needed", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def dispatch_after_commit(maker: async_sessionmaker[AsyncSession], dispatcher: Dispatcher) -> None:
    """Every session of `maker` hands the outbox rows it added to `dispatcher` once it has committed;
    a rollback forgets them. Listens on this sessionmaker's own Session class (see
    `core.db.create_sessionmaker`), so two apps in one process never dispatch each other's rows."""
    session_class = maker.kw["sync_session_class"]
    event.listen(session_class, "after_commit", partial(_dispatch_after_commit, dispatcher))
    event.listen(session_class, "after_rollback", _forget_after_rollback)


def _dispatch_after_commit(dispatcher: Dispatcher, sync_session: Session) -> None:
    ready: list[Ready] = sync_session.info.pop(_PENDING_KEY, [])
    if not ready:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop (sync tooling): the sweep will pick the rows up
    task = loop.create_task(_safe_dispatch(dispatcher, ready))
    _background.add(task)
    task.add_done_callback(_background.discard)


def _forget_after_rollback(sync_session: Session) -> None:
    sync_session.info.pop(_PENDING_KEY, None)


_background: set[asyncio.Task[None]] = set()


async def _safe_dispatch(dispatcher: Dispatcher, ready: list[Ready]) -> None:
    try:
        await dispatcher.dispatch(ready)
    except Exception:  # the rows stay pending; the sweep retries them
        ids = [item.outbox_id for item in ready]
        log.exception("handing outbox rows %s to the dispatcher failed; the sweep will retry", ids)


async def wait_for_dispatches() -> None:
    """Tests and shutdown: let hand-overs already started finish."""
    if _background:
        await asyncio.gather(*list(_background), return_exceptions=True)
