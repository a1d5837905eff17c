"""Indexes for the figures' aggregations, declared here (beside the queries that need them) but on the
other areas' tables: each figure scans one unit-scoped time range, so `(unit_id, time)` lets the database
read only the period's rows of the units in scope. Imported by app.models so the metadata has them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index

from booking.models import Appointment
from hotline.casework_models import MandatoryReport, Referral, Task
from hotline.models import Call, ReferralCase
from hotline.voice_models import VoiceCall
from notifications.models import OutboxMessage

__all__ = ["AGGREGATION_INDEXES"]


def _columns(model: Any, *names: str) -> list[Any]:
    table = model.__table__
    return [table.c[name] for name in names]


AGGREGATION_INDEXES = (
    Index("ix_report_call_unit_received", *_columns(Call, "unit_id", "received_at")),
    Index("ix_report_case_unit_created", *_columns(ReferralCase, "unit_id", "created_at")),
    Index("ix_report_case_unit_closed", *_columns(ReferralCase, "unit_id", "closed_at")),
    Index("ix_report_referral_unit_sent", *_columns(Referral, "unit_id", "sent_at")),
    Index("ix_report_mandatory_report_unit_created", *_columns(MandatoryReport, "unit_id", "created_at")),
    Index("ix_report_task_unit_due", *_columns(Task, "unit_id", "due_at")),
    Index("ix_report_task_unit_done", *_columns(Task, "unit_id", "done_at")),
    Index("ix_report_appointment_expert_starts", *_columns(Appointment, "expert_id", "starts_at")),
    Index("ix_report_outbox_related", *_columns(OutboxMessage, "related_type", "created_at", "related_id")),
    Index("ix_report_voice_call_unit_ringing", *_columns(VoiceCall, "unit_id", "ringing_at")),
)
