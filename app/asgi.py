"""The application as uvicorn builds it in each web process: `uvicorn app.asgi:app_from_env --factory`.

`family-hotline serve` hands uvicorn this import string rather than an app object because with
`--workers N` uvicorn starts N fresh processes, and each must build its own app: database engines,
connection pools and the notification runtime belong to one process and one event loop.
"""

from __future__ import annotations

from litestar import Litestar

from app.process_logging import configure_logging
from app.server import create_app
from core.settings import Settings

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    # A worker process is spawned afresh: it has none of the command line's logging set-up.
    configure_logging()
    return create_app(Settings.from_env())
