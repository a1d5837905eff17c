"""Imports every table so SQLModel's metadata is complete (Alembic and test set-up use it)."""

from booking.availability_models import AvailabilityException, BookingRules
from booking.models import Appointment, AvailabilityRule, Expert, Site
from core.accounts import LoginSession, StaffUser
from core.audit import AuditEvent
from core.two_factor import RecoveryCode
from core.units import OrgUnit
from hotline.casework_models import (
    Agency,
    CaseEvent,
    ChildFlag,
    HelpPlan,
    MandatoryReport,
    Referral,
    StaffAlert,
    Task,
)
from hotline.models import Call, CaseNumberCounter, ReferralCase
from hotline.voice_models import OperatorDuty, VoiceCall, VoiceOffer
from notifications.models import OutboxMessage, SmsOptOut
from reports.indexes import AGGREGATION_INDEXES
from reports.models import ReportDraft, ReportVersion

__all__ = [
    "AGGREGATION_INDEXES",
    "Agency",
    "Appointment",
    "AuditEvent",
    "AvailabilityException",
    "AvailabilityRule",
    "BookingRules",
    "Call",
    "CaseEvent",
    "CaseNumberCounter",
    "ChildFlag",
    "Expert",
    "HelpPlan",
    "LoginSession",
    "MandatoryReport",
    "OperatorDuty",
    "OrgUnit",
    "OutboxMessage",
    "RecoveryCode",
    "Referral",
    "ReferralCase",
    "ReportDraft",
    "ReportVersion",
    "Site",
    "SmsOptOut",
    "StaffAlert",
    "StaffUser",
    "Task",
    "VoiceCall",
    "VoiceOffer",
]
