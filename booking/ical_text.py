"""iCalendar (RFC 5545) text written directly: content lines, TEXT escaping, UTC times and line folding.

The feeds used the `icalendar` package's Calendar/Event objects; for 5,000 events `to_ical()` took about
2 s, most of it folding lines one character at a time, plus time-zone look-ups on five datetimes per event
although every time we write is UTC. The few property kinds a feed needs are written here instead, and the
feeds are still read back by `icalendar` and Mozilla's ical.js in the tests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["LINE_OCTETS", "CalendarWriter", "content_line", "escape_text", "fold", "utc_stamp"]

LINE_OCTETS = 75  # RFC 5545 §3.1: lines SHOULD NOT be longer than 75 octets, excluding the line break

# TEXT values (§3.3.11): backslash, semicolon and comma are escaped, a line break becomes "\n"; other
# control characters are not allowed in TEXT, so they are dropped (a CR of a CRLF pair included).
_TEXT_ESCAPES: dict[int, str | None] = {ord("\\"): "\\\\", ord(";"): "\\;", ord(","): "\\,", ord("\n"): "\\n"}
_TEXT_ESCAPES.update({code: None for code in (*range(0x00, 0x09), *range(0x0A + 1, 0x20), 0x7F)})
_TEXT_ESCAPES[ord("\t")] = " "


_NEEDS_ESCAPE = re.compile(r"[\\;,\x00-\x1f\x7f]")


def escape_text(value: str) -> str:
    # Most values (uids, masked phones, names) need nothing: a regex scan is cheaper than translate().
    return value.translate(_TEXT_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def utc_stamp(moment: datetime) -> str:
    """`20261101T093000Z`. Aware times only: a naive one would silently be read as UTC."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime in a calendar feed")
        moment = moment.astimezone(UTC)
    # %-formatting: several times faster than strftime() or an f-string with format specs.
    return "%04d%02d%02dT%02d%02d%02dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


def fold(line: bytes) -> bytes:
    """Fold one UTF-8 content line into pieces of at most 75 octets (§3.1), each continuation starting
    with a space. A cut never falls inside a multi-byte character: it moves back past continuation bytes
    (0b10xxxxxx), so every piece is valid UTF-8 on its own, as strict parsers want."""
    if len(line) <= LINE_OCTETS:
        return line
    pieces: list[bytes] = []
    start, room = 0, LINE_OCTETS
    while len(line) - start > room:
        cut = start + room
        while line[cut] & 0xC0 == 0x80:
            cut -= 1
        pieces.append(line[start:cut])
        start, room = cut, LINE_OCTETS - 1  # the leading space of a continuation counts
    pieces.append(line[start:])
    return b"\r\n ".join(pieces)


def content_line(name: str, value: str) -> str:
    """`NAME:value`, folded when longer than 75 octets; `value` is already in iCalendar form (TEXT
    escaped). Short ASCII lines, most of a feed, skip the encoding."""
    line = f"{name}:{value}"
    if len(line) <= LINE_OCTETS // 4 or (len(line) <= LINE_OCTETS and line.isascii()):
        return line
    raw = line.encode()
    return line if len(raw) <= LINE_OCTETS else fold(raw).decode()


class CalendarWriter:
    """Collects content lines and returns the calendar as CRLF-terminated UTF-8 bytes."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._texts: dict[tuple[str, str], str] = {}  # thousands of events repeat a handful of texts

    def raw(self, name: str, value: str) -> None:
        """A property whose value is already in its iCalendar form (a date-time, an integer, a code)."""
        self._lines.append(content_line(name, value))

    def text_line(self, name: str, value: str) -> str:
        """The folded line of a TEXT property, computed once per distinct value."""
        line = self._texts.get((name, value))
        if line is None:
            line = self._texts[(name, value)] = content_line(name, escape_text(value))
        return line

    def text(self, name: str, value: str) -> None:
        self._lines.append(self.text_line(name, value))

    def lines(self, block: str) -> None:
        """Several finished content lines (each from `content_line`/`text_line` or short ASCII),
        CRLF-separated."""
        self._lines.append(block)

    def to_bytes(self) -> bytes:
        return ("\r\n".join(self._lines) + "\r\n").encode()
