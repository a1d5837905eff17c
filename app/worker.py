"""The worker's settings for arq's own command line: `arq app.worker.WorkerSettings`.

`family-hotline worker` is the usual way to start it; this module is for those who run arq directly (a
process manager, `arq --watch` while developing). Both get their settings from the same wiring, so both
register the same checks. Settings are read from the environment when arq imports this module.
"""

from __future__ import annotations

from app.wiring import worker_settings
from core.settings import Settings

__all__ = ["WorkerSettings"]

# arq reads its keyword arguments from a class's or a dict's items (`arq.worker.get_kwargs`).
WorkerSettings = worker_settings(Settings.from_env())
