"""How a case's mandatory report reads: on the case page (a section, see hotline.case_sections) and in
the JSON API. Its state is one of none, pending, overdue (pending past its deadline) or recorded; a
pending report carries the supervision light of its deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.accounts import StaffUser
from core.db import AsyncSession
from core.i18n import gettext
from core.privacy import FieldCipher
from core.settings import Settings
from hotline.case_terms import MANDATORY_REPORT_SITUATIONS, REPORT_CHANNELS, Light, MandatoryReportStatus
from hotline.casework_models import MandatoryReport
from hotline.lights import light_of
from hotline.mandatory_reports import POLICE_RESPONSE_CONTEXT, report_for_case, situations_of
from hotline.section_context import SectionContext
from hotline.taxonomy import CaseStatus

__all__ = [
    "MandatoryReportView",
    "ReportState",
    "mandatory_report_section",
    "report_form_choices",
    "report_view",
]

ReportState = str  # "none" | "pending" | "overdue" | "recorded": the case page's data-mandatory-report


@dataclass(frozen=True)
class MandatoryReportView:
    state: ReportState
    light: str | None = None  # green | amber | red while pending; None otherwise
    trigger: str | None = None  # "category:<code>" or "ticked"
    situations: list[str] | None = None  # art. 4 codes
    opened_at: datetime | None = None
    due_at: datetime | None = None
    police_unit: str | None = None
    channel: str | None = None
    reported_at: datetime | None = None
    receipt_number: str | None = None
    police_response: str | None = None
    recorded_by: str | None = None  # the display name of who recorded it
    recorded_at: datetime | None = None


async def report_view(
    session: AsyncSession,
    cipher: FieldCipher,
    report: MandatoryReport | None,
    *,
    now: datetime,
    amber_window: timedelta,
) -> MandatoryReportView:
    """The report as a reader sees it (the police response decrypted: read only after an audited read
    of the case)."""
    if report is None:
        return MandatoryReportView(state="none")
    light: Light | None = None
    state: ReportState = MandatoryReportStatus.RECORDED.value
    if report.status == MandatoryReportStatus.PENDING:
        light = light_of(report.due_at, now, amber_window)
        state = "overdue" if light == Light.RED else MandatoryReportStatus.PENDING.value
    recorder = await session.get(StaffUser, report.recorded_by_id) if report.recorded_by_id else None
    return MandatoryReportView(
        state=state,
        light=light.value if light else None,
        trigger=report.trigger,
        situations=situations_of(report),
        opened_at=report.created_at,
        due_at=report.due_at,
        police_unit=report.police_unit,
        channel=report.channel,
        reported_at=report.reported_at,
        receipt_number=report.receipt_number,
        police_response=cipher.decrypt_optional(
            report.police_response_ciphertext, context=POLICE_RESPONSE_CONTEXT
        ),
        recorded_by=recorder.display_name if recorder else None,
        recorded_at=report.recorded_at,
    )


def report_form_choices(settings: Settings, now: datetime) -> dict[str, Any]:
    """What the report forms offer, in the reader's language; the time field starts at now, local."""
    local_now = now.astimezone(ZoneInfo(settings.site_timezone))
    return {
        "channels": [(code, gettext(text)) for code, text in REPORT_CHANNELS.items()],
        "situations": [(code, gettext(text)) for code, text in MANDATORY_REPORT_SITUATIONS.items()],
        "now_local": local_now.strftime("%Y-%m-%dT%H:%M"),
    }


async def mandatory_report_section(context: SectionContext) -> dict[str, Any]:
    """The case page's section: `templates/hotline/case_sections/mandatory_report.html` reads
    `mandatory_report` (the view, its labels and the form's choices)."""
    settings = context.settings
    view = await report_view(
        context.session,
        context.cipher,
        await report_for_case(context.session, context.case.id or 0),
        now=context.now,
        amber_window=timedelta(hours=settings.light_amber_hours),
    )
    choices = report_form_choices(settings, context.now)
    labels, channels = dict(choices["situations"]), dict(choices["channels"])
    return {
        "mandatory_report": {
            **choices,
            "view": view,
            "situation_labels": [labels.get(code, code) for code in view.situations or []],
            "channel_label": channels.get(view.channel or "", view.channel or ""),
            "case_closed": context.case.status == CaseStatus.CLOSED,
        }
    }
