"""The sends this process has started and not finished, so that stopping can wait for them, and so that
the sweep can tell a row this process really is sending from one it left behind.

A send that is cut off (it outlived the stop grace, or arq's job timeout cancelled it) records its own
attempt as in doubt on the way out (see `jobs.send_outbox_message`); `settle` waits for that record. If
that record could not be written, the row is still `sending` under this worker's name with no send of
ours behind it: `orphans_of_mine` in the sweep finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

__all__ = ["SendsInFlight"]

# A send cancelled at the end of the grace gets this long to write down that its outcome is unknown.
RECORD_CANCELLED_SECONDS = 5.0


class SendsInFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        # Counted, not a set: the arq job and the sweep may both try one row at once (one claims it).
        self._outbox_ids: Counter[int] = Counter()
        self.stopping = False

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def outbox_ids(self) -> list[int]:
        """The rows a send of this process is working on right now."""
        return list(self._outbox_ids)

    @contextlib.contextmanager
    def track(self, outbox_id: int) -> Iterator[None]:
        """Around one send, from before its claim to after its last write, in the task that runs it."""
        task = asyncio.current_task()
        assert task is not None, "a send runs in a task"
        self._tasks.add(task)
        self._outbox_ids[outbox_id] += 1
        try:
            yield
        finally:
            self._tasks.discard(task)
            self._outbox_ids[outbox_id] -= 1
            if not self._outbox_ids[outbox_id]:
                del self._outbox_ids[outbox_id]

    async def settle(self, grace_seconds: float) -> int:
        """Start no new send; let those running finish for up to `grace_seconds`, then cancel the rest and
        wait for them to record their attempts. Returns how many were cancelled."""
        self.stopping = True
        running = set(self._tasks)
        if running:
            _, running = await asyncio.wait(running, timeout=grace_seconds)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=RECORD_CANCELLED_SECONDS)
        return len(running)
