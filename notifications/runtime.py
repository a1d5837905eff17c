"""PLACEHOLDER until the notifications runtime lands: builds the dispatcher and sender from settings."""

from __future__ import annotations

from typing import Any


class NotificationRuntime:
    def __init__(self) -> None:
        self.dispatcher = None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def build_runtime(settings: Any, sessionmaker: Any, cipher: Any, sender: Any = None) -> NotificationRuntime:
    return NotificationRuntime()
