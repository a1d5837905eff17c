"""The vocabularies of case work after intake: risk, the child's circumstances, mandatory reports,
agencies, referrals, tasks and the supervision lights, with the legal status changes of each.

Codes are stored; labels are English gettext ids translated on display (zh_Hans first).
"""

from __future__ import annotations

from enum import StrEnum

from core.i18n import N_
from core.transitions import Transitions

__all__ = [
    "AGENCY_KINDS",
    "CASE_OUTCOMES",
    "CHILD_FLAGS",
    "CHILD_SEXES",
    "FOUR_LOSSES",
    "LIGHTS",
    "MANDATORY_REPORT_CATEGORIES",
    "MANDATORY_REPORT_SITUATIONS",
    "REFERRAL_STATUSES",
    "REFERRAL_TRANSITIONS",
    "REPORT_CHANNELS",
    "RISK_LEVELS",
    "SATISFACTION",
    "SCHOOL_STAGES",
    "TASK_KINDS",
    "TASK_STATUSES",
    "TASK_TRANSITIONS",
    "Light",
    "MandatoryReportStatus",
    "ReferralStatus",
    "RiskLevel",
    "TaskKind",
    "TaskStatus",
]


class RiskLevel(StrEnum):
    """The operator's judgement of the child's risk (分级), apart from how urgent one call was."""

    UNASSESSED = "unassessed"
    LOW = "low"  # 低
    MEDIUM = "medium"  # 中
    HIGH = "high"  # 高
    CRITICAL = "critical"  # 紧急


RISK_LEVELS: dict[str, str] = {
    RiskLevel.UNASSESSED: N_("Not assessed"),
    RiskLevel.LOW: N_("Low"),
    RiskLevel.MEDIUM: N_("Medium"),
    RiskLevel.HIGH: N_("High"),
    RiskLevel.CRITICAL: N_("Critical"),
}

# 四失 minors (DOMAIN.md), then the other hardship statuses recorded on the child.
FOUR_LOSSES: dict[str, str] = {
    "lost_family_care": N_("Lost family care (失亲)"),
    "out_of_school": N_("Out of school (失学)"),
    "unsupervised": N_("Unsupervised (失管)"),
    "offended": N_("Has offended (失足)"),
}
CHILD_FLAGS: dict[str, str] = {
    **FOUR_LOSSES,
    "left_behind": N_("Left-behind child (留守)"),
    "hardship": N_("Child in hardship (困境)"),
    "disability": N_("Disability (残疾)"),
}

CHILD_SEXES: dict[str, str] = {"female": N_("Girl"), "male": N_("Boy"), "unknown": N_("Not known")}

SCHOOL_STAGES: dict[str, str] = {
    "preschool": N_("Pre-school"),
    "primary": N_("Primary school"),
    "junior": N_("Junior secondary"),
    "senior": N_("Senior secondary"),
    "vocational": N_("Vocational school"),
    "not_in_school": N_("Not in school"),
    "unknown": N_("Not known"),
}

CASE_OUTCOMES: dict[str, str] = {
    "resolved": N_("Resolved"),
    "referred_on": N_("Handed to an agency that carries it on"),
    "advice_given": N_("Advice given, no further action needed"),
    "no_contact": N_("Caller could not be reached again"),
    "withdrawn": N_("Caller withdrew the request"),
}

SATISFACTION: dict[str, str] = {
    "satisfied": N_("Satisfied"),
    "mostly_satisfied": N_("Mostly satisfied"),
    "dissatisfied": N_("Dissatisfied"),
}


# ---- Mandatory reports (强制报告) ----


class MandatoryReportStatus(StrEnum):
    PENDING = "pending"  # the duty exists, the report to the police is not yet recorded
    RECORDED = "recorded"  # who reported to which police unit, how, when, with what receipt


# The situations of art. 4 of the 2020 opinion on mandatory reporting (DOMAIN-SOURCES §2); ticking any
# of them on a call creates the report record.
MANDATORY_REPORT_SITUATIONS: dict[str, str] = {
    "genital_injury": N_("Injury to the genitals or private parts"),
    "girl_under_14_sexual": N_("Girl under 14: sexual assault, pregnancy or abortion"),
    "girl_14_plus_assault_pregnancy": N_("Girl 14 or older: pregnancy or abortion after assault"),
    "multiple_injuries": N_("Multiple injuries, severe malnutrition or confusion, suspected abuse"),
    "suicide_self_harm_poisoning": N_("Injury or death by suicide, self-harm or poisoning"),
    "abandoned": N_("Abandoned or long left without care"),
    "missing_trafficked": N_("Missing or trafficked"),
    "organised_begging": N_("Organised begging"),
    "other_serious_harm": N_("Other serious harm or danger now (suspected infringement)"),
}

