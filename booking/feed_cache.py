"""Rendered calendar feeds kept in memory by their ETag, least recently used out first.

Many calendar services poll without If-None-Match, so an unchanged feed would be queried, decrypted and
written again on every poll. Its ETag is computed from the data (booking.calendar), so a body stored under
an ETag is exactly what a fresh render would give while the ETag is unchanged; a changed feed has a new
ETag and simply misses. Per process, bounded in bytes; touched only from the event loop's thread.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["RenderedFeeds"]


class RenderedFeeds:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    def get(self, etag: str) -> bytes | None:
        body = self._bodies.get(etag)
        if body is not None:
            self._bodies.move_to_end(etag)
        return body

    def put(self, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes or etag in self._bodies:
            return
        self._bodies[etag] = body
        self._size += len(body)
        while self._size > self.max_bytes:
            _, dropped = self._bodies.popitem(last=False)
            self._size -= len(dropped)

    def clear(self) -> None:
        self._bodies.clear()
        self._size = 0
