"""How the application puts the areas together. `serve`, `worker` and arq's own CLI all come through
here, so whatever an area registers (its routes, its checks before an SMS goes out) is registered for
every way the service can be started, and nothing depends on which modules happen to be imported."""

from __future__ import annotations

from typing import Any

from arq.cron import CronJob, cron
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.account_pages import AccountPages
from app.admin_pages import AuditLog, StaffAdministration, UnitAdministration
from app.pages import Probes, SitePages
from booking.messages import register_send_checks as booking_send_checks
from booking.routes import router as booking_router
from core.db import AsyncSession
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.red_alerts import alert_newly_red
from hotline.routes import router as hotline_router
from hotline.supervision_routes import router as supervision_router
from hotline.voice_callback_routes import CallbackPages
from hotline.voice_dispatch import sweep as voice_sweep
from hotline.voice_routes import router as voice_console_router
from hotline.voice_webhooks import VoiceWebhooks
from notifications.jobs import SmsJobDeps
from notifications.outbox import SendChecks
from notifications.routes import router as notifications_router
from notifications.runtime import NotificationRuntime, build_runtime
from notifications.sms import SmsSender
from notifications.voice_calls_api import build_voice_api
from notifications.worker import SmsWorker
from notifications.worker import worker_settings as notifications_worker_settings
from reports.reminders import remind_unsigned_reports
from reports.routes import router as reports_router

__all__ = [
    "LIGHTS_JOB",
    "REPORT_REMINDER_JOB",
    "VOICE_SWEEP_JOB",
    "check_lights",
    "cron_jobs",
    "notification_runtime",
    "route_handlers",
    "send_checks",
    "sms_worker",
    "sweep_voice_queue",
    "worker_settings",
]

LIGHTS_JOB = "check_lights"
VOICE_SWEEP_JOB = "sweep_voice_queue"
REPORT_REMINDER_JOB = "remind_unsigned_reports"


def route_handlers() -> list[ControllerRouterHandler]:
    """One Router per area, beside the site-wide pages and probes."""
    return [
        SitePages,
        AccountPages,
        StaffAdministration,
        UnitAdministration,
        AuditLog,
        Probes,
        hotline_router,
        supervision_router,
        booking_router,
        notifications_router,
        voice_console_router,
        VoiceWebhooks,
        CallbackPages,
        reports_router,
    ]


def send_checks() -> SendChecks:
    """The checks every SMS passes just before it is sent, as each area registers them."""
    checks = SendChecks()
    booking_send_checks(checks)
    return checks


def notification_runtime(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    sender: SmsSender | None = None,
) -> NotificationRuntime:
    """The web process's side of notifications, dispatching what its own sessions commit."""
    return build_runtime(settings, sessionmaker, cipher, send_checks(), sender=sender)


async def check_lights(ctx: dict[str, Any]) -> int:
    """The worker's periodic job: alert owners and supervisors of what has just turned red, once
    (hotline.red_alerts), through the worker's own database sessions."""
    deps: SmsJobDeps = ctx["sms"]
    return await alert_newly_red(deps.sessionmaker, deps.settings, deps.cipher)


async def sweep_voice_queue(ctx: dict[str, Any]) -> int:
    """The worker's safety net for the voice queue (hotline.voice_dispatch.sweep): waiting calls offered,
    calls past the voicemail wait sent there, even when an event was missed."""
    deps: SmsJobDeps = ctx["sms"]
    api = build_voice_api(deps.settings)
    try:
        return await voice_sweep(deps.sessionmaker, deps.settings, deps.cipher, api)
    finally:
        if api is not None:
            await api.aclose()


async def remind_reports(ctx: dict[str, Any]) -> int:
    """The worker's daily job: remind supervisors of a report falling due unsigned (reports.reminders)."""
    deps: SmsJobDeps = ctx["sms"]
    return await remind_unsigned_reports(deps.sessionmaker, deps.settings, deps.cipher)


def _every(seconds: int) -> dict[str, set[int]]:
    """arq's cron fields for "every `seconds`": seconds within a minute below 60, else minutes within an
    hour (an interval that does not divide the minute or hour is rounded to one that does)."""
    if seconds < 60:
        step = max(seconds, 1)
        return {"second": set(range(0, 60, step))}
    step = min(max(seconds // 60, 1), 60)
    return {"minute": set(range(0, 60, step)), "second": {0}}


def cron_jobs(settings: Settings) -> list[CronJob]:
    """What the worker runs on a clock, beside sending. The lights check also runs as the worker starts:
    what turned red while no worker ran is alerted at once, not at the next tick."""
    return [
        cron(
            check_lights,
            name=LIGHTS_JOB,
            run_at_startup=True,
            timeout=max(settings.lights_check_seconds, 60),
            **_every(settings.lights_check_seconds),  # type: ignore[arg-type]
        ),
        cron(
            sweep_voice_queue,
            name=VOICE_SWEEP_JOB,
            timeout=max(settings.voice_sweep_seconds, 60),
            **_every(settings.voice_sweep_seconds),  # type: ignore[arg-type]
        ),
        # 01:00 UTC is 09:00 in Shanghai: the reminder arrives at the start of a working day.
        cron(remind_reports, name=REPORT_REMINDER_JOB, hour={1}, minute={0}, second={0}, run_at_startup=True),
    ]


def worker_settings(settings: Settings, *, sender: SmsSender | None = None) -> dict[str, Any]:
    """Keyword arguments for arq's Worker, as `arq app.worker.WorkerSettings` runs it; `sms_worker` runs
    arq on the same settings."""
    return notifications_worker_settings(
        settings, send_checks(), sender=sender, cron_jobs=cron_jobs(settings)
    )


def sms_worker(settings: Settings, *, sender: SmsSender | None = None) -> SmsWorker:
    """`family-hotline worker`: arq on `worker_settings`, kept running through Redis outages."""
    return SmsWorker(settings, send_checks(), sender=sender, cron_jobs=cron_jobs(settings))
