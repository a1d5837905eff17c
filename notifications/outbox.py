"""The transactional outbox: `enqueue` adds an SMS row in the caller's transaction; after that
transaction commits, the new rows are handed to the dispatcher (arq, or the in-process runner).

If the hand-over fails (Redis down, process killed between commit and dispatch), the rows are still
`pending` in the database and the periodic sweep queues them again: nothing is lost, at worst delayed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db import AsyncSession, utcnow
from app.privacy import FieldCipher
from notifications.models import OutboxMessage

__all__ = ["Dispatcher", "attach_dispatcher", "enqueue", "phone_index"]

log = logging.getLogger(__name__)

_PENDING_KEY = "outbox_new_ids"
_DISPATCHER_KEY = "outbox_dispatcher"
PHONE_INDEX_CONTEXT = "phone"


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
