"""How every process of the service logs: the command line's own process and each uvicorn worker."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging() -> None:
    """INFO and up to stderr with timestamps. A no-op when the process already has handlers, so the
    command line and the app factory may both call it."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic narrates every plugin it loads at INFO; the revisions it applies are what an admin needs.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
