"""The referrals section of the case page (hotline.case_sections): the case's referrals with their
lights and feedback, the form to refer, and the steps the viewer may take."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.i18n import gettext
from hotline.agencies import list_agencies
from hotline.case_terms import AGENCY_KINDS, CHILD_SEXES, LIGHTS, REFERRAL_STATUSES, SCHOOL_STAGES
from hotline.referrals import case_referrals
from hotline.section_context import SectionContext

__all__ = ["referral_vocabularies", "referrals_section"]


def referral_vocabularies() -> dict[str, Any]:
    """Labels the referral templates translate, as functions so unknown codes are escaped as text."""

    def translated(vocabulary: dict[str, str]) -> Any:
        return lambda code: gettext(vocabulary[code]) if code in vocabulary else (code or "")

    return {
        "referral_status_label": translated(REFERRAL_STATUSES),
        "agency_kind_label": translated(AGENCY_KINDS),
        "light_label": translated(LIGHTS),
        "sex_label": translated(CHILD_SEXES),
        "school_stage_label": translated(SCHOOL_STAGES),
        "agency_kind_choices": [(code, gettext(text)) for code, text in AGENCY_KINDS.items()],
    }


async def referrals_section(context: SectionContext) -> dict[str, Any]:
    referrals = await case_referrals(
        context.session,
        context.cipher,
        case=context.case,
        viewer=context.viewer,
        now=context.now,
        amber=timedelta(hours=context.settings.light_amber_hours),
    )
    agencies = await list_agencies(
        context.session, context.cipher, context.viewer, for_unit_id=context.case.unit_id
    )
    return {
        **referral_vocabularies(),
        "referrals": referrals,
        "referral_agencies": agencies,
        "referral_case_closed": context.case.status == "closed",
    }
