"""One place per entity that says which status changes are legal.

Status changes are conditional UPDATEs (`... WHERE status IN (sources)`), so two requests can never both
move the same row. `sources_of(target)` gives that WHERE clause its list; `check` refuses an illegal change
made in Python. Either way, the table of edges an entity declares is the only statement of its rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

__all__ = ["IllegalTransition", "Transitions"]


class IllegalTransition(ValueError):
    """A programming error: code asked for a status change its entity's table does not allow."""


S = TypeVar("S", bound=StrEnum)


class Transitions(Generic[S]):
    def __init__(self, entity: str, edges: Mapping[S, Iterable[S]]) -> None:
        self.entity = entity
        self._next: dict[S, frozenset[S]] = {source: frozenset(targets) for source, targets in edges.items()}

    def allowed(self, source: S | str, target: S | str) -> bool:
        return any(target in targets for status, targets in self._next.items() if status == source)

    def sources_of(self, target: S) -> tuple[S, ...]:
        """The statuses a row may move to `target` from, in declaration order (for `status IN (...)`)."""
        return tuple(source for source, targets in self._next.items() if target in targets)

    def check(self, source: S | str, target: S | str) -> None:
        if not self.allowed(source, target):
            raise IllegalTransition(f"{self.entity}: {source} → {target} is not a legal change")

    def terminal(self, status: S | str) -> bool:
        return not any(targets for source, targets in self._next.items() if source == status)