# Categories that by themselves indicate a minor harmed or in danger: a call in one of these opens the
# report record even when no situation is ticked.
MANDATORY_REPORT_CATEGORIES = frozenset({"violence", "sexual_abuse", "guardianship"})

REPORT_CHANNELS: dict[str, str] = {
    "phone_110": N_("Telephone 110"),
    "police_station_phone": N_("Telephone to the local police station"),
    "visit": N_("In person at the police station"),
    "letter": N_("Letter or written referral"),
    "online": N_("Police online reporting platform"),
}


# ---- Agencies and referrals (转介) ----

AGENCY_KINDS: dict[str, str] = {
    "police": N_("Public security (公安)"),
    "procuratorate": N_("Procuratorate (检察院)"),
    "court": N_("Court (法院)"),
    "civil_affairs": N_("Civil affairs (民政)"),
    "education": N_("Education (教育)"),
    "health": N_("Health commission (卫健)"),
    "justice": N_("Justice bureau (司法)"),
    "womens_federation": N_("Women's federation (妇联)"),
    "youth_league": N_("Youth league (团委)"),
    "disabled_federation": N_("Disabled persons' federation (残联)"),
    "school": N_("School"),
    "community": N_("Community or child director (儿童主任)"),
    "hospital": N_("Hospital or mental-health service"),
    "other": N_("Other"),
}


class ReferralStatus(StrEnum):
    SENT = "sent"  # the agency has the link; nobody there has signed for it yet
    ACKNOWLEDGED = "acknowledged"  # 签收
    FEEDBACK = "feedback"  # 反馈: the agency said what it did; the operator reads it
    RETURNED = "returned"  # the operator asked the agency for more
    CLOSED = "closed"  # the operator accepted the feedback
    DECLINED = "declined"  # the agency will not take it, with a reason
    REVOKED = "revoked"  # a supervisor withdrew it


REFERRAL_STATUSES: dict[str, str] = {
    ReferralStatus.SENT: N_("Sent, not yet acknowledged"),
    ReferralStatus.ACKNOWLEDGED: N_("Acknowledged by the agency"),
    ReferralStatus.FEEDBACK: N_("Feedback received"),
    ReferralStatus.RETURNED: N_("Returned to the agency for more"),
    ReferralStatus.CLOSED: N_("Closed"),
    ReferralStatus.DECLINED: N_("Declined by the agency"),
    ReferralStatus.REVOKED: N_("Revoked"),
}

_R = ReferralStatus
REFERRAL_TRANSITIONS = Transitions(
    "referral",
    {
        _R.SENT: {_R.ACKNOWLEDGED, _R.DECLINED, _R.REVOKED},
        _R.ACKNOWLEDGED: {_R.FEEDBACK, _R.DECLINED, _R.REVOKED},
        _R.FEEDBACK: {_R.CLOSED, _R.RETURNED},
        _R.RETURNED: {_R.FEEDBACK, _R.DECLINED, _R.REVOKED},
    },
)


# ---- Tasks (回访, checks, reviews) ----


class TaskKind(StrEnum):
    CALLBACK = "callback"  # high or critical risk: call back within 24 hours
    REFERRAL_CHECK = "referral_check"  # a referral's feedback is due
    SATISFACTION = "satisfaction"  # after closure: 满意度回访 within 7 days
    PLAN_REVIEW = "plan_review"  # a help plan's review date
    MANUAL = "manual"  # written by hand


TASK_KINDS: dict[str, str] = {
    TaskKind.CALLBACK: N_("Call back"),
    TaskKind.REFERRAL_CHECK: N_("Check the referral's feedback"),
    TaskKind.SATISFACTION: N_("Satisfaction follow-up"),
    TaskKind.PLAN_REVIEW: N_("Review the help plan"),
    TaskKind.MANUAL: N_("Task"),
}


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"  # no longer needed (its referral closed, its case reopened…)


TASK_STATUSES: dict[str, str] = {
    TaskStatus.OPEN: N_("Open"),
    TaskStatus.DONE: N_("Done"),
    TaskStatus.CANCELLED: N_("Cancelled"),
}

TASK_TRANSITIONS = Transitions("task", {TaskStatus.OPEN: {TaskStatus.DONE, TaskStatus.CANCELLED}})


# ---- Supervision lights (亮灯) ----


class Light(StrEnum):
    GREEN = "green"  # on time
    AMBER = "amber"  # due within the warning window
    RED = "red"  # overdue


LIGHTS: dict[str, str] = {
    Light.GREEN: N_("On time"),
    Light.AMBER: N_("Due soon"),
    Light.RED: N_("Overdue"),
}
