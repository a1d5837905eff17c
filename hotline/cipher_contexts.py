"""The associated-data context of every encrypted field of case work, in one place.

`core.privacy.FieldCipher` binds a context to each ciphertext, so a value decrypts only with the context
it was written with: a reason pasted into the feedback column, or into another table, does not decrypt.
Writers and readers of a field must therefore agree on its context; they import it from here.

The first four already have a home (`hotline.intake`, `hotline.case_events`, `hotline.alerts`) and are
repeated here, as plain strings so this module imports nothing; tests/test_demo_quarter.py checks that
the two spellings agree.
"""

from __future__ import annotations

__all__ = [
    "AGENCY_CONTACT_NAME",
    "AGENCY_CONTACT_PHONE",
    "CALL_CALLER_PHONE",
    "CALL_SUMMARY",
    "CASE_CHILD_NAME",
    "CASE_CLOSING_SUMMARY",
    "CASE_RISK_REASON",
    "EVENT_TEXT",
    "HELP_PLAN_MEASURES",
    "MANDATORY_REPORT_POLICE_RESPONSE",
    "REFERRAL_DECLINE_REASON",
    "REFERRAL_FEEDBACK",
    "REFERRAL_REASON",
    "REFERRAL_REQUEST",
    "STAFF_MOBILE",
    "TASK_NOTE",
    "VOICE_ANSWER_PHONE",
    "VOICE_CALLER_PHONE",
]

# Calls (hotline.intake.SUMMARY_CONTEXT, CALLER_PHONE_CONTEXT)
CALL_SUMMARY = "hotline_call.summary"
CALL_CALLER_PHONE = "hotline_call.caller_phone"
# Timeline entries (hotline.case_events.EVENT_TEXT_CONTEXT)
EVENT_TEXT = "case_event.text"
# Staff mobiles for alerts (hotline.alerts.MOBILE_CONTEXT)
STAFF_MOBILE = "staff_user.mobile"

# The case: triage, the child, closure
CASE_RISK_REASON = "referral_case.risk_reason"
CASE_CHILD_NAME = "referral_case.child_name"
CASE_CLOSING_SUMMARY = "referral_case.closing_summary"
# Agencies' contacts
AGENCY_CONTACT_NAME = "agency.contact_name"
AGENCY_CONTACT_PHONE = "agency.contact_phone"
# Referrals: what the operator wrote, what the agency answered
REFERRAL_REASON = "referral.reason"
REFERRAL_REQUEST = "referral.request"
REFERRAL_FEEDBACK = "referral.feedback"
REFERRAL_DECLINE_REASON = "referral.decline_reason"
# Mandatory reports, help plans, tasks
MANDATORY_REPORT_POLICE_RESPONSE = "mandatory_report.police_response"
HELP_PLAN_MEASURES = "help_plan.measures"
TASK_NOTE = "case_task.note"
# Voice intake: the caller's number on a call Twilio brought us; the phone an operator answers on
VOICE_CALLER_PHONE = "voice_call.caller_phone"
VOICE_ANSWER_PHONE = "operator_duty.answer_phone"
